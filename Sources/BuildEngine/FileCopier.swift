import BuildPlanner
import Foundation
import ImageStore
#if canImport(Glibc)
import Glibc
#endif

/// Who owns what COPY writes.
struct CopyOwner: Hashable {
    var uid: UInt32
    var gid: UInt32
}

/// Writes what a COPY or ADD puts into the image into a staging directory laid out like the image's root, with
/// Docker's semantics: a directory source copies its contents; a file lands at the destination, or inside it when
/// the destination is a directory (a trailing `/`, several sources, or an existing directory); parent directories
/// are created (0755, the `--chown` owner) or, when the image has them, carry the image's own mode and owner so the
/// layer does not change them. The staging directory then becomes the layer (`LayerDiff`) and its unpacked tree.
struct FileCopier {
    /// The staging directory: the layer's root.
    let staging: String
    /// The image being built (to find existing directories and follow its symlinks).
    let target: MergedView
    /// `--chown`, or nil.
    let owner: CopyOwner?
    /// `--chmod` bits, or nil.
    let mode: mode_t?
    /// Times later than this are clamped (SOURCE_DATE_EPOCH), or nil.
    let timestampLimit: Int64?
    /// Directories already made in the staging tree.
    private var made = Set<String>()

    init(staging: String, target: MergedView, owner: CopyOwner?, mode: mode_t?, timestampLimit: Int64?) {
        self.staging = staging
        self.target = target
        self.owner = owner
        self.mode = mode
        self.timestampLimit = timestampLimit
    }

    /// Whether `path` (absolute, in the image) is a directory in the image or already in the staging tree.
    func isDirectory(_ path: String) throws -> Bool {
        let resolved = try target.resolve(pathComponents(path), followLast: true)
        var st = stat()
        if lstat(staging + "/" + resolved.joined(separator: "/"), &st) == 0 { return (st.st_mode & S_IFMT) == S_IFDIR }
        return target.lookup(resolved)?.isDirectory ?? false
    }

    /// The staging path for the image path `path` after following the image's symlinks in its parents, with its
    /// parents created.
    mutating func prepare(_ path: String) throws -> String {
        let components = pathComponents(path)
        guard let last = components.last else { return staging }
        let parent = try target.resolve(Array(components.dropLast()), followLast: true)
        try makeDirectories(parent)
        return staging + "/" + (parent + [last]).joined(separator: "/")
    }

    /// Makes the staging directories for `components` (symlink-free), copying the image's metadata where it has them.
    mutating func makeDirectories(_ components: [String]) throws {
        for count in stride(from: 1, through: components.count, by: 1) {
            let key = components[0..<count].joined(separator: "/")
            if made.contains(key) { continue }
            let path = staging + "/" + key
            var st = stat()
            if lstat(path, &st) == 0 {
                made.insert(key)
                continue
            }
            if let existing = target.lookup(Array(components[0..<count])) {
                guard existing.isDirectory else {
                    throw BuildError.io(path: "/" + key, operation: "copy into (it is not a directory in the image)", errno: ENOTDIR)
                }
                try makeDirectory(path, mode: existing.status.st_mode & 0o7777, uid: existing.status.st_uid, gid: existing.status.st_gid)
                setTimes(path, existing.status.st_mtim)
            } else {
                try makeDirectory(path, mode: 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0)
            }
            made.insert(key)
        }
    }

    private func makeDirectory(_ path: String, mode: mode_t, uid: UInt32, gid: UInt32) throws {
        guard mkdir(path, 0o700) == 0 else { throw BuildError.io(path: path, operation: "create directory", errno: errno) }
        try applyOwnerAndMode(path, uid: uid, gid: gid, mode: mode, isLink: false)
    }

    private func applyOwnerAndMode(_ path: String, uid: UInt32, gid: UInt32, mode: mode_t?, isLink: Bool) throws {
        if lchown(path, uid, gid) != 0 && !(errno == EPERM && uid == getuid() && gid == getgid()) {
            throw BuildError.io(path: path, operation: "set owner \(uid):\(gid) of", errno: errno)
        }
        if let mode, !isLink, chmod(path, mode) != 0 { throw BuildError.io(path: path, operation: "chmod", errno: errno) }
    }

    private func setTimes(_ path: String, _ mtime: timespec) {
        var time = mtime
        if let limit = timestampLimit, Int64(time.tv_sec) > limit { time = timespec(tv_sec: Int(limit), tv_nsec: 0) }
        var times = [time, time]
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    private func ownerFor(_ st: stat, keepsOwners: Bool) -> CopyOwner {
        owner ?? (keepsOwners ? CopyOwner(uid: st.st_uid, gid: st.st_gid) : CopyOwner(uid: 0, gid: 0))
    }

    /// Copies one entry (and a directory's contents, recursively) from `tree` to `destination` (a staging path whose
    /// parents exist). A directory onto an existing directory merges into it.
    mutating func copy(from tree: SourceTree, _ components: [String], entry: MergedView.Entry, to destination: String) throws {
        let st = entry.status
        let who = ownerFor(st, keepsOwners: tree.keepsOwners)
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            var existing = stat()
            let exists = lstat(destination, &existing) == 0
            if exists && (existing.st_mode & S_IFMT) != S_IFDIR { try FileTree.remove(destination) }
            if !exists || (existing.st_mode & S_IFMT) != S_IFDIR {
                try makeDirectory(destination, mode: mode ?? (st.st_mode & 0o7777), uid: who.uid, gid: who.gid)
            }
            for name in tree.children(components) {
                guard let child = tree.entry(components + [name]) else { continue }
                try copy(from: tree, components + [name], entry: child, to: destination + "/" + name)
            }
            if !exists { setTimes(destination, st.st_mtim) }
        case S_IFREG:
            try removeExisting(destination)
            try copyFile(entry.hostPath, to: destination, size: Int64(st.st_size))
            try applyOwnerAndMode(destination, uid: who.uid, gid: who.gid, mode: mode ?? (st.st_mode & 0o7777), isLink: false)
            setTimes(destination, st.st_mtim)
        case S_IFLNK:
            try removeExisting(destination)
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: entry.hostPath)) ?? ""
            guard symlink(link, destination) == 0 else { throw BuildError.io(path: destination, operation: "create symlink", errno: errno) }
            try applyOwnerAndMode(destination, uid: who.uid, gid: who.gid, mode: nil, isLink: true)
            setTimes(destination, st.st_mtim)
        case S_IFIFO, S_IFCHR, S_IFBLK:
            guard tree.keepsOwners, !MergedView.isWhiteout(st) else { return }  // the context's devices are not copied
            try removeExisting(destination)
            guard mknod(destination, st.st_mode, st.st_rdev) == 0 else { throw BuildError.io(path: destination, operation: "create device", errno: errno) }
            try applyOwnerAndMode(destination, uid: who.uid, gid: who.gid, mode: st.st_mode & 0o7777, isLink: false)
        default:
            return  // sockets are not copied
        }
    }

    /// Writes `bytes` as a new file (heredoc sources, downloads).
    mutating func write(_ bytes: [UInt8], to destination: String, mode fileMode: mode_t, mtime: Int64) throws {
        try removeExisting(destination)
        let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BuildError.io(path: destination, operation: "create", errno: errno) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BuildError.io(path: destination, operation: "write", errno: errno) }
            offset += n
        }
        try applyOwnerAndMode(destination, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mode: mode ?? fileMode, isLink: false)
        setTimes(destination, timespec(tv_sec: Int(mtime), tv_nsec: 0))
    }

    private func removeExisting(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 { try FileTree.remove(path) }
    }

    /// Copies file bytes with a 1 MiB buffer.
    private func copyFile(_ source: String, to destination: String, size: Int64) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw BuildError.io(path: source, operation: "read", errno: errno) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw BuildError.io(path: destination, operation: "create", errno: errno) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: Int(min(max(size, 4096), 1 << 20)))
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BuildError.io(path: source, operation: "read", errno: errno) }
            if n == 0 { break }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + offset, n - offset) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw BuildError.io(path: destination, operation: "write", errno: errno) }
                offset += w
            }
        }
    }
}
