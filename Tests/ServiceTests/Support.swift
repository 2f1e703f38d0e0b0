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
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
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
final class Child: @unchecked Sendable {
    let process = Process()
    let errorFile: String
    let outputFile: String

    init(_ arguments: [String], environment: [String: String], in scratch: Scratch, name: String,
         input: FileHandle? = nil, output: FileHandle? = nil, errorHandle: FileHandle? = nil) throws {
        errorFile = scratch.file(name + ".err")
        outputFile = scratch.file(name + ".out")
        _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
        _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.standardInput = input ?? FileHandle.nullDevice
        process.standardOutput = try output ?? FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
        process.standardError = try errorHandle ?? FileHandle(forWritingTo: URL(fileURLWithPath: errorFile))
        try process.run()
    }

    /// Waits for the exit (polling); terminates the process and fails at the deadline.
    func exitStatus(within seconds: Double = 60) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw ServiceTestFailure("\(process.arguments ?? []) did not exit within \(seconds) s; stderr:\n\(standardError)")
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return process.terminationStatus
    }

    var standardError: String { (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "" }
    var standardOutput: String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
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

/// A connected unix stream socket.
func connectUnix(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
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
