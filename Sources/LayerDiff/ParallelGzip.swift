import CArchive
import Foundation

/// gzip on several cores, pigz-style: the stream is cut into 1 MiB chunks, each compressed as an independent gzip
/// member (RFC 1952 allows a series of members; Go's, containerd's, libarchive's and gzip's readers take them), and
/// the members are written in order. The output depends only on the input and the level, never on the number of
/// threads, so layer digests stay reproducible across machines. At most `2 × threads` chunks are in memory.
final class ParallelGzip: @unchecked Sendable {
    static let chunkSize = 1 << 20

    private let level: Int
    private let threads: Int
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var submitted = 0
    private var emitted = 0
    private var running = 0
    private var results: [Int: [UInt8]] = [:]
    private var failure = false
    private let queue = DispatchQueue(label: "idpbuild.gzip", attributes: .concurrent)

    init(level: Int, threads: Int = min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))) {
        self.level = level
        self.threads = threads
        pending.reserveCapacity(Self.chunkSize)
    }

    /// Takes uncompressed bytes; `emit` receives compressed members in order (on this thread) and returns <0 on error.
    func accept(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Int) throws {
        var offset = 0
        while offset < bytes.count {
            let take = min(Self.chunkSize - pending.count, bytes.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            offset += take
            if pending.count == Self.chunkSize {
                try submit(emit: emit)
            }
        }
    }

    /// Compresses what is left, waits for every member and writes them.
    func finish(emit: (UnsafeRawBufferPointer) -> Int) throws {
        if !pending.isEmpty || submitted == 0 { try submit(emit: emit) }
        condition.lock()
        while emitted < submitted {
            if let ready = results.removeValue(forKey: emitted) {
                condition.unlock()
                guard ready.withUnsafeBytes({ emit($0) }) >= 0 else { throw GzipFailure() }
                condition.lock()
                emitted += 1
            } else {
                if failure { condition.unlock(); throw GzipFailure() }
                condition.wait()
            }
        }
        let failed = failure
        condition.unlock()
        if failed { throw GzipFailure() }
    }

    private func submit(emit: (UnsafeRawBufferPointer) -> Int) throws {
        let chunk = pending
        pending = []
        pending.reserveCapacity(Self.chunkSize)
        condition.lock()
        // Write finished members in order, and wait while too many chunks are held.
        while true {
            if failure { condition.unlock(); throw GzipFailure() }
            if let ready = results.removeValue(forKey: emitted) {
                condition.unlock()
                guard ready.withUnsafeBytes({ emit($0) }) >= 0 else { throw GzipFailure() }
                condition.lock()
                emitted += 1
                continue
            }
            if submitted - emitted < 2 * threads && running < threads { break }
            condition.wait()
        }
        let index = submitted
        submitted += 1
        running += 1
        condition.unlock()
        let level = self.level
        queue.async { [self] in
            let member = Self.compress(chunk, level: level)
            condition.lock()
            running -= 1
            if let member { results[index] = member } else { failure = true }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// One gzip member (no name, no timestamp, so identical input gives identical bytes).
    static func compress(_ chunk: [UInt8], level: Int) -> [UInt8]? {
        guard let archive = archive_write_new() else { return nil }
        defer { archive_write_free(archive) }
        archive_write_set_format_raw(archive)
        archive_write_add_filter_gzip(archive)
        archive_write_set_filter_option(archive, "gzip", "timestamp", nil)
        archive_write_set_filter_option(archive, "gzip", "compression-level", String(level))
        archive_write_set_bytes_per_block(archive, 0)
        let box = OutputBox()
        box.bytes.reserveCapacity(chunk.count / 2 + 1024)
        let opened = archive_write_open2(archive, Unmanaged.passUnretained(box).toOpaque(), nil, { _, context, buffer, length in
            let box = Unmanaged<OutputBox>.fromOpaque(context!).takeUnretainedValue()
            box.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }, nil, nil)
        guard opened == ARCHIVE_OK else { return nil }
        let entry = archive_entry_new()
        archive_entry_set_pathname(entry, "chunk")
        archive_entry_set_filetype(entry, 0o100000)
        let header = archive_write_header(archive, entry)
        archive_entry_free(entry)
        guard header == ARCHIVE_OK else { return nil }
        let written = chunk.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
        guard written == chunk.count, archive_write_close(archive) == ARCHIVE_OK else { return nil }
        return box.bytes
    }

    private final class OutputBox { var bytes: [UInt8] = [] }
    private struct GzipFailure: Error {}
}
