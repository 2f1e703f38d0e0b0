import Foundation
import HTTP
import OCI

/// Sees a blob's bytes in order while it downloads, on the transfer's thread (to unpack a layer as it arrives, say).
public protocol BlobStreamObserver: AnyObject, Sendable {
    /// The next bytes of the blob, in order; the buffer is valid only during the call.
    func consume(_ bytes: UnsafeRawBufferPointer)
    /// The download starts again from byte 0 (the server could not resume): forget every byte seen so far.
    func restart()
}

/// Writes a download to a file while hashing it. After a break the next attempt asks for the rest (`rangeHeader`): a 206
/// from where the file ends appends (the hash goes on from its state), a 200 starts the file again.
///
/// libcurl hands a body over in pieces of at most 16 KiB; each is hashed as it comes (while it is in the cache), then
/// gathered into 64 KiB writes, a quarter of the calls. Written ranges are handed to the
/// kernel's writeback as the file grows, so the `fsync` at the end (done on the transfer thread) has little left to wait for.
final class DigestingFileSink: HTTPBodySink, @unchecked Sendable {
    /// Bytes gathered before a `write`. Larger writes (256 KiB, 1 MiB) made the kernel's copy into the page cache up to
    /// three times as dear right after other large writes (a push into the same machine's registry), as the page cache
    /// then takes large folios from fresh memory; 64 KiB writes cost no more than those when memory is quiet.
    static let bufferSize = 64 << 10
    /// Written bytes handed to writeback at a time.
    static let writebackStep: Int64 = 8 << 20

    private let path: String
    private let host: String
    private let expectedSize: Int64?
    private let observer: (any BlobStreamObserver)?
    private let progress: (@Sendable (Int64) -> Void)?
    private var fd: Int32 = -1
    private var hasher = DigestHasher()
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Bytes in the file (the rest of `offset` is in `buffer`).
    private var written: Int64 = 0
    /// Where the range not yet handed to writeback starts.
    private var writebackStart: Int64 = 0
    /// Whether the file was synced when the transfer ended with all `expectedSize` bytes.
    private var synced = false
    /// Whether the observer has seen bytes it must forget on a restart.
    private var observed = false
    /// False once the server answered a range other than the one asked for: from then on the whole blob is asked for.
    private var resuming = true
    /// Why the last answer, a 206 that did not start where the file ends, was refused.
    private var misplaced: String?

    init(path: String, host: String, expectedSize: Int64? = nil, observer: (any BlobStreamObserver)? = nil,
         progress: (@Sendable (Int64) -> Void)? = nil) throws {
        self.path = path
        self.host = host
        self.expectedSize = expectedSize
        self.observer = observer
        self.progress = progress
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 4096)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            buffer.deallocate()
            throw RegistryError.localFile(path: path, detail: String(cString: strerror(code)))
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// Bytes received so far, all of them hashed (the last ones may still wait in the buffer).
    var offset: Int64 { hasher.count }

    /// The `Range` to ask for on the next attempt, or nil for the whole blob.
    var rangeHeader: String? { resuming && offset > 0 ? "bytes=\(offset)-" : nil }

    /// Whether the last answer was a 206 that did not continue the file (and was dropped).
    var droppedRange: Bool { misplaced != nil }

    func accept(status: Int, headers: HTTPHeaders) -> Bool {
        misplaced = nil
        switch status {
        case 200:
            restart(resuming: resuming)
            return true
        case 206:
            if Self.rangeStart(headers["Content-Range"]) == offset { return true }
            // Not the rest of the file: refuse the body (which ends this attempt) and ask for the whole blob from now on.
            misplaced = "the server answered range \(headers["Content-Range"] ?? "(none)") when asked for byte \(offset) on"
            restart(resuming: false)
            return true
        default:
            return false
        }
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        if let misplaced { throw HTTPError.interrupted(host: host, detail: misplaced) }
        guard let base = chunk.baseAddress, !chunk.isEmpty else { return }
        hasher.update(chunk)
        if buffered == 0 && chunk.count >= buffer.count {
            try emit(chunk)
            return
        }
        var done = 0
        while done < chunk.count {
            let n = min(buffer.count - buffered, chunk.count - done)
            (buffer.baseAddress! + buffered).copyMemory(from: base + done, byteCount: n)
            buffered += n
            done += n
            if buffered == buffer.count { try flush() }
        }
    }

    /// The transfer ended well: write what is buffered, and sync when the blob is complete (on the transfer's thread).
    func complete() throws {
        try flush()
        if let expectedSize, offset == expectedSize, !synced {
            try sync()
            synced = true
        }
    }

    /// Writes the buffered bytes.
    private func flush() throws {
        guard buffered > 0 else { return }
        try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        buffered = 0
    }

    /// Hands bytes (already hashed) to the observer and the file.
    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        if let observer {
            observer.consume(bytes)
            observed = true
        }
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw RegistryError.localFile(path: path, detail: String(cString: strerror(errno)))
            }
            done += n
        }
        written += Int64(bytes.count)
        if written - writebackStart >= Self.writebackStep {
            Writeback.start(fd, offset: writebackStart, length: written - writebackStart)
            writebackStart = written
        }
        progress?(written)
    }

    private func sync() throws {
        guard fsync(fd) == 0 || errno == EINVAL else { throw RegistryError.localFile(path: path, detail: String(cString: strerror(errno))) }
    }

    /// Empties the file; with `resuming` false later attempts ask for the whole blob.
    func restart(resuming: Bool) {
        _ = ftruncate(fd, 0)
        _ = lseek(fd, 0, SEEK_SET)
        hasher = DigestHasher()
        buffered = 0
        written = 0
        writebackStart = 0
        synced = false
        if observed {
            observer?.restart()
            observed = false
        }
        self.resuming = resuming
    }

    /// Writes what is left, syncs (unless the transfer's end did) and returns the size and digest.
    func finish() throws -> (Int64, Digest) {
        try flush()
        if !synced { try sync() }
        return (hasher.count, hasher.finalize())
    }

    func close() {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
    }

    /// The first byte of a `Content-Range: bytes A-B/T` header.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        return Int64(header.dropFirst("bytes ".count).prefix { $0 != "-" })
    }
}

/// Starts the kernel's writeback of a file range without waiting for it (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`),
/// which Swift's Glibc module leaves out; looked up once, and a no-op where the C library lacks it.
enum Writeback {
    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let syncFileRange: SyncFileRange? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: SyncFileRange.self)
    }()
    /// `SYNC_FILE_RANGE_WRITE` from <fcntl.h>.
    private static let write: UInt32 = 2

    static func start(_ fd: Int32, offset: Int64, length: Int64) {
        _ = syncFileRange?(fd, offset, length, write)
    }
}
