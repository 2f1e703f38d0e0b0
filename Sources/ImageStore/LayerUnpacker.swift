import CArchive
import Foundation

/// How whiteout entries (`.wh.NAME`, `.wh..wh..opq`) are treated.
public enum WhiteoutMode: Sendable, Hashable {
    /// Delete what they hide from the target (applying layers onto one tree).
    case apply
    /// Write overlayfs whiteouts (a 0/0 character device; an opaque xattr with this prefix, `trusted` or `user`).
    case overlay(xattrPrefix: String)
}

/// Unpacking settings.
public struct UnpackOptions: Sendable, Hashable {
    /// Whiteout handling.
    public var whiteouts: WhiteoutMode
    /// Restore owners (only possible as root, including root in a user namespace); nil decides by the effective uid.
    public var restoreOwners: Bool?
    /// Restore extended attributes (failures for privileged namespaces are reported as warnings).
    public var restoreXattrs: Bool

    /// Makes options; by default whiteouts are applied, owners restored when root, xattrs restored.
    public init(whiteouts: WhiteoutMode = .apply, restoreOwners: Bool? = nil, restoreXattrs: Bool = true) {
        self.whiteouts = whiteouts
        self.restoreOwners = restoreOwners
        self.restoreXattrs = restoreXattrs
    }
}

/// What an unpack did.
public struct UnpackReport: Sendable, Hashable {
    /// Entries written (files, dirs, links).
    public var entries: Int = 0
    /// Whiteouts honoured.
    public var whiteouts: Int = 0
    /// Things that could not be restored exactly (owners, xattrs, device nodes without privilege).
    public var warnings: [String] = []
    /// Device nodes (and FIFOs) of the layer that could not be created here (inside a user namespace, or
    /// unprivileged), as containers/storage and moby's archive package skip them; the unpack went on without them.
    public var skippedDevices: [String] = []
}

/// Unpacks layer tars (plain, gzip or zstd, detected from the bytes) with libarchive.
///
/// Plain library code with no global state, so a sandbox worker can call it as root inside a user namespace.
public enum LayerUnpacker {
    private static let S_IFMT_: UInt32 = 0o170000
    private static let S_IFDIR_: UInt32 = 0o040000
    private static let S_IFCHR_: UInt32 = 0o020000
    private static let S_IFBLK_: UInt32 = 0o060000
    private static let S_IFIFO_: UInt32 = 0o010000

    /// libarchive's disk writer sets the process umask to 0 and back while it writes each header (to read it);
    /// two unpacks at once could leave it 0 for good. Headers are written one at a time across the process.
    private static let headerLock = NSLock()

    /// Whether this process is in the initial user namespace (where root can make device nodes).
    public static let inInitialUserNamespace: Bool = {
        let map = (try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8)) ?? ""
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields.count >= 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295"
    }()

    /// Unpacks the archive at `archive` into the existing directory `target`.
    /// Entries that are absolute, climb out with `..`, or would be written through a symlink out of `target` are refused.
    @discardableResult
    public static func unpack(archive: String, into target: String, options: UnpackOptions = UnpackOptions(),
                              label: String? = nil) throws -> UnpackReport {
        try unpack(into: target, options: options, label: label ?? archive) { archive_read_open_filename($0, archive, 1 << 20) }
    }

    /// Unpacks the archive that `open` opens on a fresh libarchive reader (a file, or a stream of downloaded bytes).
    static func unpack(into target: String, options: UnpackOptions, label: String, open: (OpaquePointer) -> Int32) throws -> UnpackReport {
        let root = (target as NSString).standardizingPath
        guard let reader = archive_read_new() else { throw ImageStoreError.archive(layer: label, entry: nil, detail: "out of memory") }
        defer { archive_read_free(reader) }
        archive_read_support_filter_all(reader)
        archive_read_support_format_tar(reader)
        guard open(reader) == ARCHIVE_OK else {
            throw ImageStoreError.archive(layer: label, entry: nil, detail: errorString(reader))
        }
        guard let writer = archive_write_disk_new() else { throw ImageStoreError.archive(layer: label, entry: nil, detail: "out of memory") }
        defer { archive_write_free(writer) }
        let asRoot = options.restoreOwners ?? (geteuid() == 0)
        let canMakeDevices = geteuid() == 0 && inInitialUserNamespace
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_UNLINK | ARCHIVE_EXTRACT_SECURE_NODOTDOT
        if asRoot { flags |= ARCHIVE_EXTRACT_OWNER }
        if options.restoreXattrs { flags |= ARCHIVE_EXTRACT_XATTR }
        archive_write_disk_set_options(writer, flags)
        // No user/group name lookup: layers carry numeric IDs that must not be remapped through the host's /etc/passwd.

        var report = UnpackReport()
        var created = Set<String>()
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry else {
                throw ImageStoreError.archive(layer: label, entry: nil, detail: errorString(reader))
            }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            guard let parts = FileTree.components(of: name) else {
                throw ImageStoreError.unsafeEntry(layer: label, entry: name,
                                                  reason: name.hasPrefix("/") ? "is an absolute path" : "climbs out of the layer with '..'")
            }
            if parts.isEmpty { continue }  // "./" itself
            let base = parts.last!
            let parentParts = Array(parts.dropLast())
            let parent = try FileTree.resolveInRoot(root, parentParts, followLast: true)
            try requireInside(root, parent, layer: label, entry: name)
            try makeMissingDirectories(parent, below: root, layer: label, entry: name)

            if base.hasPrefix(".wh.") {
                report.whiteouts += 1
                try whiteout(base: base, parent: parent, parentKey: parentParts.joined(separator: "/"), created: created,
                             mode: options.whiteouts, report: &report, layer: label, entry: name)
                continue
            }
            let path = parent + "/" + base
            let type = UInt32(archive_entry_filetype(entry)) & S_IFMT_
            if (type == S_IFCHR_ || type == S_IFBLK_) && !canMakeDevices {
                // A user namespace cannot make device nodes (a base made from a root debootstrap has /dev/console):
                // skip them, as buildah does rootless; RUN gets its own /dev anyway.
                report.skippedDevices.append(name)
                continue
            }
            // Docker's rule: an existing path is replaced unless both it and the entry are directories.
            var st = stat()
            if lstat(path, &st) == 0 && !((UInt32(st.st_mode) & S_IFMT_) == S_IFDIR_ && type == S_IFDIR_) {
                try FileTree.remove(path)
            }
            if let link = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                guard let linkParts = FileTree.components(of: link) else {
                    throw ImageStoreError.unsafeEntry(layer: label, entry: name, reason: "is a hard link to \"\(link)\" outside the layer")
                }
                let linkTarget = try FileTree.resolveInRoot(root, linkParts)
                try requireInside(root, linkTarget, layer: label, entry: name)
                archive_entry_set_hardlink(entry, linkTarget)
            }
            archive_entry_set_pathname(entry, path)
            headerLock.lock()
            let header = archive_write_header(writer, entry)
            headerLock.unlock()
            if header < ARCHIVE_WARN {
                if (type == S_IFCHR_ || type == S_IFBLK_ || type == S_IFIFO_) && !canMakeDevices {
                    report.skippedDevices.append(name)
                    continue
                }
                throw ImageStoreError.archive(layer: label, entry: name, detail: errorString(writer))
            }
            if header == ARCHIVE_WARN { report.warnings.append("\(name): \(errorString(writer))") }
            if archive_entry_size(entry) > 0 {
                try copyData(from: reader, to: writer, layer: label, entry: name)
            }
            let finish = archive_write_finish_entry(writer)
            if finish < ARCHIVE_WARN { throw ImageStoreError.archive(layer: label, entry: name, detail: errorString(writer)) }
            if finish == ARCHIVE_WARN { report.warnings.append("\(name): \(errorString(writer))") }
            created.insert(parts.joined(separator: "/"))
            report.entries += 1
        }
        // Closing applies deferred directory permissions and times (so read-only dirs could be filled first).
        if archive_write_close(writer) < ARCHIVE_WARN {
            throw ImageStoreError.archive(layer: label, entry: nil, detail: errorString(writer))
        }
        if !report.skippedDevices.isEmpty {
            let count = report.skippedDevices.count
            let shown = report.skippedDevices.prefix(4).joined(separator: ", ") + (count > 4 ? ", …" : "")
            report.warnings.append("layer \(label): \(count) device node\(count == 1 ? "" : "s") not created (\(shown)): " +
                                   "a user namespace cannot make devices; RUN steps get their own /dev")
        }
        return report
    }

    /// Creates the missing directories between `root` and `directory` (0755, root-owned, as Docker makes the parents a
    /// layer leaves out), so that libarchive never makes them with whatever the process umask is at that moment.
    private static func makeMissingDirectories(_ directory: String, below root: String, layer: String, entry: String) throws {
        guard directory != root else { return }
        var st = stat()
        if lstat(directory, &st) == 0 { return }
        let parent = (directory as NSString).deletingLastPathComponent
        try makeMissingDirectories(parent, below: root, layer: layer, entry: entry)
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST, chmod(directory, 0o755) == 0 else {
            throw ImageStoreError.archive(layer: layer, entry: entry, detail: "cannot create its parent directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the file is a tar archive (plain, gzip, bzip2, xz or zstd), as ADD decides whether to extract a local source.
    public static func isArchive(_ path: String) -> Bool {
        guard let reader = archive_read_new() else { return false }
        defer { archive_read_free(reader) }
        archive_read_support_filter_all(reader)
        archive_read_support_format_tar(reader)
        guard archive_read_open_filename(reader, path, 1 << 16) == ARCHIVE_OK else { return false }
        var entry: OpaquePointer?
        let status = archive_read_next_header(reader, &entry)
        return status == ARCHIVE_OK || status == ARCHIVE_WARN
    }

    private static func whiteout(base: String, parent: String, parentKey: String, created: Set<String>, mode: WhiteoutMode,
                                 report: inout UnpackReport, layer: String, entry: String) throws {
        if base == ".wh..wh..opq" {
            switch mode {
            case .apply:
                // Opaque: hide everything lower layers put in this directory, but keep what this layer added.
                let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                for child in children where !created.contains(parentKey.isEmpty ? child : parentKey + "/" + child) {
                    try FileTree.remove(parent + "/" + child)
                }
            case .overlay(let prefix):
                _ = mkdir(parent, 0o755)
                let value: [UInt8] = [0x79]  // "y"
                guard setxattr(parent, "\(prefix).overlay.opaque", value, 1, 0) == 0 else {
                    throw ImageStoreError.io(path: parent, operation: "set \(prefix).overlay.opaque on", errno: errno)
                }
            }
            return
        }
        let hidden = String(base.dropFirst(4))
        guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
            throw ImageStoreError.unsafeEntry(layer: layer, entry: entry, reason: "is a whiteout for an invalid name")
        }
        switch mode {
        case .apply:
            try FileTree.remove(parent + "/" + hidden)
        case .overlay:
            let path = parent + "/" + hidden
            try FileTree.remove(path)
            _ = mkdir(parent, 0o755)
            guard mknod(path, S_IFCHR, 0) == 0 else {
                throw ImageStoreError.io(path: path, operation: "create overlay whiteout (needs root in a user namespace)", errno: errno)
            }
        }
    }

    private static func requireInside(_ root: String, _ path: String, layer: String, entry: String) throws {
        guard path == root || path.hasPrefix(root + "/") else {
            throw ImageStoreError.unsafeEntry(layer: layer, entry: entry, reason: "resolves outside the target through a symlink")
        }
    }

    private static func copyData(from reader: OpaquePointer, to writer: OpaquePointer, layer: String, entry: String) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let r = archive_read_data_block(reader, &buffer, &size, &offset)
            if r == ARCHIVE_EOF { return }
            guard r >= ARCHIVE_WARN else { throw ImageStoreError.archive(layer: layer, entry: entry, detail: errorString(reader)) }
            let w = archive_write_data_block(writer, buffer, size, offset)
            guard w >= ARCHIVE_WARN else { throw ImageStoreError.archive(layer: layer, entry: entry, detail: errorString(writer)) }
        }
    }

    private static func errorString(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
