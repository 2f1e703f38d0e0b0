#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong while turning an overlay upper directory into a layer.
public enum LayerDiffError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The upper directory does not exist or is not a directory.
    case missingUpperDirectory(path: String)
    /// A file could not be read.
    case unreadable(path: String, errno: Int32)
    /// A file's host owner is outside the user namespace mapping.
    case unmappedOwner(path: String, hostID: UInt32, isGroup: Bool)
    /// The upper directory uses an overlayfs feature a layer cannot express.
    case unsupportedOverlayFeature(path: String, attribute: String)
    /// libarchive reported an error.
    case archive(path: String, message: String)
    /// Writing the layer's output failed.
    case output(path: String, errno: Int32)

    /// A sentence that says what failed, where, and what to try.
    public var description: String {
        switch self {
        case .missingUpperDirectory(let path):
            return "upper directory \(path) does not exist or is not a directory"
        case .unreadable(let path, let err):
            let hint = err == EACCES || err == EPERM
                ? ": it is owned by a subordinate ID; diff inside the user namespace (idpbuild run does) or as root" : ""
            return "cannot read \(path) (\(String(cString: strerror(err))))\(hint)"
        case .unmappedOwner(let path, let id, let isGroup):
            return "\(path) is owned by host \(isGroup ? "gid" : "uid") \(id), which the user namespace mapping does not cover; pass the mapping the sandbox ran with"
        case .unsupportedOverlayFeature(let path, let attribute):
            return "\(path) carries the overlayfs attribute \(attribute) (redirect_dir or metacopy), which a layer tar cannot express; mount the overlay with redirect_dir=off and metacopy=off"
        case .archive(let path, let message):
            return "writing the layer entry for \(path) failed: \(message)"
        case .output(let path, let err):
            return "writing the layer to \(path) failed (\(String(cString: strerror(err)))); check free space and permissions"
        }
    }
}
