import Foundation
import HTTP
import OCI
import Testing
import TestSupport

/// A sink that hashes what it receives (used by one transfer thread at a time).
final class HashingSink: HTTPBodySink, @unchecked Sendable {
    var hasher = DigestHasher()
    var accepted: Int?
    func accept(status: Int, headers: HTTPHeaders) -> Bool { accepted = status; return true }
    func write(_ chunk: UnsafeRawBufferPointer) throws { hasher.update(chunk) }
}

struct Failing: Error, CustomStringConvertible { var description: String { "disk full (test)" } }
final class FailingSink: HTTPBodySink, @unchecked Sendable {
    func accept(status: Int, headers: HTTPHeaders) -> Bool { true }
    func write(_ chunk: UnsafeRawBufferPointer) throws { throw Failing() }
}

/// Runs the body with a real Python HTTP(S) server from Fixtures/servers/testserver.py.
func withServer(_ extra: [String] = [], _ body: (Int) async throws -> Void) async throws {
    let dir = try TemporaryDirectory("http")
    defer { dir.remove() }
    let server = try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py", "http"] + extra,
                                   logPath: dir.file("server.log"), announcesPort: true)
    defer { server.stop() }
    try await body(server.port)
}

func json(_ response: HTTPResponse) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
}

@Suite(.serialized) struct HTTPClientTests {
    let client = HTTPClient()

    @Test func streamsALargeDownloadToASinkAndReusesTheConnection() async throws {
        try await withServer { port in
            let n = 24 << 20
            let sink = HashingSink()
            let response = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=\(n)"), sink: sink)
            #expect(response.status == 200)
            #expect(response.streamed)
            #expect(response.body.isEmpty)
            #expect(sink.hasher.count == Int64(n))
            let pattern = Array((0..<256).map { UInt8($0) })
            var expected = DigestHasher()
            var left = n
            let block = Array(repeatElement(pattern, count: 4096).joined())
            while left > 0 { let k = min(left, block.count); expected.update(Array(block[0..<k])); left -= k }
            #expect(sink.hasher.finalize() == expected.finalize())

            let first = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"))
            let second = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"))
            #expect(second.newConnections == 0)
            #expect(try json(first)["client_port"] as? Int == json(second)["client_port"] as? Int)
        }
    }

    @Test func uploadsAFileRangeAndBytesWithHeaders() async throws {
        let dir = try TemporaryDirectory("upload")
        defer { dir.remove() }
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("blob")))
        try await withServer { port in
            let sent = HTTPProgressBox()
            let request = HTTPRequest(method: "PATCH", url: "http://127.0.0.1:\(port)/echo", headers: ["X-Test": "yes"],
                                      body: .file(path: dir.file("blob"), offset: 1000, length: 2_000_000),
                                      progress: { sent.update($0.sent) })
            let response = try await client.send(request)
            let body = try json(response)
            #expect(body["method"] as? String == "PATCH")
            #expect(body["length"] as? Int == 2_000_000)
            #expect(body["sha256"] as? String == Digest.sha256(of: bytes[1000..<2_001_000]).encoded)
            let headers = body["headers"] as? [String: String] ?? [:]
            #expect(headers["x-test"] == "yes")
            #expect(headers["content-type"] == "application/octet-stream")
            #expect(headers["expect"] == nil)
            #expect(sent.value == 2_000_000)

            let put = try await client.send(HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(port)/echo",
                                                        headers: ["Content-Type": "application/json"], body: .bytes(Array("{}".utf8))))
            let putBody = try json(put)
            #expect(putBody["length"] as? Int == 2)
            #expect((putBody["headers"] as? [String: String])?["content-type"] == "application/json")

            let post = try await client.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo", body: .bytes([])))
            #expect(try json(post)["method"] as? String == "POST")
            let delete = try await client.send(HTTPRequest(method: "DELETE", url: "http://127.0.0.1:\(port)/echo"))
            #expect(try json(delete)["method"] as? String == "DELETE")
        }
    }

    @Test func errorAnswersStayInMemoryAndRedirectsAreNotFollowed() async throws {
        try await withServer { port in
            let sink = HashingSink()
            let response = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/status/404"), sink: sink)
            #expect(response.status == 404)
            #expect(!response.streamed)
            #expect(sink.accepted == nil)
            #expect(String(decoding: response.body, as: UTF8.self).contains("/status/404"))

            let redirect = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/redirect?to=http://example.invalid/x"))
            #expect(redirect.status == 302)
            #expect(redirect.headers["location"] == "http://example.invalid/x")

            let head = try await client.send(HTTPRequest(method: "HEAD", url: "http://127.0.0.1:\(port)/bytes?n=1234"), sink: sink)
            #expect(head.status == 200)
            #expect(head.headers["Content-Length"] == "1234")
            #expect(head.body.isEmpty)
        }
    }

    @Test func truncatedBodiesStalledTransfersAndRefusedConnectionsAreTransientErrors() async throws {
        try await withServer { port in
            do {
                _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/truncate?n=100000"))
                Issue.record("truncated body was accepted")
            } catch let error as HTTPError {
                guard case .interrupted = error else { Issue.record("wrong error \(error)"); return }
                #expect(error.isTransient)
                #expect(error.description.contains("127.0.0.1:\(port)"))
            }
            do {
                _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/slow?s=4", timeouts: HTTPTimeouts(stall: 1)))
                Issue.record("stalled transfer was accepted")
            } catch let error as HTTPError {
                guard case .timedOut = error else { Issue.record("wrong error \(error)"); return }
                #expect(error.isTransient)
            }
            do {
                _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=1000"), sink: FailingSink())
                Issue.record("sink failure ignored")
            } catch let error as HTTPError {
                #expect(error.description.contains("disk full (test)"))
                #expect(!error.isTransient)
            }
            do {
                _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=100000", maxCollectedBody: 1000))
                Issue.record("oversized answer accepted")
            } catch let error as HTTPError {
                guard case .responseTooLarge = error else { Issue.record("wrong error \(error)"); return }
            }
        }
        let closed = TestSupport.freePort()
        await #expect { _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(closed)/")) } throws: { error in
            guard let e = error as? HTTPError, case .connectionFailed = e else { return false }
            return e.isTransient && e.description.contains("127.0.0.1:\(closed)")
        }
        await #expect(throws: HTTPError.self) { _ = try await client.send(HTTPRequest(url: "ftp://127.0.0.1/")) }
    }

    /// libcurl wants to resend a body when a reused connection dies before any answer, and a streamed body cannot be
    /// rewound (error 65): that, like a reset on a fresh connection, is an interruption the caller may retry.
    @Test func aResetWhileTheBodyIsSentIsATransientInterruption() async throws {
        let dir = try TemporaryDirectory("reset-body")
        defer { dir.remove() }
        try Data(repeating: 0x5a, count: 4 << 20).write(to: URL(fileURLWithPath: dir.file("blob")))
        try await withServer { port in
            for reused in [true, false] {
                let fresh = HTTPClient()
                if reused {
                    let warm = try await fresh.send(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"))
                    #expect(warm.status == 200)
                }
                let request = HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(port)/reset-body?after=65536",
                                          body: .file(path: dir.file("blob"), offset: 0, length: 4 << 20))
                await #expect { _ = try await fresh.send(request) } throws: { error in
                    guard let e = error as? HTTPError, case .interrupted = e else { return false }
                    return e.isTransient && e.description.contains("127.0.0.1:\(port)")
                }
            }
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        try await withServer { port in
            let started = Date()
            let task = Task { try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/slow?s=8")) }
            try await Task.sleep(nanoseconds: 200_000_000)
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(Date().timeIntervalSince(started) < 6)
        }
    }

    @Test func tlsTrustsAnExtraCAAndSkipsVerificationOnlyWhenAsked() async throws {
        let dir = try TemporaryDirectory("tls")
        defer { dir.remove() }
        let ca = try CertificateAuthority(directory: dir.file("ca"))
        let server = try ca.issue("server")
        try await withServer(["--cert", server.cert, "--key", server.key]) { port in
            let url = "https://127.0.0.1:\(port)/echo"
            await #expect { _ = try await client.send(HTTPRequest(url: url)) } throws: { error in
                guard let e = error as? HTTPError, case .tls = e else { return false }
                return e.description.contains("127.0.0.1:\(port)") && !e.isTransient
            }
            let trusted = try TLSOptions.files(caFile: ca.caCertificate)
            #expect(try await client.send(HTTPRequest(url: url, tls: trusted)).status == 200)
            #expect(try await client.send(HTTPRequest(url: url, tls: TLSOptions(insecureSkipVerify: true))).status == 200)
            #expect(throws: HTTPError.self) { _ = try TLSOptions.files(caFile: dir.file("missing.pem")) }
        }
    }

    @Test func mutualTLSSendsTheClientCertificate() async throws {
        let dir = try TemporaryDirectory("mtls")
        defer { dir.remove() }
        let ca = try CertificateAuthority(directory: dir.file("ca"))
        let server = try ca.issue("server")
        let clientCert = try ca.issue("client", client: true)
        try await withServer(["--cert", server.cert, "--key", server.key, "--client-ca", ca.caCertificate]) { port in
            let url = "https://127.0.0.1:\(port)/echo"
            await #expect(throws: HTTPError.self) {
                _ = try await client.send(HTTPRequest(url: url, tls: try TLSOptions.files(caFile: ca.caCertificate)))
            }
            let tls = try TLSOptions.files(caFile: ca.caCertificate, certificateFile: clientCert.cert, keyFile: clientCert.key)
            #expect(try await client.send(HTTPRequest(url: url, tls: tls)).status == 200)
        }
    }

    @Test func headersLookUpCaseInsensitively() {
        var h: HTTPHeaders = ["Content-Type": "a", "X-Multi": "1"]
        h.add("x-multi", "2")
        #expect(h["content-type"] == "a")
        #expect(h.values(for: "X-MULTI") == ["1", "2"])
        h.set("X-Multi", "3")
        #expect(h.values(for: "x-multi") == ["3"])
        h.remove("content-type")
        #expect(h["Content-Type"] == nil)
        #expect(h == ["X-Multi": "3"])
        #expect(HTTPRequestBody.file(path: "/x", offset: 0, length: 7).length == 7)
    }
}

final class HTTPProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var latest: Int64 = 0
    func update(_ v: Int64) { lock.lock(); latest = max(latest, v); lock.unlock() }
    var value: Int64 { lock.lock(); defer { lock.unlock() }; return latest }
}
