import Foundation
import JSONRPC
import LanguageServer
#if canImport(Glibc)
import Glibc
#endif

/// The shared server: accepts connections on its listening sockets and runs one `LanguageServer` session per
/// connection, all with the same `SharedServerState`; reports readiness, status and stopping through `events`
/// (the command line turns them into `sd_notify`); stops on `stop(_:)` or after `idleTimeout` without sessions.
///
/// Unix sockets accept only peers of the same user (or root); TCP connections must present the token in an
/// `Idpbuild-Token` header of their first message (checked by peeking, so the message itself reaches the session
/// untouched; LSP framing ignores unknown headers).
public final class SessionHost: @unchecked Sendable {
    /// A listening socket.
    public struct Endpoint: Sendable {
        /// The descriptor (listening).
        public var descriptor: Int32
        /// Its address, for logs.
        public var address: String
        /// Whether clients must present the token (TCP).
        public var needsToken: Bool
        /// A unix socket file to remove when the server stops (one it bound; never one systemd passed).
        public var removeOnStop: String?

        /// Makes an endpoint.
        public init(descriptor: Int32, address: String, needsToken: Bool, removeOnStop: String? = nil) {
            self.descriptor = descriptor
            self.address = address
            self.needsToken = needsToken
            self.removeOnStop = removeOnStop
        }
    }

    /// What the host reports to the service manager.
    public enum Event: Sendable, Equatable {
        /// Listening; the text names the addresses.
        case ready(String)
        /// A status line (`2 sessions: Neovim 0.9.5, emacs 29.1`).
        case status(String)
        /// Stopping, and why.
        case stopping(String)
    }

    /// How the host runs.
    public struct Options: Sendable {
        /// The options of each session's `LanguageServer` (its `shared` state is the one all sessions share).
        public var server: LanguageServer.Options
        /// Stop after this many seconds without a session (nil: never).
        public var idleTimeout: Double?
        /// The token TCP clients must present.
        public var token: String?
        /// Where the token is, for the refusal message.
        public var tokenFile: String?
        /// The most sessions at once; further connections are refused.
        public var maximumSessions: Int
        /// Receives readiness, status and stopping.
        public var events: @Sendable (Event) -> Void

        /// Makes options.
        public init(server: LanguageServer.Options, idleTimeout: Double? = nil, token: String? = nil, tokenFile: String? = nil,
                    maximumSessions: Int = 64, events: @escaping @Sendable (Event) -> Void = { _ in }) {
            self.server = server
            self.idleTimeout = idleTimeout
            self.token = token
            self.tokenFile = tokenFile
            self.maximumSessions = maximumSessions
            self.events = events
        }
    }

    private let endpoints: [Endpoint]
    private let options: Options
    private var log: ServerLog { options.server.log }
    private let lock = NSLock()
    private var sessions: [Int32] = []
    private var sessionTasks: [Task<Void, Never>] = []
    private var idleSince = Date()
    private var stopReason: String?
    private var lastBeat = Date.distantPast
    private var connections = 0
    private let wakePipe: (read: Int32, write: Int32)

    /// Makes a host for listening sockets (it closes them when it stops).
    public init(endpoints: [Endpoint], options: Options) {
        self.endpoints = endpoints
        self.options = options
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakePipe = (fds[0], fds[1])
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }

    /// When the accept loop last went round (at least once a second once it runs, after readiness; `distantPast`
    /// before): the watchdog pings only while this is recent.
    public var heartbeat: Date { lock.withLock { lastBeat } }

    /// How many sessions are connected.
    public var sessionCount: Int { lock.withLock { sessions.count } }

    /// Serves until `stop` or the idle timeout; returns the exit status (0).
    public func run() async -> Int32 {
        let events = options.events
        await options.server.shared.sessions.observe { sessions in events(.status(Self.status(sessions))) }
        events(.ready(endpoints.map(\.address).joined(separator: ", ")))
        events(.status(Self.status([])))
        log.log(.info, "serving the language server on \(endpoints.map(\.address).joined(separator: ", "))"
            + (options.idleTimeout.map { "; stopping after \(Self.seconds($0)) without sessions" } ?? ""))
        let reason = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let thread = Thread { [self] in continuation.resume(returning: acceptLoop()) }
            thread.name = "idpbuild-accept"
            thread.start()
        }
        log.log(.info, "stopping: \(reason)")
        events(.stopping(reason))
        for endpoint in endpoints {
            close(endpoint.descriptor)
            if let path = endpoint.removeOnStop { unlink(path) }
        }
        // Ending the sessions' sockets ends their connections; their servers then return.
        let tasks = lock.withLock {
            for fd in sessions { shutdown(fd, Int32(SHUT_RDWR)) }
            return sessionTasks
        }
        for task in tasks { await task.value }
        return 0
    }

    /// Stops accepting and ends every session (thread-safe; the first reason wins).
    public func stop(_ reason: String) {
        lock.withLock { if stopReason == nil { stopReason = reason } }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    /// The status line for a set of sessions.
    static func status(_ sessions: [SessionDirectory.Session]) -> String {
        guard !sessions.isEmpty else { return "waiting for editors (no sessions)" }
        let names = sessions.map { $0.client ?? "connecting" }.joined(separator: ", ")
        return "\(sessions.count) session\(sessions.count == 1 ? "" : "s"): \(names)"
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    // MARK: The accept loop (its own thread: accept and poll block)

    private func acceptLoop() -> String {
        while true {
            let (reason, idleFor, count) = lock.withLock { () -> (String?, Double, Int) in
                lastBeat = Date()
                return (stopReason, Date().timeIntervalSince(idleSince), sessions.count)
            }
            if let reason { return reason }
            var timeout = 1_000
            var idle: String?
            if count == 0, let limit = options.idleTimeout {
                // Idle for long enough: one last look without waiting, so a client already connecting is served.
                if idleFor >= limit { idle = "no session for \(Self.seconds(limit)) (--idle-timeout)" }
                timeout = idle != nil ? 0 : min(timeout, max(1, Int(((limit - idleFor) * 1000).rounded(.up))))
            }
            var descriptors = endpoints.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            descriptors.append(pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0))
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(timeout))
            if ready < 0 && errno != EINTR { return "poll failed: \(String(cString: strerror(errno)))" }
            if ready <= 0, let idle { return idle }
            if ready <= 0 { continue }
            if descriptors.last!.revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 64)
                _ = read(wakePipe.read, &buffer, buffer.count)
            }
            for (index, endpoint) in endpoints.enumerated() where descriptors[index].revents & Int16(POLLIN) != 0 {
                guard let fd = Sockets.accept(endpoint.descriptor) else { continue }
                admit(fd, endpoint: endpoint)
            }
        }
    }

    /// Checks who connected, then starts a session (TCP: after the token, on a thread of its own).
    private func admit(_ fd: Int32, endpoint: Endpoint) {
        if lock.withLock({ sessions.count }) >= options.maximumSessions {
            log.log(.warning, "refused a connection on \(endpoint.address): \(options.maximumSessions) sessions are open already")
            close(fd)
            return
        }
        if endpoint.needsToken {
            let thread = Thread { [self] in
                if authenticate(fd, endpoint: endpoint) { startSession(fd, peer: "TCP client") }
            }
            thread.name = "idpbuild-token-check"
            thread.start()
            return
        }
        let peer = Sockets.peerCredentials(fd)
        if let peer, peer.uid != geteuid() && peer.uid != 0 {
            log.log(.warning, "refused a connection on \(endpoint.address) from uid \(peer.uid) (pid \(peer.pid)): the server is private to uid \(geteuid())")
            close(fd)
            return
        }
        startSession(fd, peer: peer.map { "pid \($0.pid)" } ?? "a client")
    }

    private func startSession(_ fd: Int32, peer: String) {
        let output = dup(fd)
        _ = fcntl(output, F_SETFD, FD_CLOEXEC)
        let number = lock.withLock { () -> Int in
            sessions.append(fd)
            connections += 1
            return connections
        }
        // Each session's lines say which connection they are about.
        let base = self.log
        var serverOptions = options.server
        serverOptions.log = ServerLog(level: base.level) { level, message in base.log(level, "session \(number): \(message)") }
        let server = LanguageServer(input: fd, output: output, options: serverOptions)
        let log = serverOptions.log
        let task = Task.detached { [self] in
            log.log(.info, "opened (\(peer))")
            _ = await server.run()
            // Closed under the lock: `run` shuts down only descriptors still open, never a number reused since.
            lock.withLock {
                sessions.removeAll { $0 == fd }
                if sessions.isEmpty { idleSince = Date() }
                close(output)
                close(fd)
            }
            log.log(.info, "ended")
            wake()
        }
        lock.withLock {
            sessionTasks.removeAll { $0.isCancelled }
            sessionTasks.append(task)
        }
    }

    /// Reads (without consuming) the first message's header section and checks its `Idpbuild-Token`; answers a
    /// refusal and closes the connection when it is missing or wrong. The token itself is never logged.
    private func authenticate(_ fd: Int32, endpoint: Endpoint) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        var buffer = [UInt8](repeating: 0, count: 8_192)
        var problem = "it sent no header within 10 s"
        while Date() < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { break }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_PEEK))
            if count <= 0 {
                close(fd)
                return false
            }
            let bytes = Array(buffer[0..<count])
            guard let end = Self.headerEnd(bytes) else {
                if count == buffer.count {
                    problem = "its header section is longer than 8,192 bytes"
                    break
                }
                Thread.sleep(forTimeInterval: 0.002)  // more of the header is on its way
                continue
            }
            guard let token = options.token, let presented = TokenFile.presented(in: Array(bytes[..<end])) else {
                problem = "its first message has no \(TokenFile.header) header"
                break
            }
            if TokenFile.matches(presented, token) { return true }
            problem = "the \(TokenFile.header) header does not match the token file"
            break
        }
        log.log(.warning, "refused a TCP connection on \(endpoint.address): \(problem)")
        let message = "this server needs the token from \(options.tokenFile ?? "its token file") in an \(TokenFile.header) "
            + "header of the first message (`idpbuild lsp --connect \(endpoint.address)` adds it)"
        let body = #"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"# + JSONText.quoted(message) + "}}"
        let frame = Framing.frame(Data(body.utf8))
        _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        return false
    }

    /// Where the header section ends (after `\r\n\r\n`, or `\n\n` which LSP framing also accepts).
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 0x0A {
                if bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == 0x0D, bytes[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }
}

extension SessionHost.Endpoint {
    /// Binds and listens on `address` (see `ListenAddress`); a stale unix socket file is replaced (`log` says so), a
    /// live one is an error.
    public static func listening(on address: ListenAddress, log: (String) -> Void = { _ in }) throws(HostError) -> SessionHost.Endpoint {
        let (fd, bound) = try Sockets.listen(address, log: log)
        switch bound {
        case .unix(let path): return SessionHost.Endpoint(descriptor: fd, address: bound.description, needsToken: false, removeOnStop: path)
        case .tcp: return SessionHost.Endpoint(descriptor: fd, address: bound.description, needsToken: true)
        }
    }

    /// A listening socket passed by socket activation: a stream socket, unix or loopback TCP (which needs the token).
    public static func passed(descriptor: Int32, name: String) throws(HostError) -> SessionHost.Endpoint {
        guard let described = Sockets.describe(descriptor) else {
            throw .unusablePassedSocket(name: name, detail: "descriptor \(descriptor) is not a socket")
        }
        guard described.stream else {
            throw .unusablePassedSocket(name: name, detail: "\(described.text) is not a stream socket (use ListenStream=)")
        }
        guard described.family == AF_UNIX || described.loopback else {
            throw .unusablePassedSocket(name: name, detail: "\(described.text) is not on loopback; idpbuild serves TCP on 127.0.0.1 or ::1 only")
        }
        return SessionHost.Endpoint(descriptor: descriptor, address: described.text, needsToken: described.family != AF_UNIX)
    }
}
