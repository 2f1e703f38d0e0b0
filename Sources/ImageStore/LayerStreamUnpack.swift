import CArchive
import Foundation
import OCI

/// Unpacks a layer while its blob is still arriving: bytes fed in order run through libarchive on a thread of its own
/// into a temp tree beside the layer trees, which `commit` renames into place for a chain ID once the caller has verified
/// the blob's digest. Until then the tree is only a `layers/.tmp-*` directory, which `discard` (or garbage collection) removes.
///
/// `feed` and `restart` come from one thread (a download's); `finish`, `commit` and `discard` follow once it is done.
public final class LayerStreamUnpack: @unchecked Sendable {
    private let store: ImageStore
    private let options: UnpackOptions
    private let label: String
    private let lock = NSLock()
    private var run: UnpackRun
    private var state = State.unpacking

    private enum State { case unpacking, finished, committed, discarded }

    /// Starts unpacking into a new temp tree; `label` names the layer in errors and warnings.
    public init(store: ImageStore, options: UnpackOptions, label: String) throws {
        self.store = store
        self.options = options
        self.label = label
        run = try UnpackRun(store: store, options: options, label: label)
    }

    private var current: UnpackRun { lock.withLock { run } }

    /// The next bytes of the layer blob; waits while the unpacker is several MiB behind, drops bytes once it has stopped.
    public func feed(_ bytes: UnsafeRawBufferPointer) {
        current.stream.feed(bytes)
    }

    /// The blob starts again from byte 0: the tree made so far is thrown away and a new one begun.
    public func restart() {
        let old = current
        old.stream.abort()
        old.waitUntilEnded()
        old.removeTree()
        do {
            let fresh = try UnpackRun(store: store, options: options, label: label)
            lock.withLock { run = fresh }
        } catch {
            // No new temp tree: this run stays ended with the error, which `finish` reports.
            old.replaceOutcome(with: error)
        }
    }

    /// Ends the input and waits until the tree is written; on failure the tree is removed and the error thrown.
    @discardableResult
    public func finish() async throws -> UnpackReport {
        let run = current
        run.stream.endInput()
        let outcome = await run.outcome()
        lock.withLock { if state == .unpacking { state = .finished } }
        switch outcome {
        case .success(let report): return report
        case .failure(let error):
            await discard()
            throw error
        }
    }

    /// Moves the finished tree into place as the tree for `chainID` (only after the blob's digest was verified); returns its path.
    @discardableResult
    public func commit(chainID: Digest) throws -> String {
        let run = try lock.withLock { () throws -> UnpackRun in
            guard state == .finished else {
                throw ImageStoreError.invalidArgument("layer \(label): its tree can only be committed once, after it was unpacked in full")
            }
            state = .committed
            return self.run
        }
        return try store.adoptLayerTree(run.temporary, chainID: chainID)
    }

    /// Stops unpacking (if it still runs), waits for it to stop and removes the temp tree; nothing of the layer is left.
    public func discard() async {
        let (skip, run) = lock.withLock { () -> (Bool, UnpackRun) in
            let skip = state == .committed || state == .discarded
            if !skip { state = .discarded }
            return (skip, self.run)
        }
        if skip { return }
        run.stream.abort()
        _ = await run.outcome()
        run.removeTree()
    }
}

/// One attempt at unpacking a layer: its temp tree, its byte stream, and the thread that runs libarchive.
private final class UnpackRun: @unchecked Sendable {
    let stream = LayerByteStream()
    let temporary: String
    private let store: ImageStore
    private let condition = NSCondition()
    private var result: Result<UnpackReport, any Error>?
    private var waiters: [CheckedContinuation<Result<UnpackReport, any Error>, Never>] = []

    init(store: ImageStore, options: UnpackOptions, label: String) throws {
        self.store = store
        temporary = try store.makeTemporaryLayerDirectory()
        let stream = self.stream
        let target = temporary
        let thread = Thread { [self] in
            let result = Result(catching: { try LayerUnpacker.unpack(into: target, options: options, label: label, open: stream.open) })
            stream.readerEnded()
            end(with: result)
        }
        thread.name = "idpbuild-unpack"
        thread.start()
    }

    private func end(with result: Result<UnpackReport, any Error>) {
        condition.lock()
        self.result = result
        let waiting = waiters
        waiters = []
        condition.broadcast()
        condition.unlock()
        waiting.forEach { $0.resume(returning: result) }
    }

    /// Marks an ended run as failed (its tree could not be replaced after a restart).
    func replaceOutcome(with error: any Error) {
        condition.lock()
        result = .failure(error)
        condition.unlock()
    }

    /// Blocks until the unpacking thread has ended.
    func waitUntilEnded() {
        condition.lock()
        while result == nil { condition.wait() }
        condition.unlock()
    }

    /// How the unpacking ended, once it has.
    func outcome() async -> Result<UnpackReport, any Error> {
        await withCheckedContinuation { continuation in
            condition.lock()
            if let result {
                condition.unlock()
                continuation.resume(returning: result)
            } else {
                waiters.append(continuation)
                condition.unlock()
            }
        }
    }

    func removeTree() {
        _ = try? store.removeTree(temporary)
    }
}

/// A bounded queue of byte blocks between a download (the producer) and libarchive's read callback (the consumer).
final class LayerByteStream: @unchecked Sendable {
    /// Bytes per block (libarchive writes a plain tar's files in blocks this size: 64 KiB, as the download's writes).
    static let blockSize = 64 << 10
    /// Blocks in flight at most (being filled, queued, and the one libarchive reads), which bounds memory per layer.
    static let maxBlocks = 64

    private final class Block {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: LayerByteStream.blockSize, alignment: 64)
        var count = 0
        deinit { bytes.deallocate() }
    }

    private let condition = NSCondition()
    private var queued: [Block] = []
    private var spare: [Block] = []
    private var filling: Block?
    private var reading: Block?
    private var allocated = 0
    /// The producer has no more bytes.
    private var ended = false
    /// The reader is gone (the tar ended, or the unpack failed): bytes are dropped.
    private var readerGone = false
    /// The reader is told to stop at its next read.
    private var aborted = false

    /// Appends bytes, waiting while `maxBlocks` are in flight.
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        condition.lock()
        defer { condition.unlock() }
        var done = 0
        while done < bytes.count {
            if readerGone || aborted { return }
            if filling == nil {
                if let block = spare.popLast() {
                    filling = block
                } else if allocated < Self.maxBlocks {
                    filling = Block()
                    allocated += 1
                } else {
                    condition.wait()
                    continue
                }
            }
            let block = filling!
            let n = min(Self.blockSize - block.count, bytes.count - done)
            (block.bytes.baseAddress! + block.count).copyMemory(from: base + done, byteCount: n)
            block.count += n
            done += n
            if block.count == Self.blockSize {
                queued.append(block)
                filling = nil
                condition.broadcast()
            }
        }
    }

    /// No more bytes will come: the reader sees the end of the stream after what is queued.
    func endInput() {
        condition.lock()
        if let block = filling, block.count > 0 { queued.append(block) }
        filling = nil
        ended = true
        condition.broadcast()
        condition.unlock()
    }

    /// Makes the reader fail at its next read, and the producer drop what it feeds.
    func abort() {
        condition.lock()
        aborted = true
        condition.broadcast()
        condition.unlock()
    }

    /// The reader has stopped: free the blocks and let the producer go on without waiting.
    func readerEnded() {
        condition.lock()
        readerGone = true
        queued = []
        spare = []
        filling = nil
        reading = nil
        condition.broadcast()
        condition.unlock()
    }

    /// The next block for libarchive (valid until the next call): its bytes, 0 at the end, or nil when aborted.
    fileprivate func next(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        if let block = reading {
            block.count = 0
            spare.append(block)
            reading = nil
            condition.broadcast()
        }
        while queued.isEmpty && !ended && !aborted { condition.wait() }
        if aborted { return nil }
        guard !queued.isEmpty else { return 0 }
        let block = queued.removeFirst()
        reading = block
        buffer?.pointee = UnsafeRawPointer(block.bytes.baseAddress!)
        return block.count
    }

    /// Opens a libarchive reader on this stream.
    func open(_ reader: OpaquePointer) -> Int32 {
        archive_read_open(reader, Unmanaged.passUnretained(self).toOpaque(), nil, layerStreamRead, nil)
    }
}

private let layerStreamRead: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> la_ssize_t = {
    _, data, buffer in
    // nil: the stream was aborted (the download failed or starts over), and libarchive's unpack fails with it.
    guard let count = Unmanaged<LayerByteStream>.fromOpaque(data!).takeUnretainedValue().next(buffer) else { return -1 }
    return la_ssize_t(count)
}
