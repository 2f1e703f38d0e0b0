import BuildPlanner
import Foundation
import ImageStore
#if canImport(Glibc)
import Glibc
#endif

/// The file system an overlay of unpacked layer trees shows, read without mounting it: a path is found in the
/// topmost layer that has it, unless a whiteout (a 0/0 character device) or an opaque directory in a higher
/// layer hides it. Used to read `COPY --from` sources, to find the directories a COPY writes into, and for
/// `--chown` names.
struct MergedView {
    /// Layer directories, topmost first.
    let layersTopFirst: [String]

    /// One entry found in a layer.
    typealias Entry = TreeEntry

    static func isWhiteout(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 }

    static func isOpaque(_ path: String) -> Bool { FileTree.isOpaqueDirectory(path) }

    /// The entry at `components` (already free of symlinks in its parents), or nil when absent or hidden.
    func lookup(_ components: [String]) -> Entry? {
        if components.isEmpty {
            guard let top = layersTopFirst.first else { return nil }
            var st = stat()
            return lstat(top, &st) == 0 ? Entry(hostPath: top, status: st) : nil
        }
        for layer in layersTopFirst {
            var path = layer
            var st = stat()
            var blocked = false
            for (position, name) in components.enumerated() {
                path += "/" + name
                guard lstat(path, &st) == 0 else {
                    if blocked { return nil }
                    break
                }
                if Self.isWhiteout(st) { return nil }
                if position == components.count - 1 { return Entry(hostPath: path, status: st) }
                guard (st.st_mode & S_IFMT) == S_IFDIR else { return nil }  // a file hides the rest of the path
                if Self.isOpaque(path) { blocked = true }
            }
            if blocked { return nil }
        }
        return nil
    }

    /// The names in the directory at `components` (symlink-free), merged over the layers, sorted.
    func list(_ components: [String]) -> [String] {
        var names = Set<String>(), hidden = Set<String>()
        for layer in layersTopFirst {
            let path = components.isEmpty ? layer : layer + "/" + components.joined(separator: "/")
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if Self.isWhiteout(st) || (st.st_mode & S_IFMT) != S_IFDIR { break }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where !names.contains(name) && !hidden.contains(name) {
                var child = stat()
                if lstat(path + "/" + name, &child) == 0 && Self.isWhiteout(child) { hidden.insert(name) } else { names.insert(name) }
            }
            if Self.isOpaque(path) { break }
        }
        return names.sorted()
    }

    /// Resolves `components` as if the merged tree were `/`: symlinks on the way are followed within it (an
    /// absolute target starts again at its root, `..` stops there). The last one is followed only when asked.
    func resolve(_ components: [String], followLast: Bool) throws -> [String] {
        try resolveSymlinks(components, followLast: followLast, shownAs: "/" + components.joined(separator: "/"), lookup: lookup)
    }
}

/// A stage's or an image's layers as a source tree.
struct LayerTree: SourceTree {
    let view: MergedView
    var keepsOwners: Bool { true }
    func entry(_ components: [String]) -> TreeEntry? { view.lookup(components) }
    func children(_ components: [String]) -> [String] { view.list(components) }
    func resolve(_ components: [String], followLast: Bool) throws -> [String] { try view.resolve(components, followLast: followLast) }
}
