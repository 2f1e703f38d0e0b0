import ArgumentParser
import Foundation
import JSONRPC
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild-bench systemd`: the shared server against a fresh process per editor, and the cost of journald logging.
struct SystemdBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd",
        abstract: "Measure connect → initialize on a running socket-activated server next to spawning idpbuild lsp (target ≤ 0.2×), and journald logging's overhead on a build with 10,000 output lines (target ≤ 5%).",
        discussion: """
            Needs Debian's systemd-socket-activate and unshare; the journald part runs each build in a mount \
            namespace whose /run/systemd/journal/socket is a datagram socket this benchmark reads (as root, or in a \
            user namespace of its own). Build first: swift build -c release --product idpbuild --product idpbuild-bench
            """)

    @Option(help: "The idpbuild binary (default: the one next to this benchmark).")
    var binary: String?

    @Option(help: "Connections (and process starts) measured.")
    var connections = 100

    @Option(help: "Builds measured per logging mode.")
    var builds = 9

    @Option(help: "Output lines of the benchmark build.")
    var lines = 10_000

    func run() throws {
        let path = binary ?? URL(fileURLWithPath: Swift.CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("idpbuild").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("no idpbuild binary at \(path): build it with `swift build -c release --product idpbuild`, or pass --binary")
        }
        var template = Array("/tmp/idpbuild-bench-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw ValidationError("mkdtemp failed") }
        let folder = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        print("idpbuild systemd benchmark — \(path)")
        try measureConnections(path, folder: folder)
        try measureJournal(path, folder: folder)
    }

    // MARK: connect → initialize

    private func measureConnections(_ path: String, folder: String) throws {
        var spawned: [Double] = []
        for _ in 0..<connections {
            let server = try LSPProcess(binary: path)
            spawned.append(try server.initialize())
            try server.stop()
        }
        let socket = folder + "/lsp.sock"
        let activator = Process()
        activator.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        activator.arguments = ["--listen=" + socket, "--fdname=lsp", path, "lsp", "--listen", "auto", "--log-level", "error"]
        activator.standardError = FileHandle.nullDevice
        try activator.run()
        defer {
            activator.terminate()
            activator.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) {
            guard Date() < deadline else { throw ValidationError("systemd-socket-activate did not make \(socket)") }
            usleep(2_000)
        }
        // The first connection starts the server (socket activation); the measured ones find it running.
        _ = try initializeOverSocket(socket)
        var connected: [Double] = []
        for _ in 0..<connections { connected.append(try initializeOverSocket(socket)) }
        let spawnMedian = percentile(spawned, 0.5), socketMedian = percentile(connected, 0.5)
        print(String(format: "spawn idpbuild lsp (stdio) → initialize response: median %.2f ms, p99 %.2f ms (%d starts)",
                     spawnMedian, percentile(spawned, 0.99), connections))
        print(String(format: "connect to the socket-activated server → initialize response: median %.2f ms, p99 %.2f ms (%d connections)",
                     socketMedian, percentile(connected, 0.99), connections))
        print(String(format: "ratio (median): %.3f× (target ≤ 0.2×)", socketMedian / spawnMedian))
    }

    /// Connects, sends initialize, waits for the answer; the milliseconds from before connect() to the answer.
    private func initializeOverSocket(_ path: String) throws -> Double {
        let started = DispatchTime.now().uptimeNanoseconds
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        let result = withUnixAddress(path) { connect(fd, $0, $1) }
        guard result == 0 else { throw ValidationError("cannot connect to \(path): \(String(cString: strerror(errno)))") }
        let body = Data(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":null,"rootUri":null,"capabilities":{}}}"#.utf8)
        let frame = Framing.frame(body)
        _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var decoder = FrameDecoder(maximumMessageSize: 1 << 24)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let event = decoder.next(), case .message = event { break }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { throw ValidationError("the server closed the connection before answering initialize") }
            decoder.append(Array(buffer[0..<count]))
        }
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
    }

    // MARK: journald overhead

    private func measureJournal(_ path: String, folder: String) throws {
        let context = folder + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context + "/busybox")
        try """
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "awk", "BEGIN { for (i = 1; i <= \(lines); i++) printf \\"build output line %d of \(lines): compiling module %d\\\\n\\", i, i }"]
            """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: folder + "/journal", withIntermediateDirectories: true)
        let receiver = try JournalReceiver(path: folder + "/journal/socket")
        var plain: [Double] = [], journald: [Double] = []
        // Alternate the two modes so drift on the machine hits both alike; the first pair warms caches.
        for round in 0...builds {
            let stderrTime = try timedBuild(path, folder: folder, context: context, log: "stderr")
            let before = receiver.count
            let journalTime = try timedBuild(path, folder: folder, context: context, log: "journald")
            let received = receiver.waitForMore(than: before, atLeast: lines)
            guard received >= lines else { throw ValidationError("the journal socket got \(received) of the \(lines) output lines") }
            if round > 0 {
                plain.append(stderrTime)
                journald.append(journalTime)
            }
        }
        let plainMedian = percentile(plain, 0.5), journalMedian = percentile(journald, 0.5)
        print(String(format: "build with %d output lines, --log stderr (to /dev/null): median %.0f ms (%d builds)", lines, plainMedian, builds))
        print(String(format: "the same build, --log journald (entries with fields, output lines gathered, redaction): median %.0f ms", journalMedian))
        print(String(format: "journald overhead (median): %+.1f%% (target ≤ 5%%)", (journalMedian / plainMedian - 1) * 100))
    }

    private func timedBuild(_ path: String, folder: String, context: String, log: String) throws -> Double {
        let script = """
            set -e
            if [ ! -d /run/systemd/journal ]; then
              if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; fi
              mkdir -p /run/systemd/journal
            fi
            mount --bind "$0" /run/systemd/journal
            exec "$@"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        let namespace = getuid() == 0 ? ["--mount", "--propagation", "private"] : ["--user", "--map-root-user", "--mount", "--propagation", "private"]
        process.arguments = namespace + ["/bin/sh", "-c", script, folder + "/journal", path, "build", "--no-push", "--no-cache", "--root", folder + "/store",
                                         "-t", "bench-output", "--log", log, context]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let started = DispatchTime.now().uptimeNanoseconds
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("the benchmark build failed (--log \(log)); run it by hand to see why") }
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
    }

    private func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
    }
}

/// Stands in for journald: a datagram socket that reads entries as fast as they come and counts the output lines
/// in them.
final class JournalReceiver: @unchecked Sendable {
    private let fd: Int32
    private let path: String
    private let lock = NSLock()
    private var received = 0

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard fd >= 0, bound == 0 else { throw ValidationError("cannot bind \(path): \(String(cString: strerror(errno)))") }
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 1 << 17)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count < 0 { break }
                // Count the output lines the entry carries (one entry may carry many).
                let lines = String(decoding: buffer[0..<count], as: UTF8.self).components(separatedBy: "build output line ").count - 1
                lock.withLock { received += lines }
            }
        }
        thread.start()
    }

    var count: Int { lock.withLock { received } }

    /// Waits up to 5 s until `atLeast` entries arrived after `before`; returns how many did.
    func waitForMore(than before: Int, atLeast: Int) -> Int {
        let deadline = Date().addingTimeInterval(5)
        while count - before < atLeast && Date() < deadline { usleep(1_000) }
        return count - before
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
