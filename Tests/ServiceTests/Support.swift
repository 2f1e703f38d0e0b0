import CSandbox
import Foundation
import JSONRPC
import LSPTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Process-level tests of idpbuild's place in a systemd desktop, against the real peers that run here: Debian's
// systemd-socket-activate, a NOTIFY_SOCKET datagram socket the test listens on, a datagram socket at journald's
// path inside a mount namespace the test makes (unshare), and real cgroups (as root). The systemd user manager
// (D-Bus, transient scopes) cannot run on these machines: SystemdTests pin its unreachable case instead.

/// The idpbuild executable built next to the test bundle.
let idpbuild: String = {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("idpbuild").path
}()

/// The repository's Fixtures folder.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

struct ServiceTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A short private folder under /tmp (unix socket paths are limited to 107 bytes), removed at the end.
final class Scratch: @unchecked Sendable {
    let path: String

    init(_ label: String) throws {
        var template = Array("/tmp/idpbuild-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw ServiceTestFailure("mkdtemp failed") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A unix datagram socket the test binds and reads: the service manager's NOTIFY_SOCKET or journald's socket.
final class DatagramListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [[UInt8]] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard fd >= 0, bound == 0 else { throw ServiceTestFailure("cannot bind a datagram socket at \(path): \(String(cString: strerror(errno)))") }
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        chmod(path, 0o666)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Reads every datagram waiting now.
    func drain() -> [[UInt8]] {
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        var fresh: [[UInt8]] = []
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count <= 0 { break }
            fresh.append(Array(buffer[0..<count]))
        }
        lock.withLock { received += fresh }
        return lock.withLock { received }
    }

    /// Waits (polling, with a deadline) until the datagrams satisfy `done`; returns them all.
    @discardableResult
    func wait(_ what: String, seconds: Double = 30, until done: ([[UInt8]]) -> Bool) async throws -> [[UInt8]] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let all = drain()
            if done(all) { return all }
            guard Date() < deadline else {
                throw ServiceTestFailure("timed out after \(seconds) s waiting for \(what); received \(all.count) datagrams: "
                    + all.suffix(5).map { String(decoding: $0.prefix(200), as: UTF8.self) }.joined(separator: " | "))
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    /// sd_notify datagrams as text.
    var notifications: [String] { drain().map { String(decoding: $0, as: UTF8.self) } }
}

/// One entry of journald's native protocol: `KEY=value\n`, or `KEY\n` + little-endian 64-bit length + bytes + `\n`.
struct NativeEntry {
    var fields: [(String, String)] = []

    init(_ bytes: [UInt8]) {
        var index = 0
        while index < bytes.count {
            guard let newline = bytes[index...].firstIndex(of: 0x0A) else { break }
            let line = bytes[index..<newline]
            if let equals = line.firstIndex(of: 0x3D) {
                fields.append((String(decoding: line[..<equals], as: UTF8.self), String(decoding: line[(equals + 1)...], as: UTF8.self)))
                index = newline + 1
            } else {
                let name = String(decoding: line, as: UTF8.self)
                let lengthStart = newline + 1
                guard lengthStart + 8 <= bytes.count else { break }
                var length = 0
                for offset in 0..<8 { length |= Int(bytes[lengthStart + offset]) << (8 * offset) }
                let valueStart = lengthStart + 8
                guard valueStart + length <= bytes.count else { break }
                fields.append((name, String(decoding: bytes[valueStart..<(valueStart + length)], as: UTF8.self)))
                index = valueStart + length + 1
            }
        }
    }

    subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }
}

/// A child process with its own environment, standard error in a file, and a deadline.
///
/// Started with CSandbox's posix_spawn (every descriptor but the three closed) and reaped here, not through
/// Foundation's Process: Process learns of an exit when a socket it leaves open in the child closes, then waits for
/// the child with a blocking waitpid on the one thread all Processes share. systemd-socket-activate closes every
/// descriptor it does not pass before it execs the server, so that thread would block until the server exits, and
/// every other test waiting for a Process would hang with it. And a child that kept other children's sockets open
/// would hide their exits.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let errorFile: String
    let outputFile: String
    private let lock = NSLock()
    private var waitStatus: Int32?

    init(_ arguments: [String], environment: [String: String], in scratch: Scratch, name: String,
         input: FileHandle? = nil, output: FileHandle? = nil, errorHandle: FileHandle? = nil) throws {
        errorFile = scratch.file(name + ".err")
        outputFile = scratch.file(name + ".out")
        let inputFD = input?.fileDescriptor ?? open("/dev/null", O_RDONLY | O_CLOEXEC)
        let outputFD = output?.fileDescriptor ?? open(outputFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errorFD = errorHandle?.fileDescriptor ?? open(errorFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer {
            if input == nil { close(inputFD) }
            if output == nil { close(outputFD) }
            if errorHandle == nil { close(errorFD) }
        }
        guard inputFD >= 0, outputFD >= 0, errorFD >= 0 else { throw ServiceTestFailure("cannot open the files for \(name)") }
        if output != nil { _ = FileManager.default.createFile(atPath: outputFile, contents: nil) }
        if errorHandle != nil { _ = FileManager.default.createFile(atPath: errorFile, contents: nil) }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        // Exactly three descriptors, every other one closed (Process's exit sockets of other children included),
        // signals unblocked and at their defaults.
        var child: pid_t = 0
        let result = csandbox_spawn(arguments[0], argv, envp, [inputFD, outputFD, errorFD], 3, 0, &child)
        guard result == 0 else { throw ServiceTestFailure("cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        pid = child
    }

    /// Whether it still runs (reaping it when it ended).
    var isRunning: Bool {
        lock.withLock {
            if waitStatus == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { waitStatus = status }
            }
            return waitStatus == nil
        }
    }

    /// The exit status, or 128 + the signal that ended it.
    private var terminationStatus: Int32 {
        let status = lock.withLock { waitStatus ?? 0 }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
    }

    /// Waits for the exit (polling); kills the process and fails at the deadline.
    func exitStatus(within seconds: Double = 60) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning {
            if Date() > deadline {
                stop()
                throw ServiceTestFailure("the child \(pid) did not exit within \(seconds) s; stderr:\n\(standardError)")
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return terminationStatus
    }

    var standardError: String { (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "" }
    var standardOutput: String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after five seconds; reaps it.
    func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while isRunning && Date() < deadline { usleep(5_000) }
        guard isRunning else { return }
        kill(pid, SIGKILL)
        lock.withLock {
            var status: Int32 = 0
            if waitpid(pid, &status, 0) == pid { waitStatus = status }
        }
    }
}

/// The environment children get: this process's, minus anything systemd might have set for the test runner.
func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                 "DBUS_SESSION_BUS_ADDRESS"] {
        environment[name] = nil
    }
    environment.merge(extra) { $1 }
    return environment
}

/// Polls until a file exists.
func waitForFile(_ path: String, seconds: Double = 30) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !FileManager.default.fileExists(atPath: path) {
        guard Date() < deadline else { throw ServiceTestFailure("\(path) did not appear within \(seconds) s") }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
}

/// A connected unix stream socket, once the server listens: its file appears when it binds, an instant before it
/// listens, so a refused connection is tried again for a few seconds.
func connectUnix(_ path: String) async throws -> Int32 {
    let deadline = Date().addingTimeInterval(10)
    while true {
        do {
            return try connectUnixOnce(path)
        } catch let failure as ServiceTestFailure where failure.description.hasSuffix(String(cString: strerror(ECONNREFUSED))) && Date() < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}

private func connectUnixOnce(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    let result = withUnixAddress(path) { connect(fd, $0, $1) }
    guard result == 0 else {
        close(fd)
        throw ServiceTestFailure("cannot connect to \(path): \(String(cString: strerror(errno)))")
    }
    return fd
}

extension TestClient {
    /// initialize with a client name, then initialized.
    func start(as name: String) async throws {
        let answer = try await call("initialize", ["capabilities": [:], "clientInfo": ["name": .string(name)]])
        guard answer["result"]?["capabilities"] != nil else { throw ServiceTestFailure("initialize failed: \(answer)") }
        notify("initialized", [:])
    }

    /// The client names of the server's sessions (`idpbuild.serverStatus`).
    func sessionClients() async throws -> [String] {
        let answer = try await call("workspace/executeCommand", ["command": "idpbuild.serverStatus"])
        return answer["result"]?["sessions"]?.arrayValue?.compactMap { $0["client"]?.stringValue } ?? []
    }

    func finish() async throws {
        _ = try await call("shutdown")
        notify("exit")
        _ = try await waitForEndOfOutput()
    }
}

/// Calls `body` with the unix socket address of `path`.
func withUnixAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}
