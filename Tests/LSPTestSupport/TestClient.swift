import Foundation
import JSONRPC
#if canImport(Glibc)
import Glibc
#endif

/// The client side of a JSON-RPC connection over two pipes: the tests write real framed messages and read what the
/// server writes, with deadlines (never fixed sleeps).
public final class TestClient: @unchecked Sendable {
    /// The descriptor the server reads from.
    public let serverInput: Int32
    /// The descriptor the server writes to.
    public let serverOutput: Int32
    private var writeEnd: Int32
    private var readEnd: Int32
    private var decoder = FrameDecoder(maximumMessageSize: 1 << 30)
    private var backlog: [JSONValue] = []
    /// Every message received, in order (for failure messages).
    public private(set) var transcript: [JSONValue] = []
    private var nextID = 0

    /// Creates the two pipes.
    public init() {
        var toServer: [Int32] = [0, 0]
        var fromServer: [Int32] = [0, 0]
        precondition(pipe(&toServer) == 0 && pipe(&fromServer) == 0, "pipe() failed")
        serverInput = toServer[0]
        writeEnd = toServer[1]
        readEnd = fromServer[0]
        serverOutput = fromServer[1]
    }

    /// A client on a connected socket (a shared server's session): it writes and reads the same descriptor, which
    /// it owns and closes.
    public init(socket descriptor: Int32) {
        serverInput = -1
        serverOutput = -1
        writeEnd = descriptor
        readEnd = dup(descriptor)
    }

    deinit {
        for descriptor in [serverInput, writeEnd, readEnd, serverOutput] where descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Writes bytes as they are (for malformed input).
    public func sendRaw(_ data: Data) {
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                // On a socket, a server that hung up must fail the write, not SIGPIPE the test runner.
                var written = Glibc.send(writeEnd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 && errno == ENOTSOCK { written = Glibc.write(writeEnd, buffer.baseAddress! + offset, buffer.count - offset) }
                if written <= 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// Writes a framed message whose body is `json` text.
    public func sendText(_ json: String) {
        sendRaw(Framing.frame(Data(json.utf8)))
    }

    /// Writes a framed message.
    public func send(_ message: JSONValue) {
        sendRaw(Framing.frame(try! JSONText.encoder().encode(message)))
    }

    /// Sends a request with a fresh numeric id and returns the id.
    @discardableResult
    public func request(_ method: String, _ params: JSONValue? = nil) -> Int {
        nextID += 1
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .integer(nextID), "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
        return nextID
    }

    /// Sends a notification.
    public func notify(_ method: String, _ params: JSONValue? = nil) {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    /// Sends a request and waits for its response.
    public func call(_ method: String, _ params: JSONValue? = nil, timeout: Double = 20) async throws -> JSONValue {
        let id = request(method, params)
        return try await response(to: id, timeout: timeout)
    }

    /// Waits for the response with `id`.
    public func response(to id: Int, timeout: Double = 20) async throws -> JSONValue {
        try await waitFor(timeout: timeout, "the response to request \(id)") { $0["id"] == .integer(id) && $0["method"] == nil }
    }

    /// Waits for a notification named `method` that satisfies `predicate`.
    public func notification(_ method: String, timeout: Double = 20, where predicate: (JSONValue) -> Bool = { _ in true }) async throws -> JSONValue {
        try await waitFor(timeout: timeout, "a \(method) notification") { $0["method"] == .string(method) && $0["id"] == nil && predicate($0) }
    }

    /// Waits for a message satisfying `predicate`; messages skipped on the way stay available for later waits.
    public func waitFor(timeout: Double = 20, _ what: String, _ predicate: (JSONValue) -> Bool) async throws -> JSONValue {
        if let index = backlog.firstIndex(where: predicate) { return backlog.remove(at: index) }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, let message = try await read(until: deadline) else {
                throw TestClientError("timed out after \(timeout) s waiting for \(what); received: \(summary())")
            }
            if predicate(message) { return message }
            backlog.append(message)
        }
    }

    /// The next message, in order (including ones skipped by earlier waits).
    public func next(timeout: Double = 20) async throws -> JSONValue {
        if !backlog.isEmpty { return backlog.removeFirst() }
        guard let message = try await read(until: Date().addingTimeInterval(timeout)) else {
            throw TestClientError("timed out after \(timeout) s waiting for a message; received: \(summary())")
        }
        return message
    }

    /// Reads what arrives within `seconds` into the backlog, where later waits still find it (it stays in
    /// `transcript` too); returns how many messages arrived.
    @discardableResult
    public func receive(for seconds: Double) async throws -> Int {
        var count = 0
        while let message = try await read(until: Date().addingTimeInterval(seconds)) {
            backlog.append(message)
            count += 1
        }
        return count
    }

    /// Messages that arrived but were not yet consumed, after waiting `quietFor` seconds for more.
    public func drain(quietFor seconds: Double = 0.2) async throws -> [JSONValue] {
        while let message = try await read(until: Date().addingTimeInterval(seconds)) { backlog.append(message) }
        defer { backlog = [] }
        return backlog
    }

    /// Whether the server closed its output (end of file) within `timeout`, discarding messages on the way.
    public func waitForEndOfOutput(timeout: Double = 20) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            do {
                guard let message = try await read(until: deadline) else { return false }
                backlog.append(message)
            } catch is EndOfOutput {
                return true
            }
        }
        return false
    }

    /// Closes the server's input (the client "vanishes" or finishes); on a socket, shuts down the sending half.
    public func closeInput() {
        if writeEnd >= 0 {
            if serverInput < 0 { shutdown(writeEnd, Int32(SHUT_WR)) }
            Glibc.close(writeEnd)
            writeEnd = -1
        }
    }

    /// Closes the end the client reads, so the server's writes fail (a client that vanished).
    public func closeOutputReader() {
        if readEnd >= 0 {
            Glibc.close(readEnd)
            readEnd = -1
        }
    }

    /// Reads one message, or nil at the deadline; throws `EndOfOutput` when the server's output is closed.
    ///
    /// Polls without blocking and yields between polls: a blocked thread would starve the server under test, which
    /// shares the (small) cooperative thread pool with the tests.
    private func read(until deadline: Date) async throws -> JSONValue? {
        while true {
            if let event = decoder.next() {
                guard case .message(let body) = event else { throw TestClientError("the server wrote a bad frame: \(event)") }
                let message: JSONValue
                do {
                    message = try JSONDecoder().decode(JSONValue.self, from: body)
                } catch {
                    throw TestClientError("the server wrote invalid JSON: \(String(decoding: body, as: UTF8.self))")
                }
                transcript.append(message)
                return message
            }
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 0)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 {
                guard deadline.timeIntervalSinceNow > 0 else { return nil }
                try await Task.sleep(nanoseconds: 500_000)
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
            if count <= 0 { throw EndOfOutput() }
            decoder.append(Array(buffer[0..<count]))
        }
    }

    private func summary() -> String {
        let text = transcript.suffix(8).map { String(decoding: try! JSONText.encoder().encode($0), as: UTF8.self) }
        return text.map { $0.count > 300 ? String($0.prefix(300)) + "…" : $0 }.joined(separator: "\n")
    }
}

/// The server closed its output.
public struct EndOfOutput: Error {}

/// A failed expectation of the test client, with what it saw.
public struct TestClientError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

extension JSONValue {
    /// The value at a dotted path (`result.capabilities.hoverProvider`, `items.0.label`).
    public func at(_ path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".") {
            if let index = Int(part), case .array(let elements)? = current {
                current = index < elements.count ? elements[index] : nil
            } else {
                current = current?[String(part)]
            }
        }
        return current
    }

    /// Compact JSON text.
    public var jsonText: String { String(decoding: try! JSONText.encoder().encode(self), as: UTF8.self) }
}
