import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// User-mode networking for a sandbox's own network namespace, as rootless Docker, Podman and buildah give RUN:
/// slirp4netns (Debian's `slirp4netns` package) joins the namespace of the sandbox's supervisor, creates `tap0`
/// there (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3) and forwards its traffic through ordinary sockets of the
/// caller. `--disable-host-loopback` keeps the host's 127.0.0.1 services out of reach.
struct UserModeNetwork: Sendable {
    /// The resolver slirp4netns answers on inside the namespace.
    static let resolverAddress = "10.0.2.3"

    /// The running slirp4netns.
    let pid: pid_t
    /// Closing it tells slirp4netns to exit (`--exit-fd`); it also closes when the caller dies.
    private let exitWrite: LockedDescriptor

    /// The slirp4netns executable: `configured`, else the first on `PATH` (or `/usr/bin`); nil when there is none.
    static func locate(_ configured: String?) -> String? {
        if let configured { return access(configured, X_OK) == 0 ? configured : nil }
        return Plumbing.which("slirp4netns") ?? (access("/usr/bin/slirp4netns", X_OK) == 0 ? "/usr/bin/slirp4netns" : nil)
    }

    /// Why user-mode networking cannot start here (a missing binary or no access to /dev/net/tun), or nil when it
    /// should. `idpbuild info` shows it; a run finds out for itself and fails with the same advice.
    static func problem(_ configured: String?) -> String? {
        guard locate(configured) != nil else {
            return configured.map { "\($0) is not an executable" } ?? "slirp4netns is not installed (apt-get install slirp4netns)"
        }
        if geteuid() != 0 && access("/dev/net/tun", R_OK | W_OK) != 0 {
            return "/dev/net/tun is not readable and writable by this user (\(Self.mode("/dev/net/tun")))"
        }
        return nil
    }

    private static func mode(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing" }
        return "mode " + String(st.st_mode & 0o7777, radix: 8)
    }

    /// Starts slirp4netns on the network namespace of `targetPID` and returns once the interface is configured.
    /// `log` receives slirp4netns's messages (read back when it fails). Stops early, killing it, when `wake`
    /// becomes readable (a cancel). Throws `SandboxError.userModeNetwork` with what to install or allow.
    static func start(executable: String, targetPID: pid_t, log: String, wake: Int32, timeout: Double = 20) throws -> UserModeNetwork {
        let (readyRead, readyWrite) = try Plumbing.pipe()
        let (exitRead, exitWrite) = try Plumbing.pipe()
        let logFD = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(readyRead) }
        let spawned: Result<pid_t, any Error>
        if logFD < 0 || devNull < 0 {
            spawned = .failure(SandboxError.system(call: "opening \(log)", errno: errno))
        } else {
            spawned = Result {
                try Plumbing.spawn(executable, arguments: [executable, "--configure", "--mtu=65520", "--disable-host-loopback",
                                                           "--ready-fd=3", "--exit-fd=4", String(targetPID), "tap0"],
                                   environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                   fds: [devNull, logFD, logFD, readyWrite, exitRead], newProcessGroup: true)
            }
        }
        // The child has its copies; each descriptor is closed exactly once (a second close could hit a number
        // another thread has been given since).
        for fd in [readyWrite, exitRead, logFD, devNull] where fd >= 0 { close(fd) }
        let pid: pid_t
        switch spawned {
        case .success(let value): pid = value
        case .failure(let error):
            close(exitWrite)
            throw SandboxError.userModeNetwork(detail: "\(executable) could not be started (\(error))")
        }
        func fail(_ detail: String) -> SandboxError {
            kill(pid, SIGKILL)
            _ = Plumbing.wait(pid)
            close(exitWrite)
            let said = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                .split(separator: "\n").filter { !$0.hasPrefix("sent tapfd") && !$0.hasPrefix("received tapfd") }
                .suffix(3).joined(separator: "; ")
            return SandboxError.userModeNetwork(detail: said.isEmpty ? detail : "\(detail): \(said)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            var ready = [Int16](repeating: 0, count: 2)
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            let n = csandbox_poll_read([readyRead, wake], &ready, 2, remaining)
            if n == 0 { throw fail("slirp4netns did not configure the network within \(Int(timeout)) s") }
            if n < 0 { throw fail("poll failed (\(SandboxError.text(errno)))") }
            if ready[1] != 0 {
                kill(pid, SIGKILL)
                _ = Plumbing.wait(pid)
                close(exitWrite)
                throw CancellationError()
            }
            if ready[0] != 0 {
                let bytes = Plumbing.read(readyRead, max: 16)
                if bytes.contains(UInt8(ascii: "1")) { return UserModeNetwork(pid: pid, exitWrite: LockedDescriptor(exitWrite)) }
                throw fail("slirp4netns exited before the network was up")
            }
        }
    }

    /// Tells slirp4netns to exit (once; it goes on its own time).
    func requestStop() { exitWrite.close() }

    /// Tells slirp4netns to exit, if not done yet, and reaps it (killing it after 2 s).
    func reap() {
        requestStop()
        if Plumbing.waitWithTimeout(pid, seconds: 2) == nil {
            kill(pid, SIGKILL)
            _ = Plumbing.wait(pid)
        }
    }
}

/// A descriptor closed at most once.
final class LockedDescriptor: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32

    init(_ fd: Int32) { self.fd = fd }

    /// Closes it unless that was done before.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
