import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers shared by the test targets: temp dirs, real server processes, a test CA, polling with deadlines.
public enum TestSupport {
    /// The repository's `Fixtures/` folder.
    public static let fixtures: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Runs a program to completion and returns its status and output.
    @discardableResult
    public static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil,
                           currentDirectory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        try process.run()
        if let stdin { inp.fileHandleForWriting.write(stdin) }
        try? inp.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot fill one and block.
        let errData = Locked(Data())
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.value, as: UTF8.self))
    }

    /// `run` on a thread of its own, so that a test waiting for a process does not hold one of Swift concurrency's
    /// few threads (two on a two-core machine) for the whole build.
    public static func runDetached(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try run(arguments) }) }.start()
        }
    }

    /// Runs a program and throws with its stderr unless it exits 0.
    @discardableResult
    public static func check(_ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws -> String {
        let result = try run(arguments, stdin: stdin, environment: environment)
        guard result.status == 0 else {
            throw TestFailure("\(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    /// Polls a condition until it holds or the deadline passes.
    public static func waitUntil(timeout: Double = 20, what: String, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw TestFailure("timed out after \(timeout)s waiting for \(what)")
    }

    private static let handedOut = Locked(Set<Int>())

    /// A TCP port that was free a moment ago on 127.0.0.1, never the same twice in one test process
    /// (suites run in parallel, and two servers must not race for one port).
    public static func freePort() -> Int {
        while true {
            let port = kernelFreePort()
            let fresh = handedOut.mutate { $0.insert(port).inserted }
            if fresh { return port }
        }
    }

    private static func kernelFreePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether a TCP connect to 127.0.0.1:port succeeds.
    public static func isListening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// A test set-up failure with a message.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Makes a failure.
    public init(_ description: String) { self.description = description }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    private var isDone = false
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return isDone }
    func set(_ v: T) { lock.lock(); stored = v; isDone = true; lock.unlock() }
    func mutate<R>(_ body: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&stored) }
}

/// A temporary directory removed by `remove()` (call it in a `defer`).
public final class TemporaryDirectory: @unchecked Sendable {
    /// Its path.
    public let path: String
    /// Its URL.
    public var url: URL { URL(fileURLWithPath: path) }

    /// Creates a fresh directory under /tmp.
    public init(_ label: String = "test") throws {
        var template = Array("/tmp/idpbuild-\(label)-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: result)
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes a file inside the directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Removes the directory and everything in it (making read-only dirs writable first).
    public func remove() {
        _ = try? TestSupport.run(["chmod", "-R", "u+rwX", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A long-running child process (a server) that the test stops.
public final class ServerProcess: @unchecked Sendable {
    private let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    /// Where the child's stderr goes, for failure messages.
    public let logPath: String
    /// The port it listens on.
    public private(set) var port: Int = 0

    /// Starts a program; when `announcesPort` it must print "PORT n" on stdout.
    public init(_ arguments: [String], logPath: String, announcesPort: Bool, port: Int = 0,
                environment: [String: String]? = nil) throws {
        self.logPath = logPath
        self.port = port
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        if announcesPort {
            let fd = stdoutPipe.fileHandleForReading.fileDescriptor
            var line = [UInt8]()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 100) > 0 else { continue }
                var byte: UInt8 = 0
                guard read(fd, &byte, 1) == 1 else { break }
                if byte == 0x0a { break }
                line.append(byte)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("PORT "), let p = Int(text.dropFirst(5)) else {
                stop()
                throw TestFailure("\(arguments.joined(separator: " ")) did not announce its port: \(text) \(log)")
            }
            self.port = p
        }
    }

    /// The child's stderr so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the child and waits for it.
    public func stop() {
        try? stdinPipe.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
