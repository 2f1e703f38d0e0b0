import JSONRPC
import LSPTypes

/// The client as the server sees it: typed notifications and server-to-client requests over the connection.
public struct Client: Sendable {
    let connection: Connection
    let log: ServerLog

    /// Sends a notification.
    public func send<Notification: LSPNotification>(_ notification: Notification) {
        connection.send(notification: Notification.method, notification)
    }

    /// Sends a request to the client and decodes its answer.
    public func send<Request: LSPRequest>(_ request: Request) async throws(ResponseError) -> Request.Response {
        let params = try JSONFragment(encoding: request)
        let payload = try await connection.send(request: Request.method, params: params)
        return try payload.decode(Request.Response.self)
    }

    /// Sends a request without parameters (the `…/refresh` requests) and waits for the answer.
    public func sendWithoutParameters<Request: LSPRequest>(_ type: Request.Type) async throws(ResponseError) {
        _ = try await connection.send(request: Request.method, params: nil)
    }

    /// Shows a message to the user (`window/showMessage`).
    public func showMessage(_ type: MessageType, _ message: String) {
        send(ShowMessageNotification(type: type, message: message))
    }

    /// Adds a line to the client's log (`window/logMessage`).
    public func logMessage(_ type: MessageType, _ message: String) {
        send(LogMessageNotification(type: type, message: message))
    }
}
