import Foundation
import HTTP
import Testing
import TestSupport

/// Records which threads wrote and completed, and can fail at completion.
final class CompletingSink: HTTPBodySink, @unchecked Sendable {
    let failAtCompletion: Bool
    var bytes: Int64 = 0
    var writeThreads = Set<String>()
    var completions = 0
    var bytesAtCompletion: Int64 = -1
    var completionThread: String?

    init(failAtCompletion: Bool = false) { self.failAtCompletion = failAtCompletion }
    func accept(status: Int, headers: HTTPHeaders) -> Bool { true }
    func write(_ chunk: UnsafeRawBufferPointer) throws {
        bytes += Int64(chunk.count)
        writeThreads.insert(Self.thread)
    }
    func complete() throws {
        completions += 1
        bytesAtCompletion = bytes
        completionThread = Self.thread
        if failAtCompletion { throw Failing() }
    }
    static var thread: String { "\(pthread_self())" }
}

@Suite(.serialized) struct SinkCompletionTests {
    let client = HTTPClient()

    @Test func aSinkCompletesOnceOnTheTransferThreadAfterTheWholeBody() async throws {
        try await withServer { port in
            let sink = CompletingSink()
            let response = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=\(3 << 20)"), sink: sink)
            #expect(response.status == 200)
            #expect(sink.completions == 1)
            #expect(sink.bytesAtCompletion == 3 << 20)
            #expect(sink.writeThreads.count == 1)
            #expect(sink.completionThread.map { sink.writeThreads.contains($0) } == true)
        }
    }

    @Test func aFailedCompletionFailsTheRequestAndABrokenBodyIsNotCompleted() async throws {
        try await withServer { port in
            let failing = CompletingSink(failAtCompletion: true)
            await #expect { try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=1000"), sink: failing) } throws: {
                "\($0)".contains("disk full (test)")
            }
            let truncated = CompletingSink()
            await #expect(throws: HTTPError.self) {
                try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/truncate?n=100000"), sink: truncated)
            }
            #expect(truncated.completions == 0)
            // An answer the sink did not take (it stays in memory) is not the sink's to complete either.
            let refused = CompletingSink()
            _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/status/404"), sink: refused)
            #expect(refused.completions == 0)
        }
    }
}
