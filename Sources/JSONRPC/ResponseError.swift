/// A JSON-RPC error object, and the one error type of this module: every failure (bad framing, bad JSON, unknown
/// method, wrong parameters, a cancelled request, a closed connection) is described by a code and a sentence.
public struct ResponseError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The error code (see `ErrorCode`).
    public var code: Int
    /// A sentence saying what failed and what to try.
    public var message: String
    /// Extra structured information, if any.
    public var data: JSONValue?

    /// Creates an error object.
    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The code and the message.
    public var description: String { "\(message) (JSON-RPC error \(code))" }

    /// -32700: the bytes are not a JSON message.
    public static func parseError(_ message: String) -> ResponseError { ResponseError(code: ErrorCode.parseError, message: message) }
    /// -32600: JSON that is not a valid request or notification.
    public static func invalidRequest(_ message: String) -> ResponseError { ResponseError(code: ErrorCode.invalidRequest, message: message) }
    /// -32601: no such method.
    public static func methodNotFound(_ method: String) -> ResponseError {
        ResponseError(code: ErrorCode.methodNotFound, message: "unknown method \(JSONText.quoted(shortened(method)))")
    }
    /// -32602: the parameters do not have the expected shape.
    public static func invalidParams(_ message: String) -> ResponseError { ResponseError(code: ErrorCode.invalidParams, message: message) }
    /// -32603: the server failed while handling a valid request.
    public static func internalError(_ message: String) -> ResponseError { ResponseError(code: ErrorCode.internalError, message: message) }
    /// -32002: a request arrived before `initialize`.
    public static func serverNotInitialized(_ method: String) -> ResponseError {
        ResponseError(code: ErrorCode.serverNotInitialized,
                      message: "the server is not initialized: send initialize before \(JSONText.quoted(shortened(method)))")
    }
    /// -32800: the request was cancelled (by `$/cancelRequest` or by the server shutting down).
    public static func requestCancelled(_ id: RequestID) -> ResponseError {
        ResponseError(code: ErrorCode.requestCancelled, message: "request \(id) was cancelled")
    }
    /// The connection closed before a response to a request sent to the other side arrived.
    public static func connectionClosed(_ method: String) -> ResponseError {
        ResponseError(code: ErrorCode.connectionClosed,
                      message: "the connection closed before the client answered \(JSONText.quoted(method))")
    }

    static func shortened(_ text: String) -> String {
        text.utf8.count <= 80 ? text : String(decoding: text.utf8.prefix(80), as: UTF8.self) + "…"
    }
}

/// The error codes of JSON-RPC 2.0 and the Language Server Protocol.
public enum ErrorCode {
    /// Invalid JSON was received.
    public static let parseError = -32700
    /// The JSON sent is not a valid request object.
    public static let invalidRequest = -32600
    /// The method does not exist or is not available.
    public static let methodNotFound = -32601
    /// Invalid method parameters.
    public static let invalidParams = -32602
    /// Internal JSON-RPC error.
    public static let internalError = -32603
    /// LSP: a request before `initialize`.
    public static let serverNotInitialized = -32002
    /// LSP: an error without a better code.
    public static let unknownErrorCode = -32001
    /// LSP: the request was cancelled.
    public static let requestCancelled = -32800
    /// LSP: the document changed so the result is no longer valid.
    public static let contentModified = -32801
    /// LSP: the request failed although its parameters were valid.
    public static let requestFailed = -32803
    /// idpbuild: the connection closed before the answer arrived (in the server-defined range -32099…-32000).
    public static let connectionClosed = -32099
}
