import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small wrappers over the system calls the sandbox's caller side needs; every unsafe pointer stays here.
enum Plumbing {
    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = csandbox_pipe(&fds)
        guard rc == 0 else { throw SandboxError.system(call: "pipe", errno: rc) }
        return (fds[0], fds[1])
    }

    static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = csandbox_socketpair(&fds)
        guard rc == 0 else { throw SandboxError.system(call: "socketpair", errno: rc) }
        return (fds[0], fds[1])
    }

    /// posix_spawn with an exact descriptor table (`fds[i]` becomes descriptor i).
    static func spawn(_ path: String, arguments: [String], environment: [String], fds: [Int32],
                      newProcessGroup: Bool) throws -> pid_t {
        var pid: pid_t = 0
        let rc = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                csandbox_spawn(path, argv, envp, fds, Int32(fds.count), newProcessGroup ? 1 : 0, &pid)
            }
        }
        guard rc == 0 else { throw SandboxError.system(call: "spawning \(path)", errno: rc) }
        return pid
    }

    /// Waits for a child and decodes its status.
    static func wait(_ pid: pid_t) -> Termination {
        let status = csandbox_wait(pid)
        if status < 0 { return .exited(-1) }
        if csandbox_wifsignaled(status) != 0 { return .signaled(csandbox_wtermsig(status)) }
        return .exited(csandbox_wexitstatus(status))
    }

    /// Waits up to `seconds` for a child; nil when it is still running. Sleeps on a pidfd (no polling interval to
    /// add to the wait) where the kernel has them.
    static func waitWithTimeout(_ pid: pid_t, seconds: Double) -> Termination? {
        let deadline = Date().addingTimeInterval(seconds)
        let pidfd = csandbox_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }
        while true {
            var status: Int32 = 0
            let w = waitpid(pid, &status, WNOHANG)
            if w == pid {
                if csandbox_wifsignaled(status) != 0 { return .signaled(csandbox_wtermsig(status)) }
                return .exited(csandbox_wexitstatus(status))
            }
            if w < 0 && errno != EINTR { return .exited(-1) }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return nil }
            if pidfd >= 0 {
                var ready: [Int16] = [0]
                _ = csandbox_poll_read([pidfd], &ready, 1, Int32(min(remaining, 1) * 1000) + 1)
            } else {
                usleep(2_000)
            }
        }
    }

    /// Writes everything; on a socket with MSG_NOSIGNAL, so a supervisor that died early gives EPIPE rather
    /// than a SIGPIPE that would kill the caller.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        var isSocket = true
        while offset < bytes.count {
            var n = -1
            if isSocket {
                n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == ENOTSOCK { isSocket = false; continue }
            } else {
                n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Reads up to `max` bytes; returns an empty array at end of file.
    static func read(_ fd: Int32, max: Int = 65536) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, max) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return [] }
            return Array(buffer[0..<n])
        }
    }

    static func readToEnd(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = read(fd)
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    static func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SandboxError.system(call: "creating \(path)", errno: errno) }
        defer { close(fd) }
        guard writeAll(fd, Array(text.utf8)) else { throw SandboxError.system(call: "writing \(path)", errno: errno) }
    }

    static func makeTemporaryDirectory(in parent: String, prefix: String) throws -> String {
        var template = Array((parent + "/" + prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw SandboxError.system(call: "creating a temporary directory in \(parent)", errno: errno) }
        return cString(template)
    }

    /// Decodes a NUL-terminated C buffer.
    static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Removes a tree the caller owns (best effort; subordinate-ID files are removed by the supervisor).
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            chmod(path, 0o700)
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The first executable named `name` on `PATH` (or the usual system directories).
    static func which(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
            let candidate = dir + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static func currentEnvironment() -> [String] {
        var result: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            result.append(String(cString: entry))
            pointer += 1
        }
        return result
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
