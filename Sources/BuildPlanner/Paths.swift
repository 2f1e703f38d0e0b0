import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One entry of a file tree (the build context, a layer), as found on this machine.
package struct TreeEntry {
    /// Its path on this machine (inside one layer tree).
    package var hostPath: String
    /// Its `lstat`.
    package var status: stat

    package var isDirectory: Bool { (status.st_mode & S_IFMT) == S_IFDIR }
    package var isSymlink: Bool { (status.st_mode & S_IFMT) == S_IFLNK }
    package var isRegular: Bool { (status.st_mode & S_IFMT) == S_IFREG }

    /// Makes an entry.
    package init(hostPath: String, status: stat) {
        self.hostPath = hostPath
        self.status = status
    }
}

/// Resolves `components` in a tree whose entries `lookup` finds, as if the tree were `/`: symlinks on the way are
/// followed within it (an absolute target starts again at its root, `..` stops there); the last one only when
/// `followLast`. `shownAs` names the path in the error for a symlink loop.
package func resolveSymlinks(_ components: [String], followLast: Bool, shownAs: String,
                     lookup: ([String]) -> TreeEntry?) throws -> [String] {
    var resolved: [String] = []
    var pending = Array(components.reversed())
    var hops = 0
    while let part = pending.popLast() {
        if part == "." || part.isEmpty { continue }
        if part == ".." { if !resolved.isEmpty { resolved.removeLast() }; continue }
        let candidate = resolved + [part]
        if followLast || !pending.isEmpty, let entry = lookup(candidate), entry.isSymlink {
            hops += 1
            if hops > 255 { throw BuildError.io(path: shownAs, operation: "resolve (too many symlinks)", errno: ELOOP) }
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: entry.hostPath)) ?? ""
            if target.hasPrefix("/") { resolved.removeAll() }
            pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
            continue
        }
        resolved = candidate
    }
    return resolved
}

/// Splits an absolute or relative image path into clean components (`..` kept for `resolve`).
package func pathComponents(_ path: String) -> [String] {
    path.split(separator: "/").map(String.init).filter { $0 != "." }
}

/// Joins a path onto a working directory, as WORKDIR and COPY destinations do; the result is absolute and clean.
package func absolutePath(_ path: String, relativeTo directory: String) -> String {
    let combined = path.hasPrefix("/") ? path : (directory.hasSuffix("/") ? directory : directory + "/") + path
    var parts: [String] = []
    for part in combined.split(separator: "/") {
        if part == "." || part.isEmpty { continue }
        if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
        parts.append(String(part))
    }
    return "/" + parts.joined(separator: "/")
}
