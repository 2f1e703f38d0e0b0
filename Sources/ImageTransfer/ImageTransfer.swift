import Foundation
import HTTP
import ImageStore
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
    @discardableResult
    public func pull(_ reference: Reference, platform: Platform = .current,
                     events: @escaping TransferEventHandler = { _ in }) async throws -> StoredImage {
        let sources = try access.registries.pullSources(for: reference)
        var lastError: (any Error)?
        for source in sources {
            events(TransferEvent(phase: "pull", kind: .resolving, reference: reference.description,
                                 message: "trying \(source.reference.description)\(source.isMirror ? " (mirror)" : "")"))
            do {
                return try await pull(reference, from: source, platform: platform, events: events)
            } catch let error where source.isMirror && !(error is CancellationError) {
                events(TransferEvent(phase: "pull", kind: .warning, reference: reference.description,
                                     message: "mirror \(source.reference.domain) failed: \(error); trying the next source"))
                lastError = error
            }
        }
        throw lastError ?? RegistryError.badResponse(host: reference.domain, detail: "no source to pull from")
    }

    private func pull(_ reference: Reference, from source: PullSource, platform: Platform,
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
        try await download(blobs: [manifest.config] + manifest.layers, repository: repository, client: client,
                           reference: reference.description, events: events)
        // Manifests go in last, so a tag never points at an image whose blobs are missing.
        for fetched in fetchedManifests.reversed() {
            try store.putBlob(fetched.bytes, mediaType: fetched.mediaType, expected: fetched.digest)
        }
        try store.tag(reference.description, descriptor: top.descriptor)
        events(TransferEvent(phase: "pull", kind: .done, reference: reference.description, digest: top.digest.description))
        return try store.image(reference.description, platform: platform)
    }

    private func download(blobs: [Descriptor], repository: String, client: RegistryClient, reference: String,
                          events: @escaping TransferEventHandler) async throws {
        let store = self.store
        var missing = [Descriptor]()
        var seen = Set<Digest>()
        for blob in blobs where seen.insert(blob.digest).inserted {
            if store.hasBlob(blob.digest) {
                events(TransferEvent(phase: "pull", kind: .blobSkipped, reference: reference, digest: blob.digest.description, total: blob.size))
            } else {
                missing.append(blob)
            }
        }
        try await forEachConcurrently(missing, limit: parallelism) { blob in
            events(TransferEvent(phase: "pull", kind: .blobStarted, reference: reference, digest: blob.digest.description, total: blob.size))
            let temporary = try store.newTemporaryPath()
            let progress = ProgressThrottle(total: blob.size) { done in
                events(TransferEvent(phase: "pull", kind: .blobProgress, reference: reference, digest: blob.digest.description,
                                     bytes: done, total: blob.size))
            }
            do {
                try await client.downloadBlob(repository: repository, descriptor: blob, to: temporary, progress: progress.report)
                try store.adoptVerifiedFile(temporary, digest: blob.digest)
            } catch {
                unlink(temporary)
                throw error
            }
            events(TransferEvent(phase: "pull", kind: .blobDone, reference: reference, digest: blob.digest.description,
                                 bytes: blob.size, total: blob.size))
        }
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
