import Foundation
import JSONRPC

/// What can go wrong in the language server, each with a sentence saying what to do; sent to the client as a
/// JSON-RPC error (`responseError`) or logged when it concerns a notification.
public enum LanguageServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A request or change named a document that is not open.
    case documentNotOpen(uri: String)
    /// A change's range lies outside the document or ends before it starts.
    case invalidChange(uri: String, detail: String)
    /// `workspace/executeCommand` named a command the server does not have.
    case unknownCommand(String, available: [String])
    /// A command's argument has the wrong shape.
    case invalidArgument(command: String, detail: String)
    /// A build of this Dockerfile is already running (one build per Dockerfile).
    case buildAlreadyRunning(dockerfilePath: String, reference: String, startedAt: Date, sameSession: Bool)

    /// The sentence.
    public var description: String {
        switch self {
        case .documentNotOpen(let uri):
            return "\(uri) is not open on the server: send textDocument/didOpen before requests or changes for it"
        case .invalidChange(let uri, let detail):
            return "a change to \(uri) could not be applied (\(detail)); the server's copy may now differ from the editor's: close and reopen the document"
        case .unknownCommand(let command, let available):
            let list = available.isEmpty ? "this server offers no commands yet" : "available: " + available.joined(separator: ", ")
            return "unknown command \(JSONText.quoted(command)); \(list)"
        case .invalidArgument(let command, let detail):
            return "\(command): \(detail)"
        case let .buildAlreadyRunning(path, reference, startedAt, sameSession):
            let seconds = max(0, Int(Date().timeIntervalSince(startedAt)))
            let owner = sameSession ? "" : " (started from another editor session)"
            return "a build of \(path) (\(reference)) is already running for \(seconds) s\(owner); one build per Dockerfile: wait for it, or cancel it with idpbuild.cancelBuild \(JSONText.quoted(DocumentURI.uri(forPath: path)))"
        }
    }

    /// The JSON-RPC error for the client.
    public var responseError: ResponseError {
        switch self {
        case .documentNotOpen, .unknownCommand, .invalidArgument, .invalidChange:
            return .invalidParams(description)
        case .buildAlreadyRunning(let path, _, _, _):
            // LSP's RequestFailed: the request is well-formed, but cannot be carried out now.
            return ResponseError(code: ErrorCode.requestFailed, message: description,
                                 data: ["dockerfilePath": .string(path), "uri": .string(DocumentURI.uri(forPath: path))])
        }
    }
}
