import Foundation
import Locking
import OCI
#if canImport(Glibc)
import Glibc
#endif

/// Where COPY and ADD read from: the build context (with `.dockerignore`) or a stage's or image's layers.
package protocol SourceTree {
    /// The entry at symlink-free `components`, not following a final symlink.
    func entry(_ components: [String]) -> TreeEntry?
    /// The names in a directory, minus excluded ones.
    func children(_ components: [String]) -> [String]
    /// Resolves symlinks within the tree (it is `/` for them).
    func resolve(_ components: [String], followLast: Bool) throws -> [String]
    /// Whether entries keep their owners when copied (stages do; the context's files become root's).
    var keepsOwners: Bool { get }
    /// The names in the directory `entry` found at `components` (a tree may use the entry's host path).
    func children(_ components: [String], of entry: TreeEntry) -> [String]
    /// The entry `name` inside the directory `parent` found at `components`.
    func entry(_ components: [String], named name: String, in parent: TreeEntry) -> TreeEntry?
    /// The directory `parent`'s children (as `children`) with their entries, in name order.
    func childEntries(_ components: [String], of parent: TreeEntry) -> [(name: String, entry: TreeEntry)]
}

extension SourceTree {
    package func childEntries(_ components: [String], of parent: TreeEntry) -> [(name: String, entry: TreeEntry)] {
        children(components, of: parent).compactMap { name in entry(components, named: name, in: parent).map { (name, $0) } }
    }

    package func children(_ components: [String], of entry: TreeEntry) -> [String] { children(components) }
    package func entry(_ components: [String], named name: String, in parent: TreeEntry) -> TreeEntry? { entry(components + [name]) }
}

/// The build context as a source tree: confined to its folder, `.dockerignore` applied.
package struct ContextTree: SourceTree {
    package let root: String
    package let ignore: DockerIgnore

    /// Makes the context tree of a folder with its `.dockerignore`.
    package init(root: String, ignore: DockerIgnore) {
        self.root = root
        self.ignore = ignore
    }

    package var keepsOwners: Bool { false }

    package func entry(_ components: [String]) -> TreeEntry? {
        let path = components.isEmpty ? root : root + "/" + components.joined(separator: "/")
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return TreeEntry(hostPath: path, status: st)
    }

    package func children(_ components: [String]) -> [String] {
        children(components, at: components.isEmpty ? root : root + "/" + components.joined(separator: "/"))
    }

    package func children(_ components: [String], of entry: TreeEntry) -> [String] { children(components, at: entry.hostPath) }

    package func entry(_ components: [String], named name: String, in parent: TreeEntry) -> TreeEntry? {
        let path = parent.hostPath + "/" + name
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return TreeEntry(hostPath: path, status: st)
    }

    /// Lists the directory once and `fstatat`s each child relative to it, rather than walking each child's full path.
    package func childEntries(_ components: [String], of parent: TreeEntry) -> [(name: String, entry: TreeEntry)] {
        let fd = open(parent.hostPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        return children(components, at: parent.hostPath).compactMap { name in
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
            return (name, TreeEntry(hostPath: parent.hostPath + "/" + name, status: st))
        }
    }

    private func children(_ components: [String], at path: String) -> [String] {
        let prefix = components.isEmpty ? "" : components.joined(separator: "/") + "/"
        return Self.names(in: path).sorted().filter { name in
            guard ignore.excludes(prefix + name) else { return true }
            // An excluded directory is still walked when an exception (`!pattern`) may include something in it.
            guard ignore.hasExceptions else { return false }
            var st = stat()
            return lstat(path + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }
    }

    /// The names in a directory (readdir: FileManager's listing was most of a warm plan's time on a large context).
    static func names(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    package func resolve(_ components: [String], followLast: Bool) throws -> [String] {
        try resolveSymlinks(components, followLast: followLast, shownAs: root + "/" + components.joined(separator: "/"), lookup: entry)
    }
}

/// A source tree seen through COPY `--exclude` patterns, matched (as BuildKit does) against paths relative to the
/// source being copied.
package struct ExcludingTree: SourceTree {
    package let base: SourceTree
    package let root: [String]
    package let excludes: DockerIgnore

    /// Makes a view of `base` below `root` without what `excludes` matches.
    package init(base: SourceTree, root: [String], excludes: DockerIgnore) {
        self.base = base
        self.root = root
        self.excludes = excludes
    }

    package var keepsOwners: Bool { base.keepsOwners }
    package func entry(_ components: [String]) -> TreeEntry? { base.entry(components) }
    package func resolve(_ components: [String], followLast: Bool) throws -> [String] { try base.resolve(components, followLast: followLast) }
    package func children(_ components: [String]) -> [String] {
        let relative = components.count >= root.count && Array(components.prefix(root.count)) == root
            ? Array(components.dropFirst(root.count)) : components
        return base.children(components).filter { !excludes.excludes((relative + [$0]).joined(separator: "/")) }
    }
}

/// Whether a source names several paths (`*`, `?`, `[`), as Go's filepath.Match reads it.
package func hasGlob(_ text: String) -> Bool { text.contains("*") || text.contains("?") || text.contains("[") }

/// The paths of `tree` a COPY source names: itself, or what its wildcards match (sorted).
package func matchSources(_ source: String, in tree: SourceTree) throws -> [[String]] {
    let components = pathComponents(DockerIgnore.clean("/" + source))
    guard components.contains(where: hasGlob) else { return [components] }
    var results: [[String]] = []
    func walk(_ prefix: [String], _ remaining: ArraySlice<String>) throws {
        guard let pattern = remaining.first else { results.append(prefix); return }
        if !hasGlob(pattern) {
            let next = prefix + [pattern]
            if tree.entry(try tree.resolve(next, followLast: false)) != nil { try walk(next, remaining.dropFirst()) }
            return
        }
        let directory = try tree.resolve(prefix, followLast: true)
        for name in tree.children(directory) where fnmatch(pattern, name, 0) == 0 {
            try walk(prefix + [name], remaining.dropFirst())
        }
    }
    try walk([], components[...])
    return results
}

/// File digests of the context, remembered by `(size, mtime, ctime, inode, mode)` so an unchanged context is
/// hashed by `stat` alone (a no-change rebuild reads no file).
package final class ContextChecksums {
    package struct Record: Codable, Sendable {
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        var inode: UInt64
        var mode: UInt32
        var digest: String
    }

    private var records: [String: Record]
    private var changed = false
    package let fileName: String

    init(store: ImageStoreAccess, context: String) {
        // One line per file, tab-separated (read on every plan: a JSON decoder took most of a warm plan's time).
        fileName = "context/" + Digest.sha256(of: Array(context.utf8)).encoded + ".tsv"
        records = store.readCacheFile(fileName).map(Self.parsed) ?? [:]
    }

    /// The last file parsed, with its records: an editor plans the same context on every keystroke, and parsing
    /// 2,000 lines again was a tenth of a warm plan.
    private static let lastParsed = LockedValue<(bytes: [UInt8], records: [String: Record])?>(nil)

    /// `parse`, answered from `lastParsed` when the bytes are the same.
    static func parsed(_ bytes: [UInt8]) -> [String: Record] {
        if let last = lastParsed.withLock({ $0 }), last.bytes == bytes { return last.records }
        let records = parse(bytes)
        lastParsed.withLock { $0 = (bytes, records) }
        return records
    }

    /// `path \t size \t mtime \t ctime \t inode \t mode \t digest` lines.
    static func parse(_ bytes: [UInt8]) -> [String: Record] {
        var records: [String: Record] = [:]
        records.reserveCapacity(bytes.count / 120)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0a) ?? bytes.count
            let fields = bytes[start..<end].split(separator: 0x09, omittingEmptySubsequences: false)
            start = end + 1
            guard fields.count == 7 else { continue }
            func number<T: FixedWidthInteger>(_ field: ArraySlice<UInt8>) -> T? { T(String(decoding: field, as: UTF8.self)) }
            guard let size: Int64 = number(fields[1]), let mtime: Int64 = number(fields[2]), let ctime: Int64 = number(fields[3]),
                  let inode: UInt64 = number(fields[4]), let mode: UInt32 = number(fields[5]) else { continue }
            records[String(decoding: fields[0], as: UTF8.self)] = Record(size: size, mtime: mtime, ctime: ctime, inode: inode, mode: mode,
                                                                          digest: String(decoding: fields[6], as: UTF8.self))
        }
        return records
    }

    /// The sha256 of a context file at `hostPath` (its `lstat` given).
    package func digest(of hostPath: String, status st: stat) throws -> String {
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        let ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        if let record = records[hostPath], record.size == Int64(st.st_size), record.mtime == mtime, record.ctime == ctime,
           record.inode == UInt64(st.st_ino), record.mode == UInt32(st.st_mode) {
            return record.digest
        }
        let fd = open(hostPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw BuildError.io(path: hostPath, operation: "read", errno: errno) }
        defer { close(fd) }
        var hasher = DigestHasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BuildError.io(path: hostPath, operation: "read", errno: errno) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        let digest = hasher.finalize().encoded
        records[hostPath] = Record(size: Int64(st.st_size), mtime: mtime, ctime: ctime, inode: UInt64(st.st_ino),
                                   mode: UInt32(st.st_mode), digest: digest)
        changed = true
        return digest
    }

    /// Saves the records when they changed.
    package func save(to store: ImageStoreAccess) {
        guard changed else { return }
        var bytes: [UInt8] = []
        for (path, record) in records where !path.contains("\t") && !path.contains("\n") {
            bytes += Array("\(path)\t\(record.size)\t\(record.mtime)\t\(record.ctime)\t\(record.inode)\t\(record.mode)\t\(record.digest)\n".utf8)
        }
        try? store.writeCacheFile(fileName, bytes)
        changed = false
    }
}

/// The store operations the checksum cache needs (kept narrow so it is easy to see what it touches).
package protocol ImageStoreAccess {
    func readCacheFile(_ name: String) -> [UInt8]?
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws
}

/// A digest of everything a COPY source contributes: paths, types, modes, sizes, file contents, link targets.
/// Owners and times of context files are not part of it (COPY makes them root's, as Docker's checksum does).
package func sourceDigest(tree: SourceTree, components: [String], checksums: ContextChecksums?, into lines: inout [String]) throws {
    let resolved = try tree.resolve(components, followLast: true)
    guard let top = tree.entry(resolved) else { lines.append("missing /" + components.joined(separator: "/")); return }
    func visit(_ path: [String], _ entry: TreeEntry, _ shown: String) throws {
        let st = entry.status
        var line = "\(shown) \(String(st.st_mode, radix: 8))"
        if entry.isRegular {
            line += " \(st.st_size) " + (try checksums?.digest(of: entry.hostPath, status: st) ?? "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
        } else if entry.isSymlink {
            line += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: entry.hostPath)) ?? "")
        }
        if tree.keepsOwners { line += " \(st.st_uid):\(st.st_gid)" }
        lines.append(line)
        if entry.isDirectory {
            for (name, child) in tree.childEntries(path, of: entry) { try visit(path + [name], child, shown + "/" + name) }
        }
    }
    try visit(resolved, top, "/" + components.joined(separator: "/"))
}
