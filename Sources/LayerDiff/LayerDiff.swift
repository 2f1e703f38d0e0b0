import CArchive
import Crypto
import OCI
#if canImport(Glibc)
import Glibc
#endif

/// Host-to-container owner translation for files in an upper directory read from outside the user
/// namespace; identity (no entries) when the diff runs inside it or as root without one.
public struct OwnerMapping: Sendable, Equatable {
    /// One mapped range: `count` IDs from `containerID` inside are `hostID...` outside.
    public struct Range: Sendable, Equatable {
        /// First ID inside the namespace.
        public var containerID: UInt32
        /// First ID outside the namespace.
        public var hostID: UInt32
        /// Number of IDs.
        public var count: UInt32

        /// Creates a range.
        public init(containerID: UInt32, hostID: UInt32, count: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.count = count
        }
    }

    /// uid ranges.
    public var uids: [Range]
    /// gid ranges.
    public var gids: [Range]

    /// Creates a mapping; empty lists mean identity.
    public init(uids: [Range] = [], gids: [Range] = []) {
        self.uids = uids
        self.gids = gids
    }

    /// Container IDs are host IDs.
    public static let identity = OwnerMapping()

    func container(_ id: UInt32, group: Bool) -> UInt32? {
        let ranges = group ? gids : uids
        if ranges.isEmpty { return id }
        for r in ranges where id >= r.hostID && UInt64(id) < UInt64(r.hostID) + UInt64(r.count) {
            return r.containerID + (id - r.hostID)
        }
        return nil
    }
}

/// What was written: the blob's digest and size, and the diff ID (digest of the uncompressed tar).
public struct LayerDescriptor: Sendable, Equatable, Codable {
    /// `sha256:<hex>` of the compressed blob (the manifest's layer digest).
    public var digest: String
    /// `sha256:<hex>` of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    public var diffID: String
    /// Bytes in the blob.
    public var size: Int64
    /// Bytes in the uncompressed tar.
    public var uncompressedSize: Int64
    /// The OCI media type.
    public var mediaType: String
    /// Number of tar entries; 0 means the step changed nothing (an empty layer the engine can skip).
    public var entryCount: Int

    /// True when the upper directory held no change.
    public var isEmpty: Bool { entryCount == 0 }
}

/// Turns an overlayfs upper directory into an OCI layer: overlay whiteouts (0/0 character devices) become
/// `.wh.<name>` files, opaque directories (`trusted.overlay.opaque` / `user.overlay.opaque` = `y`) get a
/// `.wh..wh..opq` entry, owners are mapped back to container IDs, and modes, symlinks, hard links, devices and
/// xattrs are kept. Entries are sorted by name bytes, so the same tree gives the same digests; both digests
/// are computed while the tar streams through the compressor.
public struct LayerDiff: Sendable {
    /// The blob's compression.
    public var compression: LayerCompression
    /// Owner translation (identity inside the user namespace).
    public var ownerMapping: OwnerMapping
    /// When set, modification times later than this (seconds since the epoch) are clamped to it,
    /// as `SOURCE_DATE_EPOCH` asks.
    public var timestampLimit: Int64?
    /// gzip level (1-9); 6 matches `gzip`'s default.
    public var compressionLevel: Int

    /// Creates a differ.
    public init(compression: LayerCompression = .gzip, ownerMapping: OwnerMapping = .identity,
                timestampLimit: Int64? = nil, compressionLevel: Int = 6) {
        self.compression = compression
        self.ownerMapping = ownerMapping
        self.timestampLimit = timestampLimit
        self.compressionLevel = compressionLevel
    }

    /// Writes the layer to `path` atomically (a temporary file in the same directory, renamed when complete).
    public func write(upperDirectory: String, to path: String) throws -> LayerDescriptor {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        var template = Array((directory + "/.layer-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw LayerDiffError.output(path: path, errno: errno) }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            let descriptor = try write(upperDirectory: upperDirectory, toFileDescriptor: fd, outputName: path)
            guard fchmod(fd, 0o644) == 0, fsync(fd) == 0, close(fd) == 0 else {
                throw LayerDiffError.output(path: path, errno: errno)
            }
            guard rename(temporary, path) == 0 else { throw LayerDiffError.output(path: path, errno: errno) }
            return descriptor
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
    }

    /// Streams the layer into an open file descriptor (not closed).
    public func write(upperDirectory: String, toFileDescriptor fd: Int32, outputName: String = "layer") throws -> LayerDescriptor {
        var st = stat()
        guard stat(upperDirectory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw LayerDiffError.missingUpperDirectory(path: upperDirectory)
        }
        // libarchive converts names from the thread's locale into the tar's UTF-8; the process's is C (the worker's, the
        // editor's), which cannot hold names like Debian's "NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem". Our names are
        // Swift strings, so UTF-8: this thread uses C.UTF-8 while it writes (no suspension in between).
        let saved = UTF8Locale.enter()
        defer { UTF8Locale.leave(saved) }
        let sink = try CompressedSink(fd: fd, outputName: outputName, compression: compression, level: compressionLevel)
        let writer = try TarWriter(sink: sink)
        var walker = TreeWalker(root: upperDirectory, writer: writer, mapping: ownerMapping, timestampLimit: timestampLimit)
        try walker.walk()
        try writer.finish()
        try sink.finish()
        return LayerDescriptor(digest: "sha256:" + sink.digest, diffID: "sha256:" + sink.diffID, size: sink.compressedBytes,
                               uncompressedSize: sink.uncompressedBytes, mediaType: compression.mediaType,
                               entryCount: walker.entryCount)
    }
}

/// The compressing half: a libarchive "raw" writer whose only job is its filter (gzip/zstd), hashing the
/// uncompressed bytes on the way in and the compressed bytes on the way out.
final class CompressedSink {
    private let archive: OpaquePointer
    private let fd: Int32
    private let outputName: String
    /// gzip: independent members compressed on several threads (the archive then only passes bytes through).
    private var gzip: ParallelGzip?
    private var uncompressedHash = SHA256()
    private var compressedHash = SHA256()
    private(set) var uncompressedBytes: Int64 = 0
    private(set) var compressedBytes: Int64 = 0
    private(set) var writeError: Int32 = 0
    private var finalDigest = ""
    private var finalDiffID = ""

    init(fd: Int32, outputName: String, compression: LayerCompression, level: Int) throws {
        self.fd = fd
        self.outputName = outputName
        guard let archive = archive_write_new() else { throw LayerDiffError.archive(path: outputName, message: "out of memory") }
        self.archive = archive
        archive_write_set_format_raw(archive)
        switch compression {
        case .none: archive_write_add_filter_none(archive)
        case .gzip:
            archive_write_add_filter_none(archive)
            gzip = ParallelGzip(level: level)
        case .zstd:
            archive_write_add_filter_zstd(archive)
        }
        archive_write_set_bytes_per_block(archive, 0)
        let opened = archive_write_open2(archive, Unmanaged.passUnretained(self).toOpaque(), nil, { _, context, buffer, length in
            let sink = Unmanaged<CompressedSink>.fromOpaque(context!).takeUnretainedValue()
            return sink.emit(UnsafeRawBufferPointer(start: buffer, count: length))
        }, nil, nil)
        guard opened == ARCHIVE_OK else { throw error("opening the compressor") }
        let entry = archive_entry_new()
        archive_entry_set_pathname(entry, "layer.tar")
        archive_entry_set_filetype(entry, 0o100000) // AE_IFREG
        let header = archive_write_header(archive, entry)
        archive_entry_free(entry)
        guard header == ARCHIVE_OK else { throw error("starting the compressor") }
    }

    deinit { archive_write_free(archive) }

    private func emit(_ bytes: UnsafeRawBufferPointer) -> Int {
        compressedHash.update(bufferPointer: bytes)
        compressedBytes += Int64(bytes.count)
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { writeError = errno; return -1 }
            offset += n
        }
        return bytes.count
    }

    /// Accepts uncompressed tar bytes.
    func accept(_ bytes: UnsafeRawBufferPointer) -> Int {
        uncompressedHash.update(bufferPointer: bytes)
        uncompressedBytes += Int64(bytes.count)
        if let gzip {
            do { try gzip.accept(bytes) { self.emit($0) } } catch { return -1 }
            return bytes.count
        }
        let written = archive_write_data(archive, bytes.baseAddress, bytes.count)
        return written < 0 ? -1 : bytes.count
    }

    func finish() throws {
        if let gzip {
            do { try gzip.finish { self.emit($0) } } catch { throw self.error("compressing") }
        }
        guard archive_write_close(archive) == ARCHIVE_OK else { throw error("flushing the compressor") }
        finalDigest = Self.hex(compressedHash.finalize())
        finalDiffID = Self.hex(uncompressedHash.finalize())
    }

    var digest: String { finalDigest }
    var diffID: String { finalDiffID }

    func error(_ what: String) -> LayerDiffError {
        if writeError != 0 { return .output(path: outputName, errno: writeError) }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return .archive(path: outputName, message: "\(what): \(message)")
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// This thread's locale switched to C.UTF-8 (LC_CTYPE) and back, for libarchive's name conversions.
enum UTF8Locale {
    // Made once and never freed or changed: sharing the pointer between threads is what uselocale expects.
    nonisolated(unsafe) private static let locale: locale_t? = newlocale(Int32(1) << LC_CTYPE, "C.UTF-8", nil)

    /// Switches this thread to C.UTF-8; returns what to restore (nil when C.UTF-8 is missing: nothing changes).
    static func enter() -> locale_t? {
        guard let locale else { return nil }
        return uselocale(locale)
    }

    /// Restores what `enter()` returned.
    static func leave(_ saved: locale_t?) {
        if let saved { uselocale(saved) }
    }
}
