import Foundation
import OCI

/// Writes one blob into the store from a stream: bytes go to a temp file while being hashed,
/// and `commit` renames it into place only if the digest matches. Not thread-safe: one writer per stream.
public final class BlobWriter {
    private let store: ImageStore
    /// The temp file being written.
    public let temporaryPath: String
    private var fd: Int32
    private var hasher = DigestHasher()
    private var finished = false

    init(store: ImageStore) throws {
        self.store = store
        temporaryPath = try store.newTemporaryPath()
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageStoreError.io(path: temporaryPath, operation: "create", errno: errno) }
    }

    deinit { discard() }

    /// Bytes written so far.
    public var count: Int64 { hasher.count }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageStoreError.io(path: temporaryPath, operation: "write", errno: errno)
            }
            offset += n
        }
        hasher.update(bytes)
    }

    /// Appends bytes from an array.
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Verifies the digest (when given), syncs, and moves the blob into place; returns its digest and size.
    @discardableResult
    public func commit(expected: Digest? = nil) throws -> (digest: Digest, size: Int64) {
        let digest = hasher.finalize()
        let size = hasher.count
        if let expected, expected != digest {
            discard()
            throw ImageStoreError.digestMismatch(expected: expected, actual: digest)
        }
        guard fsync(fd) == 0 else {
            let code = errno
            discard()
            throw ImageStoreError.io(path: temporaryPath, operation: "fsync", errno: code)
        }
        close(fd)
        fd = -1
        finished = true
        try store.adoptVerifiedFile(temporaryPath, digest: digest)
        return (digest, size)
    }

    /// Throws the partial blob away.
    public func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        if !finished { unlink(temporaryPath); finished = true }
    }
}
