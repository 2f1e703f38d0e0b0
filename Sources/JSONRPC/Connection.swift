import Foundation
import Locking
#if canImport(Glibc)
import Glibc
#endif

/// A JSON-RPC 2.0 connection over two file descriptors with LSP framing.
///
/// A reader thread frames and classifies incoming bytes; responses to this side's requests and `$/cancelRequest`
/// are handled there at once, everything else is handed to the handler in order. A writer thread owns the output.
public final class Connection: @unchecked Sendable {
    private enum Queued: Sendable {
        case request(RequestMessage)
        case notification(NotificationMessage)
    }

    /// An incoming request being worked on; mutated only under `state`'s lock.
    private final class Inflight: @unchecked Sendable {
        var task: Task<Void, Never>?
        var cancelled = false
    }

    private struct State {
        var nextOutgoingID = 0
        var pendingOutgoing: [RequestID: (method: String, continuation: CheckedContinuation<Payload, any Error>)] = [:]
        var inflight: [RequestID: Inflight] = [:]
        var queuedRequestIDs: Set<RequestID> = []
        var cancelledWhileQueued: Set<RequestID> = []
        var queued = 0
        var endReason: EndReason?
    }

    private let input: Int32
    private let maximumMessageSize: Int
    private let log: @Sendable (String) -> Void
    private let state = LockedValue(State())
    private let writer: OutputWriter
    private let wakePipe: (read: Int32, write: Int32)
    private let readerDone = DispatchSemaphore(value: 0)

    /// Creates a connection reading `input` and writing `output`; `log` receives lines for the server's log.
    public init(input: Int32, output: Int32, maximumMessageSize: Int = 16 << 20,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.input = input
        self.maximumMessageSize = maximumMessageSize
        self.log = log
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { fds = [-1, -1] }
        wakePipe = (fds[0], fds[1])
        let state = self.state
        let wake = fds[1]
        writer = OutputWriter(descriptor: output) { problem in
            log("cannot write to the client (\(problem)); closing the connection")
            state.withLock { if $0.endReason == nil { $0.endReason = .outputFailed(problem) } }
            var byte: UInt8 = 1
            _ = Glibc.write(wake, &byte, 1)
        }
    }

    deinit {
        if wakePipe.read >= 0 {
            Glibc.close(wakePipe.read)
            Glibc.close(wakePipe.write)
        }
    }

    /// Reads and dispatches messages until the input ends, `close()` is called or the output fails.
    ///
    /// When the input ends, requests still being worked on are answered before this returns; after `close()` they
    /// are cancelled. Everything queued for output is written before this returns.
    public func run(_ handler: some MessageHandler) async -> EndReason {
        let (stream, continuation) = AsyncStream<Queued>.makeStream()
        let reader = Thread { [self] in
            readLoop(continuation)
            readerDone.signal()
        }
        reader.name = "jsonrpc-reader"
        reader.start()

        for await item in stream {
            if state.withLock({ $0.endReason == .closed }) { break }
            switch item {
            case .request(let request):
                await dispatch(request, handler)
            case .notification(let notification):
                await handler.handle(notification, on: self)
            }
            let drained = state.withLock { state -> Bool in
                state.queued -= 1
                return state.queued == 0 && state.endReason != .closed
            }
            if drained { await handler.connectionDidDrainQueue(self) }
        }

        let reason = state.withLock { $0.endReason ?? .closed }
        await handler.connectionWillEnd(self, reason: reason)
        let tasks = state.withLock { $0.inflight.values.compactMap(\.task) }
        // No answer to this side's requests can arrive any more; new ones fail at once (endReason is set).
        let pending = state.withLock { state -> [(String, CheckedContinuation<Payload, any Error>)] in
            defer { state.pendingOutgoing = [:] }
            return state.pendingOutgoing.values.map { ($0.method, $0.continuation) }
        }
        for (method, continuation) in pending { continuation.resume(throwing: ResponseError.connectionClosed(method)) }
        if reason != .endOfInput && reason != .endOfInputInsideMessage {
            tasks.forEach { $0.cancel() }
        }
        for task in tasks { await task.value }
        wake()
        readerDone.wait()
        await writer.flush()
        writer.stop()
        return reason
    }

    /// Stops reading; `run` returns once the message being handled is done.
    public func close() {
        state.withLock { if $0.endReason == nil { $0.endReason = .closed } }
        wake()
    }

    /// Waits until every request being worked on has been answered (for `shutdown`, which LSP answers last).
    public func finishInflightRequests() async {
        let tasks = state.withLock { $0.inflight.values.compactMap(\.task) }
        for task in tasks { await task.value }
    }

    /// Waits until every message sent so far has been written.
    public func flush() async {
        await writer.flush()
    }

    /// Sends a notification.
    public func send(notification method: String, params: JSONFragment?) {
        var data = Data(#"{"jsonrpc":"2.0","method":"#.utf8)
        data.append(Data(JSONText.quoted(method).utf8))
        if let params {
            data.append(Data(#","params":"#.utf8))
            data.append(params.data)
        }
        data.append(UInt8(ascii: "}"))
        writer.enqueue(Framing.frame(data))
    }

    /// Sends a notification with encodable params (an encoding failure is logged, nothing is sent).
    public func send<Params: Encodable>(notification method: String, _ params: Params) {
        do {
            send(notification: method, params: try JSONFragment(encoding: params))
        } catch {
            log("not sending \(method): \(error)")
        }
    }

    /// Sends a request to the other side and waits for its response.
    ///
    /// Cancelling the calling task sends `$/cancelRequest` and throws a -32800 error; a closed connection throws
    /// `connectionClosed`; an error response is thrown as it came.
    public func send(request method: String, params: JSONFragment?) async throws(ResponseError) -> Payload {
        let id = state.withLock { state -> RequestID in
            state.nextOutgoingID += 1
            return .number(state.nextOutgoingID)
        }
        var data = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
        data.append(Data(id.description.utf8))
        data.append(Data(#","method":"#.utf8))
        data.append(Data(JSONText.quoted(method).utf8))
        if let params {
            data.append(Data(#","params":"#.utf8))
            data.append(params.data)
        }
        data.append(UInt8(ascii: "}"))
        let message = Framing.frame(data)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Payload, any Error>) in
                    let accepted = state.withLock { state -> Bool in
                        guard state.endReason == nil else { return false }
                        state.pendingOutgoing[id] = (method, continuation)
                        return true
                    }
                    guard accepted else {
                        continuation.resume(throwing: ResponseError.connectionClosed(method))
                        return
                    }
                    if Task.isCancelled {
                        abandon(id)
                        return
                    }
                    writer.enqueue(message)
                }
            } onCancel: {
                abandon(id)
            }
        } catch let error as ResponseError {
            throw error
        } catch {
            throw ResponseError.requestCancelled(id)
        }
    }

    /// Gives up waiting for the answer to an outgoing request, telling the other side.
    private func abandon(_ id: RequestID) {
        guard let pending = state.withLock({ $0.pendingOutgoing.removeValue(forKey: id) }) else { return }
        pending.continuation.resume(throwing: ResponseError.requestCancelled(id))
        send(notification: "$/cancelRequest", params: JSONFragment(rawJSON: Data(#"{"id":\#(id.description)}"#.utf8)))
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakePipe.write, &byte, 1)
    }

    // MARK: Dispatch

    private func dispatch(_ request: RequestMessage, _ handler: some MessageHandler) async {
        let id = request.id
        let start = state.withLock { state -> DispatchStart in
            state.queuedRequestIDs.remove(id)
            if state.cancelledWhileQueued.remove(id) != nil { return .cancelled }
            if state.inflight[id] != nil { return .duplicate }
            let entry = Inflight()
            state.inflight[id] = entry
            return .go(entry)
        }
        let entry: Inflight
        switch start {
        case .cancelled:
            respond(id, .failure(.requestCancelled(id)))
            return
        case .duplicate:
            respond(id, .failure(.invalidRequest("request id \(id) is already in use by a request in progress; use a new id")))
            return
        case .go(let inflight):
            entry = inflight
        }
        let work = await handler.handle(request, on: self)
        switch work.kind {
        case .immediate(let result):
            state.withLock { _ = $0.inflight.removeValue(forKey: id) }
            respond(id, result)
        case .deferred(let body):
            let task = Task { [self] in
                let result: Result<JSONFragment, ResponseError>
                do {
                    result = .success(try await body())
                } catch let error as ResponseError {
                    result = .failure(error)
                } catch is CancellationError {
                    result = .failure(.requestCancelled(id))
                } catch {
                    result = .failure(.internalError("\(request.method) failed: \(error)"))
                }
                state.withLock { _ = $0.inflight.removeValue(forKey: id) }
                respond(id, result)
            }
            state.withLock { _ in
                entry.task = task
                if entry.cancelled { task.cancel() }
            }
        }
    }

    private enum DispatchStart { case cancelled, duplicate, go(Inflight) }

    private func respond(_ id: RequestID?, _ result: Result<JSONFragment, ResponseError>) {
        var data = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
        data.append(Data((id?.description ?? "null").utf8))
        switch result {
        case .success(let fragment):
            data.append(Data(#","result":"#.utf8))
            data.append(fragment.data)
        case .failure(let error):
            data.append(Data(#","error":"#.utf8))
            data.append((try? JSONText.encoder().encode(error)) ?? Data(#"{"code":-32603,"message":"internal error"}"#.utf8))
        }
        data.append(UInt8(ascii: "}"))
        writer.enqueue(Framing.frame(data))
    }

    // MARK: Reading

    private func readLoop(_ continuation: AsyncStream<Queued>.Continuation) {
        var decoder = FrameDecoder(maximumMessageSize: maximumMessageSize)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var reason: EndReason?
        while reason == nil {
            var fds = [pollfd(fd: input, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                reason = .endOfInput
                break
            }
            if fds[1].revents != 0 || state.withLock({ $0.endReason != nil }) {
                break
            }
            guard fds[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                log("cannot read from the client: \(String(cString: strerror(errno)))")
                reason = decoder.isBetweenMessages ? .endOfInput : .endOfInputInsideMessage
            } else if count == 0 {
                reason = decoder.isBetweenMessages ? .endOfInput : .endOfInputInsideMessage
                if reason == .endOfInputInsideMessage { log("the client closed its output in the middle of a message") }
            } else {
                buffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                while let event = decoder.next() { handle(event, continuation) }
            }
        }
        if let reason { state.withLock { if $0.endReason == nil { $0.endReason = reason } } }
        continuation.finish()
    }

    private func handle(_ event: FrameDecoder.Event, _ continuation: AsyncStream<Queued>.Continuation) {
        switch event {
        case .message(let body):
            switch MessageDecoding.decode(body) {
            case .request(let request):
                state.withLock {
                    $0.queued += 1
                    $0.queuedRequestIDs.insert(request.id)
                }
                continuation.yield(.request(request))
            case .notification(let notification):
                if notification.method == "$/cancelRequest" {
                    cancel(notification)
                    return
                }
                state.withLock { $0.queued += 1 }
                continuation.yield(.notification(notification))
            case .response(let response):
                deliver(response)
            case .invalid(let id, let error):
                log("answering an invalid message: \(error.message)")
                respond(id, .failure(error))
            }
        case .malformed(let problem):
            log("framing: \(problem)")
            respond(nil, .failure(.parseError(problem)))
        case .oversized(let length, let id, let method):
            let what = method.map { "the \(JSONText.quoted(ResponseError.shortened($0))) message" } ?? "a message"
            let error = ResponseError.invalidRequest("\(what) has \(length) bytes, over the limit of \(maximumMessageSize) bytes; it was skipped (start the server with a larger --max-message-size if this is intended)")
            log(error.message)
            if id != nil || method == nil { respond(id, .failure(error)) }
        case .unsupportedCharset(let charset, let id):
            let error = ResponseError.parseError("the message is in charset \(JSONText.quoted(charset)); only utf-8 is supported")
            log(error.message)
            respond(id, .failure(error))
        }
    }

    private func cancel(_ notification: NotificationMessage) {
        struct CancelParams: Decodable { var id: RequestID }
        guard let id = try? notification.params.decode(CancelParams.self).id else {
            log("ignoring $/cancelRequest without a valid id")
            return
        }
        state.withLock { state in
            if let entry = state.inflight[id] {
                entry.cancelled = true
                entry.task?.cancel()
            } else if state.queuedRequestIDs.contains(id) {
                state.cancelledWhileQueued.insert(id)
            }
        }
    }

    private func deliver(_ response: ResponseMessage) {
        guard let id = response.id, let pending = state.withLock({ $0.pendingOutgoing.removeValue(forKey: id) }) else {
            if case .failure(let error) = response.outcome {
                log("the client reported an error: \(error.message)")
            } else {
                log("ignoring a response to unknown request \(response.id?.description ?? "null")")
            }
            return
        }
        switch response.outcome {
        case .success(let payload): pending.continuation.resume(returning: payload)
        case .failure(let error): pending.continuation.resume(throwing: error)
        }
    }
}
