import Foundation
import HTTP
import ImageStore
import Locking
import OCI
import Registry
import RegistriesConf

/// Pulls images from registries into the store and pushes them from the store to registries.
public struct ImageTransfer: Sendable {
    /// The local store.
    public let store: ImageStore
    /// How to reach registries.
    public let access: RegistryAccess
    /// Blobs transferred at once.
    public var parallelism: Int
    /// The Gitea host whose owner-namespace rule applies to pushes, and the owner.
    public var gitea: (host: String, owner: String)?

    /// Makes a transfer helper.
    public init(store: ImageStore, access: RegistryAccess, parallelism: Int = 3, gitea: (host: String, owner: String)? = nil) {
        self.store = store
        self.access = access
        self.parallelism = max(1, parallelism)
        self.gitea = gitea
    }

    // MARK: pull

    /// Pulls `reference` (through registries.conf mirrors when configured) and tags it in the store under its own name.
    /// With `unpack`, each layer is also unpacked while it downloads into the store's tree for its chain ID (as
    /// `ImageStore.unpackLayer` with those options would make it), which is moved into place only once the blob's digest
    /// is verified; layers already stored are unpacked from the store. Without it no tree is made.
    @discardableResult
    public func pull(_ reference: Reference, platform: Platform = .current, unpack: UnpackOptions? = nil,
                     events: @escaping TransferEventHandler = { _ in }) async throws -> StoredImage {
        let sources = try access.registries.pullSources(for: reference)
        var lastError: (any Error)?
        var mirrorFailures: [String] = []
        for source in sources {
            events(TransferEvent(phase: "pull", kind: .resolving, reference: reference.description,
                                 message: "trying \(source.reference.description)\(source.isMirror ? " (mirror)" : "")"))
            do {
                return try await pull(reference, from: source, platform: platform, unpack: unpack, events: events)
            } catch let error where source.isMirror && !(error is CancellationError) {
                events(TransferEvent(phase: "pull", kind: .warning, reference: reference.description,
                                     message: "mirror \(source.reference.domain) failed: \(error); trying the next source"))
                mirrorFailures.append("the mirror \(source.reference.domain) failed first: \(error)")
                lastError = error
            } catch let error where !mirrorFailures.isEmpty && !(error is CancellationError) {
                // Every source failed: the mirror's reason is often the one that matters (a hostile layer, say).
                throw PullFailure(last: error, mirrors: mirrorFailures)
            }
        }
        throw lastError ?? RegistryError.badResponse(host: reference.domain, detail: "no source to pull from")
    }

    /// Every source of a pull failed: the last one's error, and what the mirrors tried before it said.
    public struct PullFailure: Error, CustomStringConvertible {
        /// The last source's error.
        public let last: any Error
        /// The mirrors' failures, in order.
        public let mirrors: [String]
        /// Both, in one sentence.
        public var description: String { "\(last); \(mirrors.joined(separator: "; "))" }
    }

    private func pull(_ reference: Reference, from source: PullSource, platform: Platform, unpack: UnpackOptions?,
                      events: @escaping TransferEventHandler) async throws -> StoredImage {
        let client = try await access.client(for: source.reference.apiDomain, insecure: source.insecure)
        let repository = source.reference.repository
        let top = try await client.manifest(repository: repository, reference: source.reference.manifestReference)
        events(TransferEvent(phase: "pull", kind: .manifest, reference: reference.description, digest: top.digest.description,
                             total: Int64(top.bytes.count)))
        var manifest: ImageManifest
        var fetchedManifests = [top]
        switch top.document {
        case .image(let m):
            manifest = m
        case .index(let index):
            let chosen = try index.manifest(for: platform)
            let child = try await client.manifest(repository: repository, reference: chosen.digest.description)
            guard case .image(let m) = child.document else {
                throw RegistryError.badResponse(host: client.endpoint.host, detail: "index entry \(chosen.digest) is not an image manifest")
            }
            manifest = m
            fetchedManifests.append(child)
        }
        try await download(manifest: manifest, repository: repository, client: client, reference: reference.description,
                           unpack: unpack, events: events)
        // Manifests go in last, so a tag never points at an image whose blobs are missing.
        for fetched in fetchedManifests.reversed() {
            try store.putBlob(fetched.bytes, mediaType: fetched.mediaType, expected: fetched.digest)
        }
        try store.tag(reference.description, descriptor: top.descriptor)
        events(TransferEvent(phase: "pull", kind: .done, reference: reference.description, digest: top.digest.description))
        return try store.image(reference.description, platform: platform)
    }

    /// Downloads the config and the layers the store lacks, several at once (the largest first, so the pull does not end
    /// on one big blob alone), each hashed and written as it arrives; with `unpack`, each layer is unpacked as it arrives too.
    private func download(manifest: ImageManifest, repository: String, client: RegistryClient, reference: String,
                          unpack: UnpackOptions?, events: @escaping TransferEventHandler) async throws {
        let store = self.store
        var missing = [Descriptor]()
        var seen = Set<Digest>()
        for blob in [manifest.config] + manifest.layers where seen.insert(blob.digest).inserted {
            if store.hasBlob(blob.digest) {
                events(TransferEvent(phase: "pull", kind: .blobSkipped, reference: reference, digest: blob.digest.description, total: blob.size))
            } else {
                missing.append(blob)
            }
        }
        missing = missing.enumerated().sorted { ($0.element.size, -$0.offset) > ($1.element.size, -$1.offset) }.map(\.element)
        let layerDigests = Set(manifest.layers.map(\.digest))
        let unpacked = LockedValue<[(Digest, LayerStreamUnpack)]>([])
        do {
            try await forEachConcurrently(missing, limit: parallelism) { blob in
                events(TransferEvent(phase: "pull", kind: .blobStarted, reference: reference, digest: blob.digest.description, total: blob.size))
                let temporary = try store.newTemporaryPath()
                let progress = ProgressThrottle(total: blob.size) { done in
                    events(TransferEvent(phase: "pull", kind: .blobProgress, reference: reference, digest: blob.digest.description,
                                         bytes: done, total: blob.size))
                }
                var unpacker: LayerStreamUnpack?
                do {
                    if let unpack, layerDigests.contains(blob.digest) {
                        unpacker = try LayerStreamUnpack(store: store, options: unpack, label: blob.digest.description)
                    }
                    try await client.downloadBlob(repository: repository, descriptor: blob, to: temporary,
                                                  observer: unpacker.map(UnpackingObserver.init), progress: progress.report)
                    try store.adoptVerifiedFile(temporary, digest: blob.digest)
                    if let unpacker {
                        // The blob is verified: the tree made from it may stay (it is moved into place once the chain IDs are known).
                        let report = try await unpacker.finish()
                        Self.warn(report.warnings, reference: reference, events: events)
                        unpacked.withLock { $0.append((blob.digest, unpacker)) }
                    }
                } catch {
                    unlink(temporary)
                    await unpacker?.discard()
                    throw error
                }
                events(TransferEvent(phase: "pull", kind: .blobDone, reference: reference, digest: blob.digest.description,
                                     bytes: blob.size, total: blob.size))
            }
            if let unpack {
                try await placeLayerTrees(manifest: manifest, streamed: unpacked.take(), options: unpack, host: client.endpoint.host,
                                          reference: reference, events: events)
            }
        } catch {
            for (_, unpacker) in unpacked.take() { await unpacker.discard() }
            throw error
        }
    }

    /// Moves the trees unpacked while downloading into place by chain ID, and unpacks from the store the layers that were
    /// there already (or appear twice) and have no tree yet.
    private func placeLayerTrees(manifest: ImageManifest, streamed: [(Digest, LayerStreamUnpack)], options: UnpackOptions, host: String,
                                 reference: String, events: @escaping TransferEventHandler) async throws {
        let store = self.store
        var pending = Dictionary(streamed, uniquingKeysWith: { first, _ in first })
        do {
            let configBytes = try store.readBlob(manifest.config.digest)
            let config: ImageConfig
            do { config = try ImageConfig.decode(configBytes) } catch {
                throw RegistryError.badResponse(host: host, detail: "config \(manifest.config.digest) of \(reference) does not decode: \(error)")
            }
            let chain = config.rootfs.chainIDs
            guard chain.count == manifest.layers.count else {
                throw RegistryError.badResponse(host: host, detail: "config \(manifest.config.digest) of \(reference) lists \(chain.count) diff IDs for \(manifest.layers.count) layers")
            }
            var fromStore = [(layer: Descriptor, chainID: Digest)]()
            for (layer, chainID) in zip(manifest.layers, chain) {
                if let unpacker = pending.removeValue(forKey: layer.digest) {
                    try unpacker.commit(chainID: chainID)
                } else if !store.hasLayer(chainID) {
                    fromStore.append((layer, chainID))
                }
            }
            try await forEachConcurrently(fromStore, limit: parallelism) { item in
                try await onThread("idpbuild-unpack") {
                    var warnings = [String]()
                    try store.unpackLayer(item.layer, chainID: item.chainID, options: options) { warnings.append($0) }
                    Self.warn(warnings, reference: reference, events: events)
                }
            }
        } catch {
            for unpacker in pending.values { await unpacker.discard() }
            throw error
        }
    }

    private static func warn(_ warnings: [String], reference: String, events: TransferEventHandler) {
        for warning in warnings { events(TransferEvent(phase: "pull", kind: .warning, reference: reference, message: warning)) }
    }

    // MARK: push

    /// Pushes the store's image `source` (a tag in the store) to `destination`; returns the pushed manifest's digest.
    @discardableResult
    public func push(_ source: String, to destination: Reference, platform: Platform = .current,
                     events: @escaping TransferEventHandler = { _ in }) async throws -> Digest {
        if let gitea, destination.domain.lowercased() == gitea.host.lowercased() {
            try GiteaRules.validate(repository: destination.repository, host: destination.domain, owner: gitea.owner)
        }
        let image = try store.image(source, platform: platform)
        let client = try await access.client(for: destination.apiDomain)
        let repository = destination.repository
        // A blob that came from another repository of the same registry can be mounted instead of uploaded.
        let sourceReference = try? Reference(parsing: source, defaultTag: false)
        let mountFrom = sourceReference.flatMap { $0.domain == destination.domain && $0.repository != repository ? $0.repository : nil }
        let store = self.store
        let name = destination.description
        try await forEachConcurrently(image.manifest.layers + [image.manifest.config], limit: parallelism) { blob in
            guard store.hasBlob(blob.digest) else { throw ImageStoreError.blobNotFound(blob.digest) }
            events(TransferEvent(phase: "push", kind: .blobStarted, reference: name, digest: blob.digest.description, total: blob.size))
            let progress = ProgressThrottle(total: blob.size) { done in
                events(TransferEvent(phase: "push", kind: .blobProgress, reference: name, digest: blob.digest.description, bytes: done, total: blob.size))
            }
            let outcome = try await client.uploadBlob(repository: repository, descriptor: blob, from: store.blobPath(blob.digest),
                                                      mountFrom: mountFrom, progress: progress.report)
            let kind: TransferEvent.Kind = switch outcome {
            case .existed: .blobSkipped
            case .mounted: .blobMounted
            case .uploaded: .blobDone
            }
            events(TransferEvent(phase: "push", kind: kind, reference: name, digest: blob.digest.description, bytes: blob.size, total: blob.size))
        }
        let bytes = try store.readBlob(image.descriptor.digest)
        let mediaType = image.manifest.mediaType ?? MediaType.ociManifest
        let digest = try await client.putManifest(repository: repository, reference: destination.digest?.description ?? destination.tag ?? "latest",
                                                  bytes: bytes, mediaType: mediaType)
        events(TransferEvent(phase: "push", kind: .done, reference: name, digest: digest.description, total: Int64(bytes.count)))
        return digest
    }
}

/// Runs `body` for each element with at most `limit` running at once; the first error cancels the rest.
func forEachConcurrently<T: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<limit {
            guard let item = iterator.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await body(item) } }
        }
    }
}

/// Runs blocking work (unpacking a layer from the store) on a thread of its own, never on a Swift concurrency thread.
func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result(catching: body)) }
        thread.name = name
        thread.start()
    }
}

/// Feeds a download's bytes to a layer unpacking as they arrive.
final class UnpackingObserver: BlobStreamObserver {
    let unpacker: LayerStreamUnpack
    init(_ unpacker: LayerStreamUnpack) { self.unpacker = unpacker }
    func consume(_ bytes: UnsafeRawBufferPointer) { unpacker.feed(bytes) }
    func restart() { unpacker.restart() }
}

extension LockedValue {
    /// The values gathered so far, leaving none.
    func take<Item>() -> [Item] where Value == [Item] { withLock { items in defer { items = [] }; return items } }
}

/// Forwards byte counts at most every 1% or 4 MiB, so progress events stay cheap.
final class ProgressThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private var last: Int64 = 0
    private let step: Int64
    private let sink: @Sendable (Int64) -> Void

    init(total: Int64, sink: @escaping @Sendable (Int64) -> Void) {
        step = max(64 * 1024, min(4 << 20, total / 100))
        self.sink = sink
    }

    var report: @Sendable (Int64) -> Void {
        { [self] done in
            lock.lock()
            let emit = done - last >= step
            if emit { last = done }
            lock.unlock()
            if emit { sink(done) }
        }
    }
}
