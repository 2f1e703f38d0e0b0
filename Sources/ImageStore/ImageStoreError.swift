import OCI

/// Why a store operation failed.
public enum ImageStoreError: Error, Sendable, CustomStringConvertible {
    /// A file system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// No image is tagged with this reference.
    case imageNotFound(String)
    /// No image matches a name typed on the command line; `tried` lists the references (and digest prefix) looked up.
    case nameNotFound(String, tried: [String])
    /// The blob is not in the store.
    case blobNotFound(Digest)
    /// A written blob did not hash to what was expected; it was discarded.
    case digestMismatch(expected: Digest, actual: Digest)
    /// A layer archive entry would land outside the target directory.
    case unsafeEntry(layer: String, entry: String, reason: String)
    /// libarchive could not read or write the layer.
    case archive(layer: String, entry: String?, detail: String)
    /// A store document (index.json, a manifest, a config) is damaged.
    case corrupt(path: String, detail: String)
    /// A reference given to the store is ambiguous or malformed.
    case invalidArgument(String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(operation) \(path) failed: \(String(cString: strerror(code)))\(code == ENOSPC ? "; free some disk space (idpbuild prune) and retry" : "")"
        case .imageNotFound(let ref): return "no image \(ref) in the local store; pull it first (idpbuild pull \(ref)) or check idpbuild images"
        case let .nameNotFound(name, tried):
            let list = tried == [name] ? "" : " (tried \(tried.joined(separator: ", ")))"
            return "no image \(name) in the local store\(list); pull it first (idpbuild pull \(name)) or check idpbuild images"
        case .blobNotFound(let digest): return "blob \(digest) is not in the local store; pull the image again"
        case let .digestMismatch(expected, actual):
            return "blob content hashes to \(actual), not \(expected); it was discarded and nothing was stored"
        case let .unsafeEntry(layer, entry, reason): return "refusing layer \(layer): entry \"\(entry)\" \(reason)"
        case let .archive(layer, entry, detail):
            return "cannot unpack layer \(layer)\(entry.map { " at entry \"\($0)\"" } ?? ""): \(detail)"
        case let .corrupt(path, detail): return "\(path) is damaged: \(detail); remove it or run idpbuild prune"
        case .invalidArgument(let detail): return detail
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
