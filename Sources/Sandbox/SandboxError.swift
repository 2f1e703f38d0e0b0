#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong while preparing, starting or supervising a sandboxed process.
public enum SandboxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The command to run was empty.
    case emptyCommand
    /// A root filesystem (lower) directory does not exist or is not a directory.
    case missingRootfs(path: String)
    /// The upper directory could not be created or is not a directory.
    case badUpperDirectory(path: String, errno: Int32)
    /// The `USER` value names a user that is not in the root filesystem's /etc/passwd.
    case unknownUser(user: String, passwd: String?)
    /// The `USER` value names a group that is not in the root filesystem's /etc/group.
    case unknownGroup(group: String, groupFile: String?)
    /// The `USER` value is malformed.
    case invalidUser(String)
    /// The caller is unprivileged and has no /etc/subuid or /etc/subgid range, and single-ID mode was refused.
    case noSubordinateRange(user: String, file: String)
    /// A helper program (newuidmap, newgidmap) is missing.
    case missingTool(name: String, package: String)
    /// Writing the user namespace's ID maps failed.
    case idMappingFailed(tool: String, detail: String)
    /// The kernel refused to create a user namespace.
    case userNamespacesRefused(errno: Int32)
    /// The kernel has no overlayfs, or refused the overlay mount.
    case overlayUnsupported(errno: Int32, detail: String)
    /// Creating the mount, pid, ipc, uts or network namespaces failed.
    case namespaceFailed(what: String, errno: Int32)
    /// Setting up a mount inside the sandbox failed.
    case mountFailed(what: String, errno: Int32)
    /// A system call in the caller failed (pipe, spawn, temporary directory).
    case system(call: String, errno: Int32)
    /// The command ran longer than the configured timeout and was killed with its whole process tree.
    case timedOut(seconds: Double)
    /// The sandbox supervisor ended without reporting a result.
    case supervisorFailed(detail: String)

    /// An extra mount cannot be set up as given.
    case invalidMount(target: String, reason: String)
    /// The user-mode network of a private network namespace (slirp4netns) could not start.
    case userModeNetwork(detail: String)
    /// A sentence that says what failed, where, and what to try.
    public var description: String {
        switch self {
        case .emptyCommand:
            return "no command given: pass the program and its arguments after `--`"
        case .missingRootfs(let path):
            return "root filesystem directory \(path) does not exist or is not a directory: pass an unpacked image layer directory"
        case .badUpperDirectory(let path, let err):
            return "upper directory \(path) cannot be used (\(Self.text(err))): pass a writable directory on a filesystem that supports overlayfs (ext4, xfs, tmpfs)"
        case .unknownUser(let user, let passwd):
            if let passwd { return "unable to find user \(user): no matching entries in the root filesystem's /etc/passwd (\(passwd)); use a numeric uid[:gid] or add the user to the image" }
            return "unable to find user \(user): the root filesystem has no /etc/passwd; use a numeric uid[:gid]"
        case .unknownGroup(let group, let file):
            if let file { return "unable to find group \(group): no matching entries in the root filesystem's /etc/group (\(file)); use a numeric gid" }
            return "unable to find group \(group): the root filesystem has no /etc/group; use a numeric gid"
        case .invalidUser(let user):
            return "invalid user \"\(user)\": expected NAME, UID, NAME:GROUP or UID:GID"
        case .noSubordinateRange(let user, let file):
            return "user \(user) has no range in \(file): add one with `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)`, or allow a single-ID mapping"
        case .missingTool(let name, let package):
            return "\(name) is not installed: install Debian's `\(package)` package (apt-get install \(package))"
        case .idMappingFailed(let tool, let detail):
            return "\(tool) could not write the user namespace's ID map: \(detail); check /etc/subuid and /etc/subgid and that \(tool) is setuid root (Debian's uidmap package)"
        case .userNamespacesRefused(let err):
            return "the kernel refused to create a user namespace (\(Self.text(err))): enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, kernel.apparmor_restrict_unprivileged_userns=0) or run as root"
        case .overlayUnsupported(let err, let detail):
            if err == ENODEV { return "this kernel has no overlayfs (\(Self.text(err))): load it with `modprobe overlay` (CONFIG_OVERLAY_FS)" }
            return "the overlay mount was refused (\(Self.text(err))) for \(detail): rootless overlayfs needs Linux 5.11 or newer, and upper and work directories on the same local filesystem (not overlayfs, NFS or FUSE)"
        case .namespaceFailed(let what, let err):
            return "creating the \(what) failed (\(Self.text(err))): the kernel or a seccomp/AppArmor profile forbids it; run on a host that allows namespaces"
        case .mountFailed(let what, let err):
            return "setting up \(what) inside the sandbox failed (\(Self.text(err)))"
        case .system(let call, let err):
            return "\(call) failed (\(Self.text(err)))"
        case .timedOut(let seconds):
            return "the command ran longer than the timeout of \(seconds) s and was killed with all its processes"
        case .supervisorFailed(let detail):
            return "the sandbox supervisor ended without a result: \(detail)"
        case .invalidMount(let target, let reason):
            return "cannot mount at \(target): \(reason)"
        case .userModeNetwork(let detail):
            return "the sandbox's network could not start (\(detail)): it gets a network namespace of its own with user-mode " +
                "networking, which needs slirp4netns (apt-get install slirp4netns) and, without root, /dev/net/tun readable and " +
                "writable by your user (mode 0666, as most distributions ship it: sudo chmod 0666 /dev/net/tun); " +
                "or run without a network (--network=none)"
        }
    }

    static func text(_ err: Int32) -> String {
        String(cString: strerror(err))
    }
}
