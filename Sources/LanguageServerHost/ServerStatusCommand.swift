import Foundation
import JSONRPC
import LanguageServer

/// `idpbuild.serverStatus` (offered by the shared server): the sessions of this server process, so one editor or
/// script sees who else uses it. The result is `{"sessions": [{"id", "client", "connectedSeconds", "current"}]}`.
public struct ServerStatusCommand: ServerCommand {
    /// The command's identifier.
    public let name = "idpbuild.serverStatus"
    private let shared: SharedServerState

    /// Makes the command over the process's shared state.
    public init(shared: SharedServerState) {
        self.shared = shared
    }

    /// Lists the sessions (no arguments).
    public func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let now = Date()
        let sessions = await shared.sessions.list()
        return .object(["sessions": .array(sessions.map { session in
            .object(["id": .integer(session.id), "client": session.client.map { .string($0) } ?? .null,
                     "connectedSeconds": .integer(Int(now.timeIntervalSince(session.connected)))])
        })])
    }
}
