import Foundation
import JSONRPC
import Locking
import LSPTypes

/// A command the server runs for `workspace/executeCommand` (build commands plug in here).
///
/// The server lists every command's `name` in `executeCommandProvider`, decodes nothing itself and hands the
/// arguments over as sent; a command throws `ResponseError.invalidParams` (see `CommandContext.argument`) for
/// malformed arguments and returns its result as JSON. Cancellation (`$/cancelRequest` of the request, or
/// `window/workDoneProgress/cancel` of its progress) cancels the task running `run`.
public protocol ServerCommand: Sendable {
    /// The identifier, e.g. `idpbuild.build`.
    var name: String { get }
    /// Runs the command.
    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue
}

/// What a command can use: the client, the settings, the open documents and progress reporting.
public struct CommandContext: Sendable {
    /// The command's identifier.
    public let command: String
    /// The client (notifications, `workspace/applyEdit`, `workspace/configuration`).
    public let client: Client
    /// The settings when the command was requested.
    public let settings: ServerSettings
    /// What the client supports.
    public let capabilities: ClientCapabilities
    /// The position encoding.
    public let encoding: PositionEncodingKind
    /// The client's progress token for this request, if it sent one.
    public let workDoneToken: ProgressToken?
    let documents: DocumentStore
    let progress: ProgressRegistry
    let generation: Int
    /// Set by `beginProgress`: cancels the command's task.
    let cancelTask: @Sendable () -> Void
    /// The tokens this command registered for cancellation, unregistered by the server when it finishes.
    let registeredTokens = LockedValue<[ProgressToken]>([])

    /// The open document `uri` at its current version, or nil when it is not open.
    public func document(_ uri: String) async -> DocumentSnapshot? {
        await documents.snapshot(uri, settings: settings, generation: generation)
    }

    /// How long `beginProgress` waits for the client to accept a progress token.
    static let progressCreateTimeout = Duration.seconds(5)

    /// Starts work-done progress (see `ProgressReporter` for which token is used).
    public func beginProgress(title: String, cancellable: Bool, message: String? = nil) async -> ProgressReporter {
        var token = workDoneToken
        if token == nil && capabilities.workDoneProgress {
            let fresh = await progress.newToken()
            let client = self.client
            // The work waits for the answer (LSP: the token is usable once the client accepted it), but not forever:
            // a client that never answers gets the work without progress.
            let accepted = await withTaskGroup(of: Bool?.self) { group -> Bool? in
                group.addTask {
                    do throws(ResponseError) {
                        _ = try await client.send(CreateWorkDoneProgressRequest(token: fresh))
                        return true
                    } catch {
                        client.log.log(.warning, "the client refused a progress token (\(error.message)); continuing without progress")
                        return false
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: Self.progressCreateTimeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if accepted == true {
                token = fresh
            } else if accepted == nil {
                client.log.log(.warning, "the client did not answer window/workDoneProgress/create within \(Self.progressCreateTimeout); continuing without progress")
            }
        }
        let reporter = ProgressReporter(token: token, client: client)
        if let token {
            if cancellable {
                await progress.register(token, cancel: cancelTask)
                registeredTokens.withLock { $0.append(token) }
            }
            await reporter.begin(title: title, cancellable: cancellable, message: message)
        }
        return reporter
    }

    /// Stops routing `window/workDoneProgress/cancel` for the reporter's token to this command (the server also does
    /// this for every token when the command finishes).
    public func finishProgress(_ reporter: ProgressReporter) async {
        if let token = reporter.token { await progress.unregister(token) }
    }

    /// Decodes argument `index` as `type`; a missing or malformed argument is an `invalidParams` error naming it.
    public func argument<T: Decodable>(_ arguments: [JSONValue], _ index: Int, as type: T.Type) throws(ResponseError) -> T {
        guard index < arguments.count else {
            throw LanguageServerError.invalidArgument(command: command, detail: "argument \(index + 1) is missing").responseError
        }
        let payload = Payload(json: arguments[index].compactJSON, key: "arguments[\(index)]")
        do {
            return try payload.decode(T.self)
        } catch {
            throw LanguageServerError.invalidArgument(command: command, detail: error.message).responseError
        }
    }
}

extension JSONValue {
    /// Compact JSON text.
    var compactJSON: String { (try? String(decoding: JSONText.encoder().encode(self), as: UTF8.self)) ?? "null" }
}
