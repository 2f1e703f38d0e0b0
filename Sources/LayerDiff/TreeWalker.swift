import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// The tar half: a libarchive PAX writer whose output goes to a `CompressedSink`.
final class TarWriter {
    private let archive: OpaquePointer
    private let sink: CompressedSink
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)

    init(sink: CompressedSink) throws {
        self.sink = sink
        guard let archive = archive_write_new() else { throw LayerDiffError.archive(path: "layer", message: "out of memory") }
        self.archive = archive
        // PAX restricted: plain ustar headers unless a name, size or xattr needs an extension (as Go's tar does).
        archive_write_set_format_pax_restricted(archive)
        archive_write_add_filter_none(archive)
        archive_write_set_bytes_per_block(archive, 10240)
        archive_write_set_bytes_in_last_block(archive, 1)
        let opened = archive_write_open2(archive, Unmanaged.passUnretained(sink).toOpaque(), nil, { _, context, buffer, length in
            let sink = Unmanaged<CompressedSink>.fromOpaque(context!).takeUnretainedValue()
            return sink.accept(UnsafeRawBufferPointer(start: buffer, count: length))
        }, nil, nil)
        guard opened == ARCHIVE_OK else { throw error("layer", "opening the tar writer") }
    }

    deinit { archive_write_free(archive) }

    struct Header {
        var path: String
        var type: mode_t
        var mode: mode_t
        var uid: UInt32
        var gid: UInt32
        var size: Int64 = 0
        var mtime: Int64
        var mtimeNanoseconds: Int = 0
        var symlinkTarget: String?
        var hardlinkTarget: String?
        var deviceMajor: UInt32 = 0
        var deviceMinor: UInt32 = 0
        var xattrs: [(String, [UInt8])] = []
    }

    func write(_ header: Header, contentsOf fd: Int32? = nil, sourcePath: String) throws {
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, header.path)
        archive_entry_set_mode(entry, header.type | (header.mode & 0o7777))
        archive_entry_set_uid(entry, Int64(header.uid))
        archive_entry_set_gid(entry, Int64(header.gid))
        archive_entry_set_mtime(entry, time_t(header.mtime), header.mtimeNanoseconds)
        if let target = header.symlinkTarget { archive_entry_set_symlink(entry, target) }
        if let target = header.hardlinkTarget {
            archive_entry_set_hardlink(entry, target)
            archive_entry_set_size(entry, 0)
        } else {
            archive_entry_set_size(entry, header.type == S_IFREG ? header.size : 0)
        }
        if header.type == S_IFCHR || header.type == S_IFBLK {
            archive_entry_set_rdevmajor(entry, dev_t(header.deviceMajor))
            archive_entry_set_rdevminor(entry, dev_t(header.deviceMinor))
        }
        for (name, value) in header.xattrs {
            value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, name, $0.baseAddress, $0.count) }
        }
        guard archive_write_header(archive, entry) == ARCHIVE_OK else { throw error(sourcePath, "header") }
        guard let fd, header.hardlinkTarget == nil, header.type == S_IFREG else { return }
        var remaining = header.size
        while remaining > 0 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, Int(remaining))) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw LayerDiffError.unreadable(path: sourcePath, errno: errno) }
            // A file that shrank while we read it: pad with zeros so the header's size stays true.
            let chunk = n == 0 ? min(buffer.count, Int(remaining)) : n
            if n == 0 { for i in 0..<chunk { buffer[i] = 0 } }
            let written = buffer.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, chunk) }
            guard written >= 0 else { throw error(sourcePath, "data") }
            remaining -= Int64(chunk)
        }
    }

    func finish() throws {
        guard archive_write_close(archive) == ARCHIVE_OK else { throw error("layer", "closing the tar stream") }
    }

    private func error(_ path: String, _ what: String) -> LayerDiffError {
        if sink.writeError != 0 { return .output(path: path, errno: sink.writeError) }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return .archive(path: path, message: "\(what): \(message)")
    }
}

/// Walks an upper directory in name order and writes one tar entry per change.
struct TreeWalker {
    let root: String
    let writer: TarWriter
    let mapping: OwnerMapping
    let timestampLimit: Int64?
    private(set) var entryCount = 0
    private var hardlinks: [Key: String] = [:]

    private struct Key: Hashable { var device: UInt64; var inode: UInt64 }

    init(root: String, writer: TarWriter, mapping: OwnerMapping, timestampLimit: Int64?) {
        self.root = root
        self.writer = writer
        self.mapping = mapping
        self.timestampLimit = timestampLimit
    }

    mutating func walk() throws {
        try walk(directory: root, relative: "")
    }

    private mutating func walk(directory: String, relative: String) throws {
        for name in try Self.sortedNames(directory) {
            let path = directory + "/" + name
            let inLayer = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { throw LayerDiffError.unreadable(path: path, errno: errno) }
            let type = st.st_mode & S_IFMT
            var mtime = Int64(st.st_mtim.tv_sec)
            var nanoseconds = Int(st.st_mtim.tv_nsec)
            if let limit = timestampLimit, mtime > limit { mtime = limit; nanoseconds = 0 }

            // overlayfs whiteout: a character device 0/0 means "deleted from the lower layers".
            if type == S_IFCHR && st.st_rdev == 0 {
                let whiteout = (relative.isEmpty ? "" : relative + "/") + ".wh." + name
                try writer.write(TarWriter.Header(path: whiteout, type: S_IFREG, mode: 0, uid: 0, gid: 0, mtime: mtime),
                                 sourcePath: path)
                entryCount += 1
                continue
            }
            if type == S_IFSOCK { continue } // tar has no sockets; Docker drops them too

            let attributes = try Self.xattrs(path)
            for (key, _) in attributes where Self.isOverlay(key) {
                let suffix = key.split(separator: ".").dropFirst(2).joined(separator: ".")
                if suffix == "redirect" || suffix == "metacopy" {
                    throw LayerDiffError.unsupportedOverlayFeature(path: path, attribute: key)
                }
            }
            guard let uid = mapping.container(st.st_uid, group: false) else {
                throw LayerDiffError.unmappedOwner(path: path, hostID: st.st_uid, isGroup: false)
            }
            guard let gid = mapping.container(st.st_gid, group: true) else {
                throw LayerDiffError.unmappedOwner(path: path, hostID: st.st_gid, isGroup: true)
            }
            var header = TarWriter.Header(path: inLayer, type: type, mode: st.st_mode, uid: uid, gid: gid,
                                          mtime: mtime, mtimeNanoseconds: nanoseconds)
            header.xattrs = attributes.filter { !Self.isOverlay($0.0) }
            switch type {
            case S_IFDIR:
                try writer.write(header, sourcePath: path)
                entryCount += 1
                let opaque = attributes.contains { ($0.0 == "trusted.overlay.opaque" || $0.0 == "user.overlay.opaque") && $0.1 == [UInt8(ascii: "y")] }
                if opaque {
                    try writer.write(TarWriter.Header(path: inLayer + "/.wh..wh..opq", type: S_IFREG, mode: 0, uid: 0, gid: 0,
                                                      mtime: mtime), sourcePath: path)
                    entryCount += 1
                }
                try walk(directory: path, relative: inLayer)
            case S_IFLNK:
                header.symlinkTarget = try Self.readLink(path)
                try writer.write(header, sourcePath: path)
                entryCount += 1
            case S_IFREG:
                let key = Key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                if st.st_nlink > 1, let first = hardlinks[key] {
                    header.hardlinkTarget = first
                    try writer.write(header, sourcePath: path)
                } else {
                    if st.st_nlink > 1 { hardlinks[key] = inLayer }
                    header.size = Int64(st.st_size)
                    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                    guard fd >= 0 else { throw LayerDiffError.unreadable(path: path, errno: errno) }
                    defer { close(fd) }
                    try writer.write(header, contentsOf: fd, sourcePath: path)
                }
                entryCount += 1
            case S_IFCHR, S_IFBLK:
                // glibc's major()/minor() encoding (sys/sysmacros.h), which Swift does not import.
                let rdev = UInt64(st.st_rdev)
                header.deviceMajor = UInt32(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~UInt64(0xfff)))
                header.deviceMinor = UInt32((rdev & 0xff) | ((rdev >> 12) & ~UInt64(0xff)))
                try writer.write(header, sourcePath: path)
                entryCount += 1
            case S_IFIFO:
                try writer.write(header, sourcePath: path)
                entryCount += 1
            default:
                continue
            }
        }
    }

    private static func isOverlay(_ key: String) -> Bool {
        key.hasPrefix("trusted.overlay.") || key.hasPrefix("user.overlay.")
    }

    static func sortedNames(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw LayerDiffError.unreadable(path: directory, errno: errno) }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if name != [46] && name != [46, 46] { names.append(name) }
        }
        // Byte order, not locale order: the same tree always gives the same tar.
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }

    static func readLink(_ path: String) throws -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard n >= 0 else { throw LayerDiffError.unreadable(path: path, errno: errno) }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    static func xattrs(_ path: String) throws -> [(String, [UInt8])] {
        var size = llistxattr(path, nil as UnsafeMutablePointer<CChar>?, 0)
        if size < 0 {
            if errno == ENOTSUP || errno == ENODATA { return [] }
            throw LayerDiffError.unreadable(path: path, errno: errno)
        }
        if size == 0 { return [] }
        var names = [CChar](repeating: 0, count: size)
        size = llistxattr(path, &names, names.count)
        guard size >= 0 else { throw LayerDiffError.unreadable(path: path, errno: errno) }
        var result: [(String, [UInt8])] = []
        var start = 0
        for i in 0..<size where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            let length = lgetxattr(path, name, nil as UnsafeMutableRawPointer?, 0)
            if length < 0 { continue } // vanished or not readable in this namespace (trusted.* as non-root)
            var value = [UInt8](repeating: 0, count: length)
            let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, $0.count) }
            if got >= 0 { result.append((name, Array(value[0..<got]))) }
        }
        return result.sorted { $0.0 < $1.0 }
    }
}
