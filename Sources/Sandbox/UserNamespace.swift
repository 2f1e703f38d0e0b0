import CSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Entering a user namespace from an unprivileged process: the re-exec pattern (the child's constructor in
/// CSandbox unshares before the Swift runtime runs; this side writes the ID maps with newuidmap/newgidmap).
public enum UserNamespace {
    /// True when the caller can set up mounts and namespaces itself (real root, or root of a user namespace).
    public static var callerIsRoot: Bool { geteuid() == 0 }

    /// The mapping an unprivileged caller gets (container root = the caller, 1... = its subordinate ranges),
    /// or `.identity` when the caller is root. The warning is set for a single-ID fallback.
    public static func mapping(policy: SubordinateIDPolicy = SubordinateIDPolicy()) throws -> (IDMapping, warning: String?) {
        if callerIsRoot { return (.identity, nil) }
        let uid = getuid(), gid = getgid()
        let name = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? String(uid)
        return try policy.mapping(user: name, uid: uid, gid: gid)
    }

    /// Re-executes this program (same arguments) as root of a new user namespace, waits for it while
    /// forwarding SIGINT/SIGTERM/SIGHUP, and returns its status. Call from a thread that stays blocked (the
    /// child's parent-death signal follows the spawning thread). The re-executed copy continues from `main`
    /// with `callerIsRoot == true`.
    /// `arguments` defaults to this process's own; a caller such as a build service can pass a worker
    /// subcommand instead (`[argv0, "build-worker", ...]`).
    public static func reexecuteSelf(arguments: [String] = CommandLine.arguments,
                                     policy: SubordinateIDPolicy = SubordinateIDPolicy(),
                                     warn: (String) -> Void = { _ in }) throws -> Termination {
        let (mapping, warning) = try Self.mapping(policy: policy)
        if let warning { warn(warning) }
        return try spawnEntering(mapping: mapping, mode: "userns", executable: "/proc/self/exe",
                                 arguments: arguments, forwardSignals: true)
    }

    /// Runs a host program as root of a new user namespace with the caller's mapping (like `buildah unshare`):
    /// for example `rm -rf` of a tree that holds files owned by subordinate IDs. Returns its termination.
    public static func run(_ arguments: [String], helperExecutable: String = "/proc/self/exe",
                           policy: SubordinateIDPolicy = SubordinateIDPolicy(),
                           warn: (String) -> Void = { _ in }) throws -> Termination {
        precondition(!arguments.isEmpty, "UserNamespace.run needs a program")
        let (mapping, warning) = try Self.mapping(policy: policy)
        if let warning { warn(warning) }
        if callerIsRoot {
            guard let program = arguments[0].contains("/") ? arguments[0] : Plumbing.which(arguments[0]) else {
                return .exited(127)
            }
            let pid = try Plumbing.spawn(program, arguments: arguments,
                                         environment: Plumbing.currentEnvironment(), fds: [0, 1, 2], newProcessGroup: false)
            return Plumbing.wait(pid)
        }
        return try spawnEntering(mapping: mapping, mode: "userns-exec", executable: helperExecutable,
                                 arguments: [helperExecutable] + arguments, forwardSignals: false)
    }

    private static func spawnEntering(mapping: IDMapping, mode: String, executable: String, arguments: [String],
                                      forwardSignals: Bool) throws -> Termination {
        let (parentEnd, childEnd) = try Plumbing.socketPair()
        defer { close(parentEnd) }
        let environment = Plumbing.currentEnvironment().filter { !$0.hasPrefix(CSANDBOX_MARKER + "=") }
            + [CSANDBOX_MARKER + "=" + mode]
        let pid: pid_t
        do {
            pid = try Plumbing.spawn(executable, arguments: arguments, environment: environment,
                                     fds: [0, 1, 2, childEnd], newProcessGroup: forwardSignals)
        } catch {
            close(childEnd)
            throw error
        }
        close(childEnd)
        if forwardSignals { csandbox_forward_signals(pid) }
        let answer = Plumbing.read(parentEnd, max: 1)
        if answer == [UInt8(ascii: "U")] {
            do {
                try IDMapWriter.write(mapping, to: pid)
            } catch {
                close(parentEnd)
                _ = Plumbing.wait(pid)
                throw error
            }
            _ = Plumbing.writeAll(parentEnd, [UInt8(ascii: "M")])
        }
        // No 'U': the child could not unshare; it printed why and exits 125.
        return Plumbing.wait(pid)
    }
}

/// Writes a child's uid and gid maps from the parent side.
enum IDMapWriter {
    static func write(_ mapping: IDMapping, to pid: pid_t) throws {
        if mapping.isSingleID {
            // An unprivileged process may map its own IDs once setgroups is denied (user_namespaces(7)).
            try Plumbing.writeFile("/proc/\(pid)/setgroups", "deny")
            try Plumbing.writeFile("/proc/\(pid)/uid_map", line(mapping.uids))
            try Plumbing.writeFile("/proc/\(pid)/gid_map", line(mapping.gids))
            return
        }
        try run(tool: "newuidmap", pid: pid, entries: mapping.uids)
        try run(tool: "newgidmap", pid: pid, entries: mapping.gids)
    }

    private static func line(_ entries: [IDMapEntry]) -> String {
        entries.map { "\($0.containerID) \($0.hostID) \($0.count)\n" }.joined()
    }

    private static func run(tool: String, pid: pid_t, entries: [IDMapEntry]) throws {
        guard let path = Plumbing.which(tool) else { throw SandboxError.missingTool(name: tool, package: "uidmap") }
        var arguments = [tool, String(pid)]
        for entry in entries { arguments += [String(entry.containerID), String(entry.hostID), String(entry.count)] }
        let (errRead, errWrite) = try Plumbing.pipe()
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        let child: pid_t
        do {
            child = try Plumbing.spawn(path, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                       fds: [devNull, devNull, errWrite], newProcessGroup: false)
        } catch {
            close(errRead); close(errWrite)
            throw error
        }
        close(errWrite)
        let message = String(decoding: Plumbing.readToEnd(errRead), as: UTF8.self)
        close(errRead)
        let status = Plumbing.wait(child)
        guard status == .exited(0) else {
            let detail = message.split(separator: "\n").joined(separator: "; ")
            throw SandboxError.idMappingFailed(tool: tool, detail: detail.isEmpty ? "it ended with \(status)" : detail)
        }
    }
}

extension UserNamespace {
    /// Starts `executable` as a worker process — root of a new user namespace with the caller's mapping when the
    /// caller is unprivileged, a plain child when it is root — with `fds` as its descriptors 0, 1, 2, ….
    /// `started` receives the worker's pid (to signal it); the call returns its termination. The worker is spawned
    /// and waited for on a dedicated thread that stays blocked meanwhile, because a user-namespace child's
    /// parent-death signal follows the thread that spawned it.
    public static func runWorker(executable: String, arguments: [String], environment: [String], fds: [Int32],
                                 policy: SubordinateIDPolicy = SubordinateIDPolicy(), warn: @escaping @Sendable (String) -> Void = { _ in },
                                 started: @escaping @Sendable (pid_t) -> Void) async throws -> Termination {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Termination, any Error>) in
            let thread = Thread {
                do {
                    continuation.resume(returning: try spawnWorker(executable: executable, arguments: arguments, environment: environment,
                                                                   fds: fds, policy: policy, warn: warn, started: started))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "idpbuild-worker"
            thread.start()
        }
    }

    private static func spawnWorker(executable: String, arguments: [String], environment: [String], fds: [Int32],
                                    policy: SubordinateIDPolicy, warn: (String) -> Void, started: (pid_t) -> Void) throws -> Termination {
        let clean = environment.filter { !$0.hasPrefix(CSANDBOX_MARKER + "=") }
        if callerIsRoot {
            let pid = try Plumbing.spawn(executable, arguments: arguments, environment: clean, fds: fds, newProcessGroup: true)
            started(pid)
            return Plumbing.wait(pid)
        }
        let (mapping, warning) = try Self.mapping(policy: policy)
        if let warning { warn(warning) }
        let (parentEnd, childEnd) = try Plumbing.socketPair()
        defer { close(parentEnd) }
        let pid: pid_t
        do {
            // The constructor's user-namespace handshake reads descriptor 3; the worker's own descriptors follow it.
            var childFDs = Array(fds.prefix(3))
            childFDs.append(childEnd)
            pid = try Plumbing.spawn(executable, arguments: arguments, environment: clean + [CSANDBOX_MARKER + "=userns"],
                                     fds: childFDs, newProcessGroup: true)
        } catch {
            close(childEnd)
            throw error
        }
        close(childEnd)
        let answer = Plumbing.read(parentEnd, max: 1)
        if answer == [UInt8(ascii: "U")] {
            do {
                try IDMapWriter.write(mapping, to: pid)
            } catch {
                kill(pid, SIGKILL)
                _ = Plumbing.wait(pid)
                throw error
            }
            _ = Plumbing.writeAll(parentEnd, [UInt8(ascii: "M")])
        }
        started(pid)
        return Plumbing.wait(pid)
    }
}

import Foundation
