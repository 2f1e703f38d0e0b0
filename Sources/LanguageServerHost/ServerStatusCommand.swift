import Foundation
import JSONRPC
import LanguageServer

/// `idpbuild.serverStatus` (offered by the shared server): the sessions of this server process, so one editor or
/// script sees who else uses it, and the builds running for all of them. The result is
/// `{"sessions": [{"id", "client", "connectedSeconds"}], "builds": [{"dockerfilePath", "reference", "push", "step",
/// "totalSteps", "instruction", "runningSeconds"}]}`.
public struct ServerStatusCommand: ServerCommand {
    /// The command's identifier.
    public let name = "idpbuild.serverStatus"
    private let shared: SharedServerState
    private let builds: BuildCoordinator?

    /// Makes the command over the process's shared state and build coordinator.
    public init(shared: SharedServerState, builds: BuildCoordinator? = nil) {
        self.shared = shared
        self.builds = builds
    }

    /// Lists the sessions (no arguments).
    public func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let now = Date()
        let sessions = await shared.sessions.list()
        let running = await builds?.running ?? []
        return .object([
            "sessions": .array(sessions.map { session in
                .object(["id": .integer(session.id), "client": session.client.map { .string($0) } ?? .null,
                         "connectedSeconds": .integer(Int(now.timeIntervalSince(session.connected)))])
            }),
            "builds": .array(running.map { build in
                .object(["dockerfilePath": .string(build.dockerfilePath), "reference": .string(build.reference), "push": .bool(build.push),
                         "step": build.step.map { .integer($0) } ?? .null, "totalSteps": build.totalSteps.map { .integer($0) } ?? .null,
                         "instruction": build.instruction.map { .string($0) } ?? .null,
                         "runningSeconds": .integer(Int(now.timeIntervalSince(build.startedAt)))])
            }),
        ])
    }
}
