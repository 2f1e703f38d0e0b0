import Foundation
import JSONRPC
import LSPTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild lsp --listen` as systemd runs it: socket-activated by Debian's systemd-socket-activate (which passes
/// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES as a .socket unit does), reporting to a NOTIFY_SOCKET the test reads.
@Suite struct SocketActivationTests {
    static func which(_ program: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map { $0 + program }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func aSocketActivatedServerServesTwoEditorsAndReportsToTheManager() async throws {
        let activate = try #require(Self.which("systemd-socket-activate"), "install Debian's systemd (scripts/apt-packages lists it)")
        let scratch = try Scratch("activate")
        let notify = try DatagramListener(path: scratch.file("notify"))
        let socketPath = scratch.file("lsp.sock")
        let server = try Child([activate, "--listen=" + socketPath, "--fdname=lsp",
                                "-E", "NOTIFY_SOCKET=" + notify.path, "-E", "WATCHDOG_USEC=300000",
                                idpbuild, "lsp", "--listen", "auto", "--idle-timeout", "1", "--log", "stderr"],
                               environment: childEnvironment(), in: scratch, name: "server")
        defer { server.stop() }
        try await waitForFile(socketPath)
        // The first connection makes systemd-socket-activate exec the server with the listening socket.
        let first = TestClient(socket: try await connectUnix(socketPath))
        do {
            try await first.start(as: "editor-one")
        } catch {
            throw ServiceTestFailure("\(error); the server's log:\n\(server.standardError)")
        }
        first.notify("textDocument/didOpen", ["textDocument": ["uri": "file:///w/Dockerfile", "languageId": "dockerfile", "version": 1,
                                                               "text": "FROM alpine:3.19\nRUNN echo hi\n"]])
        let diagnostics = try await first.notification("textDocument/publishDiagnostics")
        #expect(diagnostics["params"]?["diagnostics"]?.arrayValue?.first?["code"] == "UnknownInstruction")
        let second = TestClient(socket: try await connectUnix(socketPath))
        do {
            try await second.start(as: "editor-two")
        } catch {
            throw ServiceTestFailure("\(error); the server's log:\n\(server.standardError)")
        }
        #expect(try await second.sessionClients() == ["editor-one", "editor-two"], "the second editor sees the first one's session")
        try await notify.wait("READY=1, the two-session status and watchdog pings") { datagrams in
            let texts = datagrams.map { String(decoding: $0, as: UTF8.self) }
            return texts.contains("READY=1") && texts.contains("STATUS=2 sessions: editor-one, editor-two")
                && texts.filter { $0 == "WATCHDOG=1" }.count >= 2
        }
        try await first.finish()
        try await second.finish()
        // No session for the idle time: the server says it stops, and exits; the socket stays systemd's.
        try await notify.wait("STOPPING=1") { $0.contains { String(decoding: $0, as: UTF8.self).hasPrefix("STOPPING=1") } }
        #expect(try await server.exitStatus() == 0, "\(server.standardError)")
        let texts = notify.notifications
        #expect(texts.first == "READY=1")
        #expect(texts.contains("STOPPING=1\nSTATUS=stopping: no session for 1 s (--idle-timeout)"))
        let log = server.standardError
        #expect(log.contains("socket activation passed 1 socket(s)"))
        #expect(log.contains("initialized by editor-one"))
        #expect(FileManager.default.fileExists(atPath: socketPath), "the server removed the socket systemd owns")
    }

    @Test func socketsForAnotherProcessAreIgnoredAndStoppingIsReported() async throws {
        let scratch = try Scratch("listenpid")
        let notify = try DatagramListener(path: scratch.file("notify"))
        let socketPath = scratch.file("own.sock")
        // LISTEN_PID names PID 1: descriptor 3 is not ours, so the server binds its own socket.
        let server = try Child([idpbuild, "lsp", "--listen", "unix:" + socketPath, "--log", "stderr"],
                               environment: childEnvironment(["LISTEN_FDS": "1", "LISTEN_PID": "1", "NOTIFY_SOCKET": notify.path]),
                               in: scratch, name: "server")
        defer { server.stop() }
        try await notify.wait("READY=1") { $0.contains { String(decoding: $0, as: UTF8.self) == "READY=1" } }
        var status = stat()
        #expect(stat(socketPath, &status) == 0 && status.st_mode & 0o777 == 0o600)
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0)
        #expect(server.standardError.contains("LISTEN_PID is 1, not this process"))
        #expect(notify.notifications.contains("STOPPING=1\nSTATUS=stopping: signal SIGTERM"))
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the server left its socket file behind")
    }

    @Test func aSecondServerOnTheSameSocketIsRefusedAndTheBridgeReachesTheFirst() async throws {
        let scratch = try Scratch("second")
        let socketPath = scratch.file("lsp.sock")
        let server = try Child([idpbuild, "lsp", "--listen", "unix:" + socketPath, "--log", "stderr"],
                               environment: childEnvironment(), in: scratch, name: "first")
        defer { server.stop() }
        try await waitForFile(socketPath)
        let second = try Child([idpbuild, "lsp", "--listen", "unix:" + socketPath, "--log", "stderr"],
                               environment: childEnvironment(), in: scratch, name: "second")
        #expect(try await second.exitStatus() == 1)
        #expect(second.standardError.contains("another idpbuild lsp already serves \(socketPath) (pid \(server.pid))"))

        // An editor that can only start a process: idpbuild lsp --connect, on pipes.
        let client = TestClient()
        let bridge = try Child([idpbuild, "lsp", "--connect", "unix:" + socketPath], environment: childEnvironment(), in: scratch, name: "bridge",
                               input: FileHandle(fileDescriptor: client.serverInput, closeOnDealloc: false),
                               output: FileHandle(fileDescriptor: client.serverOutput, closeOnDealloc: false))
        try await client.start(as: "spawned-editor")
        #expect(try await client.sessionClients() == ["spawned-editor"])
        _ = try await client.call("shutdown")
        client.notify("exit")
        #expect(try await bridge.exitStatus() == 0)
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }

    @Test func tcpOnLoopbackMakesAPrivateTokenThatTheBridgePresents() async throws {
        let scratch = try Scratch("tcp")
        chmod(scratch.path, 0o700)
        let port = try Self.freePort()
        let environment = childEnvironment(["XDG_RUNTIME_DIR": scratch.path])
        let server = try Child([idpbuild, "lsp", "--listen", "tcp:127.0.0.1:\(port)", "--log", "stderr"],
                               environment: environment, in: scratch, name: "server")
        defer { server.stop() }
        let tokenPath = scratch.file("idpbuild/lsp.token")
        try await waitForFile(tokenPath)
        var status = stat()
        #expect(stat(tokenPath, &status) == 0 && status.st_mode & 0o777 == 0o600)
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = TestClient()
        let bridge = try Child([idpbuild, "lsp", "--connect", "tcp:127.0.0.1:\(port)"], environment: environment, in: scratch, name: "bridge",
                               input: FileHandle(fileDescriptor: client.serverInput, closeOnDealloc: false),
                               output: FileHandle(fileDescriptor: client.serverOutput, closeOnDealloc: false))
        try await client.start(as: "tcp-editor")
        #expect(try await client.sessionClients() == ["tcp-editor"])
        _ = try await client.call("shutdown")
        client.notify("exit")
        #expect(try await bridge.exitStatus() == 0)
        // A client without the token is refused, and the log does not show the token.
        let intruder = try Child([idpbuild, "lsp", "--connect", "tcp:127.0.0.1:\(port)", "--token-file", scratch.file("missing")],
                                 environment: environment, in: scratch, name: "intruder")
        #expect(try await intruder.exitStatus() == 1)
        #expect(intruder.standardError.contains("the token file \(scratch.file("missing")) cannot be read"))
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0)
        #expect(!server.standardError.contains(token))
    }

    @Test func listeningOnAnotherMachinesAddressIsRefused() async throws {
        let scratch = try Scratch("wide")
        let server = try Child([idpbuild, "lsp", "--listen", "tcp:0.0.0.0:7070"], environment: childEnvironment(), in: scratch, name: "server")
        #expect(try await server.exitStatus() == 2)
        #expect(server.standardError.contains("serves TCP on loopback only"))
    }

    /// A port nobody listens on right now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw ServiceTestFailure("cannot find a free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
