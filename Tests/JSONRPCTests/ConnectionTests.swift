import Foundation
import LSPTestSupport
import Testing
@testable import JSONRPC

/// A handler for the tests: echoes, sleeps until cancelled, asks the client, records notifications in order.
private final class TestHandler: MessageHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var notificationsSeen: [String] = []
    private var drainCount = 0

    var notifications: [String] { lock.withLock { notificationsSeen } }
    var drains: Int { lock.withLock { drainCount } }

    func handle(_ request: RequestMessage, on connection: Connection) async -> RequestWork {
        switch request.method {
        case "echo":
            do {
                return .reply(try JSONFragment(encoding: try request.params.decode(JSONValue.self)))
            } catch {
                return .fail(error)
            }
        case "wait":
            return .run {
                while true { try await Task.sleep(nanoseconds: 5_000_000) }
            }
        case "throw":
            return .run { throw ResponseError(code: ErrorCode.requestFailed, message: "it failed") }
        case "ask":
            return .run {
                async let first = connection.send(request: "client/first", params: JSONFragment(rawJSON: Data("[1]".utf8)))
                async let second = connection.send(request: "client/second", params: nil)
                let a = try await first.decode(String.self)
                let b = try await second.decode(String.self)
                return try JSONFragment(encoding: a + b)
            }
        case "askAndFail":
            return .run {
                do {
                    _ = try await connection.send(request: "client/fail", params: nil)
                    return .null
                } catch let error as ResponseError {
                    return try JSONFragment(encoding: "\(error.code): \(error.message)")
                }
            }
        case "close":
            connection.close()
            return .reply(.null)
        default:
            return .fail(.methodNotFound(request.method))
        }
    }

    func handle(_ notification: NotificationMessage, on connection: Connection) async {
        let count = lock.withLock {
            notificationsSeen.append(notification.method)
            return notificationsSeen.count
        }
        if notification.method == "ping" {
            connection.send(notification: "pong", ["n": count])
        }
    }

    func connectionDidDrainQueue(_ connection: Connection) async {
        lock.withLock { drainCount += 1 }
    }
}

/// Runs a connection over the test client's pipes.
private func start(_ client: TestClient, handler: TestHandler = TestHandler(), limit: Int = 1 << 20) -> Task<EndReason, Never> {
    let connection = Connection(input: client.serverInput, output: client.serverOutput, maximumMessageSize: limit)
    return Task { await connection.run(handler) }
}

@Suite struct ConnectionTests {
    @Test func requestsAreAnsweredAndNotificationsHandledInOrder() async throws {
        let client = TestClient()
        let handler = TestHandler()
        let run = start(client, handler: handler)
        let response = try await client.call("echo", ["a": [1, 2]])
        #expect(response.at("result.a.1") == 2)
        for _ in 0..<20 { client.notify("note") }
        client.notify("ping")
        let pong = try await client.notification("pong")
        #expect(pong.at("params.n") == 21)
        client.closeInput()
        #expect(await run.value == .endOfInput)
        #expect(handler.notifications == Array(repeating: "note", count: 20) + ["ping"])
        #expect(handler.drains >= 1)
    }

    @Test func unknownMethodsAndHandlerErrorsBecomeErrorResponses() async throws {
        let client = TestClient()
        let run = start(client)
        #expect(try await client.call("nope").at("error.code") == .integer(ErrorCode.methodNotFound))
        let failed = try await client.call("throw")
        #expect(failed.at("error.code") == .integer(ErrorCode.requestFailed))
        #expect(failed.at("error.message") == "it failed")
        let invalid = try await client.call("echo")
        #expect(invalid.at("error.code") == .integer(ErrorCode.invalidParams))
        client.closeInput()
        _ = await run.value
    }

    @Test func cancelRequestStopsRunningAndQueuedWork() async throws {
        let client = TestClient()
        let run = start(client)
        let id = client.request("wait")
        client.notify("$/cancelRequest", ["id": .integer(id)])
        let cancelled = try await client.response(to: id)
        #expect(cancelled.at("error.code") == .integer(ErrorCode.requestCancelled))
        // A cancel for an unknown id is ignored; the connection keeps working.
        client.notify("$/cancelRequest", ["id": 999])
        client.notify("$/cancelRequest", ["id": [1]])
        #expect(try await client.call("echo", [1]).at("result.0") == 1)
        client.closeInput()
        #expect(await run.value == .endOfInput)
    }

    @Test func duplicateIdsOfRunningRequestsAreRejected() async throws {
        let client = TestClient()
        let run = start(client)
        client.sendText(#"{"jsonrpc":"2.0","id":5,"method":"wait"}"#)
        client.sendText(#"{"jsonrpc":"2.0","id":5,"method":"wait"}"#)
        let rejected = try await client.response(to: 5)
        #expect(rejected.at("error.code") == .integer(ErrorCode.invalidRequest))
        client.notify("$/cancelRequest", ["id": 5])
        #expect(try await client.response(to: 5).at("error.code") == .integer(ErrorCode.requestCancelled))
        client.closeInput()
        _ = await run.value
    }

    @Test func serverToClientRequestsAreCorrelatedByID() async throws {
        let client = TestClient()
        let run = start(client)
        let id = client.request("ask")
        let first = try await client.waitFor("client/first") { $0["method"] == "client/first" }
        let second = try await client.waitFor("client/second") { $0["method"] == "client/second" }
        #expect(first.at("params.0") == 1)
        #expect(second["params"] == nil)
        // Answer out of order.
        client.send(["jsonrpc": "2.0", "id": second["id"]!, "result": "B"])
        client.send(["jsonrpc": "2.0", "id": first["id"]!, "result": "A"])
        #expect(try await client.response(to: id)["result"] == "AB")
        let failing = client.request("askAndFail")
        let question = try await client.waitFor("client/fail") { $0["method"] == "client/fail" }
        client.send(["jsonrpc": "2.0", "id": question["id"]!, "error": ["code": -32601, "message": "unsupported"]])
        #expect(try await client.response(to: failing)["result"] == "-32601: unsupported")
        // A response nobody waits for is ignored.
        client.send(["jsonrpc": "2.0", "id": 4242, "result": 1])
        #expect(try await client.call("echo", [2]).at("result.0") == 2)
        client.closeInput()
        _ = await run.value
    }

    @Test func pendingServerRequestsFailWhenTheConnectionEnds() async throws {
        let client = TestClient()
        let run = start(client)
        let id = client.request("askAndFail")
        _ = try await client.waitFor("client/fail") { $0["method"] == "client/fail" }
        client.closeInput()
        // The request still gets its answer before the connection stops writing.
        let answer = try await client.response(to: id)
        #expect(answer["result"]?.stringValue?.hasPrefix("\(ErrorCode.connectionClosed):") == true)
        #expect(await run.value == .endOfInput)
    }

    @Test func badInputIsAnsweredAndTheConnectionContinues() async throws {
        let client = TestClient()
        let run = start(client, limit: 1_000)
        client.sendText("{this is not json")
        #expect(try await client.next().at("error.code") == .integer(ErrorCode.parseError))
        client.sendText("[]")
        #expect(try await client.next().at("error.code") == .integer(ErrorCode.invalidRequest))
        client.sendRaw(Data("Bogus-Header\r\n\r\n".utf8))
        let framing = try await client.next()
        #expect(framing.at("error.code") == .integer(ErrorCode.parseError))
        #expect(framing["id"] == .null)
        let big = #"{"jsonrpc":"2.0","id":77,"method":"echo","params":[""# + String(repeating: "y", count: 5_000) + "\"]}"
        client.sendText(big)
        let tooBig = try await client.response(to: 77)
        #expect(tooBig.at("error.code") == .integer(ErrorCode.invalidRequest))
        #expect(tooBig.at("error.message")?.stringValue?.contains("over the limit of 1000 bytes") == true)
        #expect(try await client.call("echo", [3]).at("result.0") == 3)
        client.closeInput()
        #expect(await run.value == .endOfInput)
    }

    @Test func inputEndingInsideAMessageIsReported() async throws {
        let client = TestClient()
        let run = start(client)
        client.sendRaw(Data("Content-Length: 100\r\n\r\n{\"jsonrpc\"".utf8))
        client.closeInput()
        #expect(await run.value == .endOfInputInsideMessage)
    }

    @Test func closeFromTheHandlerStopsTheConnection() async throws {
        let client = TestClient()
        let run = start(client)
        let id = client.request("close")
        #expect(await run.value == .closed)
        #expect(try await client.response(to: id)["result"] == .null)
    }

    @Test func aClientThatStopsReadingEndsTheConnection() async throws {
        let client = TestClient()
        let handler = TestHandler()
        let connection = Connection(input: client.serverInput, output: client.serverOutput)
        let run = Task { await connection.run(handler) }
        client.closeOutputReader()
        // Each pong write fails with EPIPE once the reader is gone; the connection ends instead of crashing.
        for _ in 0..<50 { client.notify("ping") }
        let reason = await run.value
        guard case .outputFailed = reason else { Issue.record("expected outputFailed, got \(reason)"); return }
    }
}
