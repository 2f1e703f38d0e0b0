import Foundation
import JSONRPC
import LanguageServer
@testable import LanguageServerHost
import LSPTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Lines and events recorded from any thread.
final class Recorder<Item: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Item] = []
    func append(_ item: Item) { lock.withLock { items.append(item) } }
    var all: [Item] { lock.withLock { items } }
}

/// A shared server in this process on a unix socket (and optionally loopback TCP) in a private temporary folder;
/// `stop()` ends it and removes the folder.
final class HostFixture: @unchecked Sendable {
    let folder: String
    let socketPath: String
    let events = Recorder<(Date, SessionHost.Event)>()
    let lines = Recorder<String>()
    let host: SessionHost
    let tcpAddress: ListenAddress?
    private var task: Task<Int32, Never>?

    init(idleTimeout: Double? = nil, tcpToken: String? = nil) throws {
        var template = Array("/tmp/idpbuild-host-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestClientError("mkdtemp failed") }
        folder = String(cString: made)
        socketPath = folder + "/run/lsp.sock"
        let lines = self.lines
        let log = ServerLog(level: .debug) { lines.append($0) }
        var endpoints = [try SessionHost.Endpoint.listening(on: .unix(socketPath)) { lines.append($0) }]
        if tcpToken != nil {
            let tcp = try SessionHost.Endpoint.listening(on: .tcp(host: "127.0.0.1", port: 0))
            endpoints.append(tcp)
            tcpAddress = try ListenAddress(parsing: tcp.address)
        } else {
            tcpAddress = nil
        }
        let shared = SharedServerState()
        let events = self.events
        host = SessionHost(endpoints: endpoints, options: SessionHost.Options(
            server: LanguageServer.Options(version: "test", commands: [ServerStatusCommand(shared: shared)], log: log, shared: shared),
            idleTimeout: idleTimeout, token: tcpToken, tokenFile: folder + "/lsp.token", events: { events.append((Date(), $0)) }))
        let host = self.host
        task = Task.detached { await host.run() }
    }

    /// A client connected to the unix socket.
    func client() throws -> TestClient { TestClient(socket: try Sockets.connect(.unix(socketPath))) }

    /// Waits until the host returns; its status.
    func finished(within seconds: Double = 20) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        let task = self.task!
        let result = Task { await task.value }
        while Date() < deadline {
            if events.all.contains(where: { if case .stopping = $0.1 { return true } else { return false } }) { return await result.value }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        throw TestClientError("the host did not stop within \(seconds) s")
    }

    func stop() async throws -> Int32 {
        host.stop("the test is done")
        return try await finished()
    }

    func statuses() -> [String] { events.all.compactMap { if case .status(let text) = $0.1 { return text } else { return nil } } }

    func waitForStatus(_ text: String, seconds: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !statuses().contains(text) {
            guard Date() < deadline else { throw TestClientError("no status \"\(text)\"; saw \(statuses())") }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }
}

extension TestClient {
    /// initialize (with a client name) and initialized.
    func start(as name: String) async throws {
        let answer = try await call("initialize", ["capabilities": [:], "clientInfo": ["name": .string(name)]])
        #expect(answer["result"]?["capabilities"]?["executeCommandProvider"]?["commands"] == ["idpbuild.serverStatus"])
        notify("initialized", [:])
    }

    func finish() async throws {
        _ = try await call("shutdown")
        notify("exit")
        #expect(try await waitForEndOfOutput())
    }

    func sessions() async throws -> [String] {
        let answer = try await call("workspace/executeCommand", ["command": "idpbuild.serverStatus"])
        return answer["result"]?["sessions"]?.arrayValue?.compactMap { $0["client"]?.stringValue } ?? []
    }
}

@Suite struct SessionHostTests {
    @Test func twoEditorsShareOneServerAndSeeEachOther() async throws {
        let fixture = try HostFixture()
        var status: [String] = []
        do {
            let first = try fixture.client()
            try await first.start(as: "editor-a")
            first.notify("textDocument/didOpen", ["textDocument": ["uri": "file:///w/Dockerfile", "languageId": "dockerfile", "version": 1,
                                                                   "text": "FROM alpine\nRUNN echo\n"]])
            let published = try await first.notification("textDocument/publishDiagnostics")
            #expect(published["params"]?["diagnostics"]?.arrayValue?.isEmpty == false)
            let second = try fixture.client()
            try await second.start(as: "editor-b")
            #expect(try await second.sessions() == ["editor-a", "editor-b"])
            try await fixture.waitForStatus("2 sessions: editor-a, editor-b")
            try await first.finish()
            try await fixture.waitForStatus("1 session: editor-b")
            #expect(try await second.sessions() == ["editor-b"])
            try await second.finish()
            try await fixture.waitForStatus("waiting for editors (no sessions)")
            status = fixture.statuses()
        }
        #expect(try await fixture.stop() == 0)
        let events = fixture.events.all.map(\.1)
        #expect(events.first == .ready("unix:" + fixture.socketPath))
        #expect(events.last == .stopping("the test is done"))
        #expect(status.first == "waiting for editors (no sessions)")
        #expect(!FileManager.default.fileExists(atPath: fixture.socketPath), "the socket file outlived the server")
        #expect(fixture.lines.all.contains { $0.contains("initialized by editor-a") })
    }

    @Test func garbageFromOneClientDoesNotDisturbAnother() async throws {
        let fixture = try HostFixture()
        let noisy = try fixture.client()
        noisy.sendRaw(Data("hello there\r\n\r\nContent-Length: 5\r\n\r\n{bad}".utf8))
        let error = try await noisy.waitFor("a parse error") { $0["error"]?["code"] == -32700 }
        #expect(error["id"] == .null)
        let calm = try fixture.client()
        try await calm.start(as: "calm")
        #expect(try await calm.sessions().contains("calm"))
        noisy.closeInput()  // vanishes without shutdown
        #expect(try await noisy.waitForEndOfOutput())
        try await calm.finish()
        #expect(try await fixture.stop() == 0)
    }

    @Test func theServerStopsAfterTheIdleTimeOnlyOnceTheLastSessionEnded() async throws {
        let fixture = try HostFixture(idleTimeout: 1)
        let client = try fixture.client()
        try await client.start(as: "slow")
        // Hold the session well past the idle time: the server must stay.
        let hold = Date().addingTimeInterval(1.6)
        while Date() < hold {
            #expect(!fixture.events.all.contains { if case .stopping = $0.1 { return true } else { return false } })
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await client.finish()
        let ended = Date()
        #expect(try await fixture.finished() == 0)
        let stopping = try #require(fixture.events.all.last)
        guard case .stopping(let reason) = stopping.1 else { Issue.record("last event \(stopping.1)"); return }
        #expect(reason == "no session for 1 s (--idle-timeout)")
        // Measured from the host's own status event of the last session's end, not from when the test noticed it.
        let idleSince = fixture.events.all.last { if case .status(let text) = $0.1 { return text.hasPrefix("waiting for editors") } else { return false } }
        #expect(idleSince.map { stopping.0.timeIntervalSince($0.0) >= 0.95 } == true, "\(fixture.events.all)")
        #expect(stopping.0.timeIntervalSince(ended) >= 0)
        #expect(!FileManager.default.fileExists(atPath: fixture.socketPath))
    }

    @Test func stopEndsOpenSessions() async throws {
        let fixture = try HostFixture()
        let client = try fixture.client()
        try await client.start(as: "left-open")
        #expect(try await fixture.stop() == 0)
        #expect(try await client.waitForEndOfOutput())
    }

    @Test func tcpNeedsTheTokenAndTheLogNeverShowsIt() async throws {
        let token = String(repeating: "7f", count: 32)
        let fixture = try HostFixture(tcpToken: token)
        let address = try #require(fixture.tcpAddress)
        let initialize = Data(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#.utf8)

        let anonymous = TestClient(socket: try Sockets.connect(address))
        anonymous.sendRaw(Framing.frame(initialize))
        let refusal = try await anonymous.next()
        #expect(refusal["error"]?["code"] == -32600)
        #expect(refusal["error"]?["message"]?.stringValue?.contains("Idpbuild-Token") == true)
        #expect(try await anonymous.waitForEndOfOutput())

        let wrong = TestClient(socket: try Sockets.connect(address))
        wrong.sendRaw(Data("Content-Length: \(initialize.count)\r\nIdpbuild-Token: \(String(repeating: "00", count: 32))\r\n\r\n".utf8) + initialize)
        #expect(try await wrong.next()["error"]?["code"] == -32600)

        let right = TestClient(socket: try Sockets.connect(address))
        right.sendRaw(Data("Content-Length: \(initialize.count)\r\nidpbuild-token:  \(token)\r\n\r\n".utf8) + initialize)
        let answer = try await right.response(to: 1)
        #expect(answer["result"]?["capabilities"] != nil)
        right.closeInput()
        #expect(try await right.waitForEndOfOutput())
        #expect(try await fixture.stop() == 0)
        let log = fixture.lines.all
        #expect(log.contains { $0.contains("refused a TCP connection") && $0.contains("has no Idpbuild-Token header") })
        #expect(log.contains { $0.contains("does not match the token file") })
        #expect(!log.contains { $0.contains(token) || $0.contains(String(repeating: "00", count: 32)) })
    }

    @Test func aStaleSocketFileIsReplacedAndALiveServerIsNotDisturbed() async throws {
        let fixture = try HostFixture()
        do {
            _ = try SessionHost.Endpoint.listening(on: .unix(fixture.socketPath))
            Issue.record("a second server bound a live socket")
        } catch {
            #expect(error == .alreadyServing(path: fixture.socketPath, pid: getpid()))
            #expect(error.description.contains("idpbuild lsp --connect unix:\(fixture.socketPath)"))
        }
        #expect(try await fixture.stop() == 0)
        // A socket file without a server, as a killed server leaves it.
        let stale = fixture.folder + "/stale.sock"
        let lost = try SessionHost.Endpoint.listening(on: .unix(stale))
        close(lost.descriptor)
        #expect(FileManager.default.fileExists(atPath: stale))
        let lines = Recorder<String>()
        let fresh = try SessionHost.Endpoint.listening(on: .unix(stale)) { lines.append($0) }
        defer { close(fresh.descriptor); unlink(stale) }
        #expect(lines.all == ["removed the stale socket file \(stale) (no server answered on it)"])
        var status = stat()
        #expect(stat(stale, &status) == 0 && status.st_mode & 0o777 == 0o600)
    }
}

@Suite struct BridgeTests {
    /// Runs the bridge on its own thread between a test client's pipes and the server.
    static func bridge(_ address: ListenAddress, token: String?, client: TestClient, result: Recorder<Int32>) {
        let thread = Thread {
            do {
                result.append(try StdioBridge.run(address, token: token, input: client.serverInput, output: client.serverOutput))
            } catch {
                result.append(-1)
            }
        }
        thread.start()
    }

    @Test func theBridgeCarriesASessionOverTheUnixSocket() async throws {
        let fixture = try HostFixture()
        let client = TestClient()
        let result = Recorder<Int32>()
        Self.bridge(.unix(fixture.socketPath), token: nil, client: client, result: result)
        try await client.start(as: "bridged")
        #expect(try await client.sessions() == ["bridged"])
        _ = try await client.call("shutdown")
        client.notify("exit")
        let deadline = Date().addingTimeInterval(20)
        while result.all.isEmpty && Date() < deadline { try await Task.sleep(nanoseconds: 2_000_000) }
        #expect(result.all == [0])
        client.closeInput()
        #expect(try await fixture.stop() == 0)
    }

    @Test func theBridgeAddsTheTokenOnTCP() async throws {
        let token = String(repeating: "ab", count: 32)
        let fixture = try HostFixture(tcpToken: token)
        let client = TestClient()
        let result = Recorder<Int32>()
        Self.bridge(try #require(fixture.tcpAddress), token: token, client: client, result: result)
        try await client.start(as: "over-tcp")
        #expect(try await client.sessions() == ["over-tcp"])
        client.closeInput()  // the editor goes: the server ends the session, the bridge returns
        let deadline = Date().addingTimeInterval(20)
        while result.all.isEmpty && Date() < deadline { try await Task.sleep(nanoseconds: 2_000_000) }
        #expect(result.all == [0])
        #expect(try await fixture.stop() == 0)
    }

    @Test func nothingListeningIsAClearError() {
        let path = "/tmp/idpbuild-nothing-\(getpid()).sock"
        do {
            _ = try StdioBridge.run(.unix(path), token: nil, input: -1, output: -1)
            Issue.record("connected to nothing")
        } catch {
            #expect(error == .nobodyListening(address: "unix:" + path, errno: ENOENT))
            #expect(error.description.contains("systemctl --user start idpbuild.socket"))
        }
    }
}
