/// What a connection's owner does with the messages that arrive.
///
/// The connection calls `handle` in arrival order, one message at a time, so a handler can apply document changes
/// in order. A request's handler returns `RequestWork`: either the answer itself, or work that the connection runs
/// concurrently and cancels when `$/cancelRequest` names the request.
public protocol MessageHandler: Sendable {
    /// Handles a request in order; the returned work produces its result.
    func handle(_ request: RequestMessage, on connection: Connection) async -> RequestWork
    /// Handles a notification in order.
    func handle(_ notification: NotificationMessage, on connection: Connection) async
    /// Called when every message received so far has been handled (the moment to coalesce queued work).
    func connectionDidDrainQueue(_ connection: Connection) async
    /// Called once when reading has stopped (end of input, `close()`, or a failed output), before the connection waits
    /// for the requests still being worked on: the moment to cancel long work nobody will wait for.
    func connectionWillEnd(_ connection: Connection, reason: EndReason) async
}

extension MessageHandler {
    /// Does nothing.
    public func connectionDidDrainQueue(_ connection: Connection) async {}
    /// Does nothing.
    public func connectionWillEnd(_ connection: Connection, reason: EndReason) async {}
}

/// How a request is answered: now, or by work that runs concurrently with later messages.
public struct RequestWork: Sendable {
    enum Kind: Sendable {
        case immediate(Result<JSONFragment, ResponseError>)
        case deferred(@Sendable () async throws -> JSONFragment)
    }

    let kind: Kind

    /// Answers with `result` now.
    public static func reply(_ result: JSONFragment) -> RequestWork { RequestWork(kind: .immediate(.success(result))) }
    /// Answers with an error now.
    public static func fail(_ error: ResponseError) -> RequestWork { RequestWork(kind: .immediate(.failure(error))) }
    /// Answers with what `body` returns; a thrown `ResponseError` is sent as is, a `CancellationError` as -32800.
    public static func run(_ body: @escaping @Sendable () async throws -> JSONFragment) -> RequestWork {
        RequestWork(kind: .deferred(body))
    }
}

/// Why `Connection.run` returned.
public enum EndReason: Sendable, Equatable {
    /// The input ended between messages.
    case endOfInput
    /// The input ended in the middle of a message (the client vanished).
    case endOfInputInsideMessage
    /// `close()` was called.
    case closed
    /// Writing to the output failed (the client stopped reading); the text says why.
    case outputFailed(String)
}
