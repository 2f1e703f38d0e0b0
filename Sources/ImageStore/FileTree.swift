import CArchive
import Foundation

/// Small file-tree helpers: removal that copes with read-only dirs, and path resolution confined to a root.
public enum FileTree {
    /// Removes a file or directory tree, without following symlinks, making directories writable as needed.
    public static func remove(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw ImageStoreError.io(path: path, operation: "stat", errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if (st.st_mode & 0o700) != 0o700 { _ = chmod(path, (st.st_mode & 0o7777) | 0o700) }
            guard let dir = opendir(path) else { throw ImageStoreError.io(path: path, operation: "open directory", errno: errno) }
            var names = [String]()
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { try remove(path + "/" + name) }
            guard rmdir(path) == 0 else { throw ImageStoreError.io(path: path, operation: "remove directory", errno: errno) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw ImageStoreError.io(path: path, operation: "remove", errno: errno) }
        }
    }

    /// Whether a directory of an unpacked layer or upper directory is an overlayfs opaque directory
    /// (`trusted.overlay.opaque` or `user.overlay.opaque` set to `y`).
    public static func isOpaqueDirectory(_ path: String) -> Bool {
        for prefix in ["trusted", "user"] {
            var value: UInt8 = 0
            if getxattr(path, "\(prefix).overlay.opaque", &value, 1) == 1 && value == UInt8(ascii: "y") { return true }
        }
        return false
    }

    /// Lexically cleans an archive path into components; nil when it is absolute or climbs out with `..`.
    public static func components(of path: String) -> [String]? {
        if path.hasPrefix("/") { return nil }
        var parts = [String]()
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            default: parts.append(String(part))
            }
        }
        return parts
    }

    /// Resolves `components` under `root` as if `root` were `/`: symlinks met on the way are followed but can never leave
    /// the root (an absolute target means root's path, `..` stops at root). The last component is not followed.
    public static func resolveInRoot(_ root: String, _ components: [String], followLast: Bool = false) throws -> String {
        var resolved = [String]()
        var pending = Array(components.reversed())
        var hops = 0
        while let part = pending.popLast() {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !resolved.isEmpty { resolved.removeLast() }; continue }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            let isLast = pending.isEmpty
            var st = stat()
            if (!isLast || followLast), lstat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
                hops += 1
                guard hops <= 255 else { throw ImageStoreError.invalidArgument("too many symlinks resolving \(components.joined(separator: "/"))") }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(candidate, &buffer, Int(PATH_MAX))
                guard n >= 0 else { throw ImageStoreError.io(path: candidate, operation: "readlink", errno: errno) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { resolved.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            }
            resolved.append(part)
        }
        return resolved.isEmpty ? root : root + "/" + resolved.joined(separator: "/")
    }
}
