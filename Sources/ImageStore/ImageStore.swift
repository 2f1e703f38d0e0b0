import Foundation
import OCI

/// One tagged image in the store.
public struct ImageRecord: Sendable, Hashable, Codable {
    /// The full reference it is tagged as.
    public var reference: String
    /// The manifest (or index) descriptor.
    public var descriptor: Descriptor
}

/// An image's manifest and config, read from the store.
public struct StoredImage: Sendable {
    /// The reference it was found by.
    public var reference: String
    /// The manifest descriptor.
    public var descriptor: Descriptor
    /// The manifest.
    public var manifest: ImageManifest
    /// The config.
    public var config: ImageConfig
    /// The config's exact bytes.
    public var configBytes: [UInt8]

    /// Compressed size of config and layers.
    public var size: Int64 { manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size } }
}

/// What a garbage collection removed.
public struct CollectionReport: Sendable, Hashable, Codable {
    /// Blobs removed.
    public var blobs: Int
    /// Bytes freed by removed blobs.
    public var bytes: Int64
    /// Unpacked layer trees removed.
    public var layers: Int
    /// Stale temp files removed.
    public var temporaryFiles: Int
}

/// The local image store: an OCI image layout (content-addressed blobs, `index.json` tags) plus unpacked layer trees.
///
/// Every write is atomic (temp file, check, rename) so a killed process never leaves a half-written blob in place.
/// Tag changes take an exclusive `flock` on `root/lock`, because a build worker process may share the store.
public struct ImageStore: Sendable {
    /// The store's root directory.
    public let root: String
    /// The annotation naming a tag in `index.json`.
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"

    /// `$XDG_DATA_HOME/idpbuild`, or `~/.local/share/idpbuild`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return xdg + "/idpbuild" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/idpbuild"
    }

    /// Opens (creating if needed) a store at `root`.
    public init(root: String) throws {
        self.root = root
        for dir in [root, root + "/blobs/sha256", root + "/tmp", root + "/layers"] {
            if mkdirAll(dir) != 0 { throw ImageStoreError.io(path: dir, operation: "create directory", errno: errno) }
        }
        let layout = root + "/oci-layout"
        if !FileManager.default.fileExists(atPath: layout) {
            try writeAtomically(layout, Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        }
        if !FileManager.default.fileExists(atPath: indexPath) {
            try writeAtomically(indexPath, try CanonicalJSON.encode(ImageIndex(mediaType: MediaType.ociIndex, manifests: [])))
        }
    }

    var indexPath: String { root + "/index.json" }

    // MARK: blobs

    /// Where a blob lives (whether or not it exists).
    public func blobPath(_ digest: Digest) -> String { "\(root)/blobs/\(digest.algorithm)/\(digest.encoded)" }

    /// Whether the blob is present.
    public func hasBlob(_ digest: Digest) -> Bool { access(blobPath(digest), F_OK) == 0 }

    /// The size of a present blob.
    public func blobSize(_ digest: Digest) throws -> Int64 {
        var st = stat()
        guard stat(blobPath(digest), &st) == 0 else { throw ImageStoreError.blobNotFound(digest) }
        return Int64(st.st_size)
    }

    /// A fresh path in the store's temp folder (same file system as the blobs, so a rename is atomic).
    public func newTemporaryPath() throws -> String {
        root + "/tmp/" + UUID().uuidString.lowercased()
    }

    /// Starts writing a blob from a stream.
    public func makeBlobWriter() throws -> BlobWriter { try BlobWriter(store: self) }

    /// Stores bytes held in memory as a blob (manifests, configs); returns a descriptor of the given media type.
    @discardableResult
    public func putBlob(_ bytes: [UInt8], mediaType: String, expected: Digest? = nil) throws -> Descriptor {
        let digest = Digest.sha256(of: bytes)
        if let expected, expected != digest { throw ImageStoreError.digestMismatch(expected: expected, actual: digest) }
        if !hasBlob(digest) {
            let writer = try makeBlobWriter()
            try writer.write(bytes)
            try writer.commit(expected: digest)
        }
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    /// Moves a temp file whose digest the caller has verified (e.g. a registry download) into place.
    public func adoptVerifiedFile(_ path: String, digest: Digest) throws {
        let target = blobPath(digest)
        if hasBlob(digest) { unlink(path); return }
        guard rename(path, target) == 0 else {
            let code = errno
            unlink(path)
            throw ImageStoreError.io(path: target, operation: "rename blob into", errno: code)
        }
    }

    /// Reads a small blob (manifest, config) into memory, refusing anything over `limit` bytes.
    public func readBlob(_ digest: Digest, limit: Int = 32 << 20) throws -> [UInt8] {
        let path = blobPath(digest)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImageStoreError.blobNotFound(digest) }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
        guard data.count <= limit else { throw ImageStoreError.corrupt(path: path, detail: "larger than \(limit) bytes") }
        return Array(data)
    }

    /// Re-hashes a blob and checks it against its name.
    public func verifyBlob(_ digest: Digest) throws {
        let path = blobPath(digest)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImageStoreError.blobNotFound(digest) }
        defer { try? handle.close() }
        var hasher = DigestHasher()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { hasher.update($0) } }
        let actual = hasher.finalize()
        guard actual == digest else { throw ImageStoreError.digestMismatch(expected: digest, actual: actual) }
    }

    // MARK: tags

    /// All tagged images, sorted by reference.
    public func list() throws -> [ImageRecord] {
        try readIndex().manifests.compactMap { d in
            d.annotations?[Self.refNameAnnotation].map { ImageRecord(reference: $0, descriptor: d) }
        }.sorted { $0.reference < $1.reference }
    }

    /// The manifest descriptor tagged as `reference` (the canonical string of a `Reference`), if any.
    public func resolve(_ reference: String) throws -> Descriptor? {
        try list().first { $0.reference == reference }?.descriptor
    }

    /// Tags a manifest (whose blob must be present) as `reference`, replacing any previous image with that tag.
    public func tag(_ reference: String, descriptor: Descriptor) throws {
        guard hasBlob(descriptor.digest) else { throw ImageStoreError.blobNotFound(descriptor.digest) }
        try withLock {
            var index = try readIndex()
            index.manifests.removeAll { $0.annotations?[Self.refNameAnnotation] == reference }
            var entry = descriptor
            entry.annotations = (entry.annotations ?? [:]).merging([Self.refNameAnnotation: reference]) { $1 }
            index.manifests.append(entry)
            try writeAtomically(indexPath, try CanonicalJSON.encode(index))
        }
    }

    /// Removes the tags matching `reference` (a full reference, or a manifest digest or its hex prefix); returns what was removed.
    @discardableResult
    public func untag(_ reference: String) throws -> [ImageRecord] {
        try withLock {
            var index = try readIndex()
            let matches = index.manifests.filter { Self.matches($0, reference) }
            guard !matches.isEmpty else { throw ImageStoreError.imageNotFound(reference) }
            let digests = Set(matches.map(\.digest))
            if digests.count > 1 && !matches.contains(where: { $0.annotations?[Self.refNameAnnotation] == reference }) {
                throw ImageStoreError.invalidArgument("\"\(reference)\" matches \(digests.count) different images; give more of the digest")
            }
            index.manifests.removeAll { Self.matches($0, reference) }
            try writeAtomically(indexPath, try CanonicalJSON.encode(index))
            return matches.map { ImageRecord(reference: $0.annotations?[Self.refNameAnnotation] ?? "", descriptor: $0) }
        }
    }

    private static func matches(_ d: Descriptor, _ query: String) -> Bool {
        if d.annotations?[refNameAnnotation] == query { return true }
        return digestPrefix(query).map { d.digest.encoded.hasPrefix($0) } ?? false
    }

    /// The lowercase hex a query names when it reads as a manifest digest or its prefix (`sha256:` optional, 6+ hex digits).
    static func digestPrefix(_ query: String) -> String? {
        let hex = query.hasPrefix("sha256:") ? String(query.dropFirst(7)) : query
        return hex.count >= 6 && hex.allSatisfy(\.isHexDigit) ? hex.lowercased() : nil
    }

    /// Reads the image tagged `reference`, choosing `platform` from an index.
    public func image(_ reference: String, platform: Platform = .current) throws -> StoredImage {
        guard let descriptor = try resolve(reference) else { throw ImageStoreError.imageNotFound(reference) }
        return try image(descriptor: descriptor, reference: reference, platform: platform)
    }

    /// Reads the image a manifest or index descriptor names.
    public func image(descriptor: Descriptor, reference: String, platform: Platform = .current) throws -> StoredImage {
        let bytes = try readBlob(descriptor.digest)
        let document: ManifestDocument
        do { document = try ManifestDocument(decoding: bytes, contentType: descriptor.mediaType) } catch {
            throw ImageStoreError.corrupt(path: blobPath(descriptor.digest), detail: "\(error)")
        }
        switch document {
        case .index(let index):
            let chosen = try index.manifest(for: platform)
            return try image(descriptor: chosen, reference: reference, platform: platform)
        case .image(let manifest):
            let configBytes = try readBlob(manifest.config.digest)
            let config: ImageConfig
            do { config = try ImageConfig.decode(configBytes) } catch {
                throw ImageStoreError.corrupt(path: blobPath(manifest.config.digest), detail: "\(error)")
            }
            return StoredImage(reference: reference, descriptor: descriptor, manifest: manifest, config: config, configBytes: configBytes)
        }
    }

    // MARK: layers

    /// The directory for the unpacked tree of the layer stack ending in `chainID` (it may not exist yet).
    public func layerPath(_ chainID: Digest) -> String { "\(root)/layers/\(chainID.encoded)" }

    /// Whether an unpacked tree exists for the chain ID.
    public func hasLayer(_ chainID: Digest) -> Bool { access(layerPath(chainID), F_OK) == 0 }

    /// Unpacks one layer blob (its changes only) into the tree for `chainID`, atomically (a temp dir, then renamed), unless present.
    /// Use `.overlay` whiteouts for a tree meant as an overlay lower dir; `LayerUnpacker` applies layers onto one tree instead.
    /// `warn` hears what could not be restored exactly (device nodes a user namespace cannot make, say), once per layer.
    @discardableResult
    public func unpackLayer(_ layer: Descriptor, chainID: Digest, options: UnpackOptions = UnpackOptions(),
                            warn: (String) -> Void = { _ in }) throws -> String {
        let target = layerPath(chainID)
        if hasLayer(chainID) { return target }
        let temporary = try makeTemporaryLayerDirectory()
        do {
            let report = try LayerUnpacker.unpack(archive: blobPath(layer.digest), into: temporary, options: options, label: layer.digest.description)
            report.warnings.forEach(warn)
        } catch {
            _ = try? removeTree(temporary)
            throw error
        }
        return try adoptLayerTree(temporary, chainID: chainID)
    }

    /// A new empty directory beside the layer trees (`layers/.tmp-*`, which garbage collection removes when stale).
    func makeTemporaryLayerDirectory() throws -> String {
        let temporary = root + "/layers/.tmp-" + UUID().uuidString.lowercased()
        guard mkdir(temporary, 0o755) == 0, chmod(temporary, 0o755) == 0 else {
            throw ImageStoreError.io(path: temporary, operation: "create directory", errno: errno)
        }
        return temporary
    }

    /// Renames a finished tree into place as the tree for `chainID`, or removes it when that tree exists already.
    func adoptLayerTree(_ temporary: String, chainID: Digest) throws -> String {
        let target = layerPath(chainID)
        if rename(temporary, target) != 0 {
            let code = errno
            _ = try? removeTree(temporary)
            if code == EEXIST || code == ENOTEMPTY { return target }  // another process won the race
            throw ImageStoreError.io(path: target, operation: "rename layer tree into", errno: code)
        }
        return target
    }

    // MARK: garbage collection

    /// Every blob digest reachable from a tag (manifests, index children, configs, layers).
    public func referencedBlobs() throws -> Set<Digest> {
        var seen = Set<Digest>()
        var queue = try readIndex().manifests
        while let d = queue.popLast() {
            guard seen.insert(d.digest).inserted, hasBlob(d.digest) else { continue }
            guard MediaType.isIndex(d.mediaType) || MediaType.isImageManifest(d.mediaType) else { continue }
            guard let bytes = try? readBlob(d.digest), let doc = try? ManifestDocument(decoding: bytes, contentType: d.mediaType) else { continue }
            switch doc {
            case .index(let index): queue.append(contentsOf: index.manifests)
            case .image(let manifest):
                seen.insert(manifest.config.digest)
                manifest.layers.forEach { seen.insert($0.digest) }
            }
        }
        return seen
    }

    /// Removes blobs no tag reaches, layer trees no tagged image uses, and temp files, all older than `gracePeriod` seconds.
    /// Extra `keep` digests and `keepLayers` chain IDs are spared, and so is everything a build-cache record uses
    /// (`clearBuildCache()` first to drop the cache too).
    @discardableResult
    public func collectGarbage(gracePeriod: TimeInterval = 0, keep: Set<Digest> = [], keepLayers: Set<Digest> = []) throws -> CollectionReport {
        let cacheRoots = buildCacheRoots()
        let keep = keep.union(cacheRoots.blobs)
        let keepLayers = keepLayers.union(cacheRoots.layers)
        return try withLock {
            let cutoff = Date().addingTimeInterval(-gracePeriod).timeIntervalSince1970
            var report = CollectionReport(blobs: 0, bytes: 0, layers: 0, temporaryFiles: 0)
            let referenced = try referencedBlobs().union(keep)
            let blobDir = root + "/blobs/sha256"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: blobDir)) ?? [] {
                guard let digest = try? Digest(parsing: "sha256:" + name), !referenced.contains(digest) else { continue }
                var st = stat()
                guard lstat(blobDir + "/" + name, &st) == 0, Double(st.st_mtim.tv_sec) <= cutoff else { continue }
                if unlink(blobDir + "/" + name) == 0 { report.blobs += 1; report.bytes += Int64(st.st_size) }
            }
            var liveChains = keepLayers
            for record in try list() {
                if let image = try? image(descriptor: record.descriptor, reference: record.reference) {
                    liveChains.formUnion(image.config.rootfs.chainIDs)
                }
            }
            let layerDir = root + "/layers"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: layerDir)) ?? [] {
                let path = layerDir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0, Double(st.st_mtim.tv_sec) <= cutoff else { continue }
                if name.hasPrefix(".tmp-") || (try? Digest(parsing: "sha256:" + name)).map({ !liveChains.contains($0) }) == true {
                    if (try? removeTree(path)) != nil { report.layers += 1 }
                }
            }
            let tmpDir = root + "/tmp"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: tmpDir)) ?? [] {
                var st = stat()
                guard lstat(tmpDir + "/" + name, &st) == 0, Double(st.st_mtim.tv_sec) <= cutoff else { continue }
                if unlink(tmpDir + "/" + name) == 0 { report.temporaryFiles += 1 }
            }
            return report
        }
    }

    // MARK: plumbing

    func readIndex() throws -> ImageIndex {
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw ImageStoreError.io(path: indexPath, operation: "read", errno: errno)
        }
        do { return try JSONDecoder().decode(ImageIndex.self, from: data) } catch {
            throw ImageStoreError.corrupt(path: indexPath, detail: ManifestDocument.describe(error))
        }
    }

    /// Runs `body` holding the store's exclusive lock (shared with other processes using the same store).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let path = root + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageStoreError.io(path: path, operation: "open lock", errno: errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw ImageStoreError.io(path: path, operation: "lock", errno: errno) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Writes a small file atomically: temp file, fsync, rename.
    func writeAtomically(_ path: String, _ bytes: [UInt8]) throws {
        let temporary = try newTemporaryPath()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageStoreError.io(path: temporary, operation: "create", errno: errno) }
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let code = errno
        guard written == bytes.count, fsync(fd) == 0 else {
            close(fd); unlink(temporary)
            throw ImageStoreError.io(path: path, operation: "write", errno: code)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw ImageStoreError.io(path: path, operation: "rename into", errno: code)
        }
    }

    /// Removes a directory tree, making directories writable first (layers may hold read-only dirs).
    public func removeTree(_ path: String) throws {
        try FileTree.remove(path)
    }

    private func mkdirAll(_ path: String) -> Int32 {
        (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil ? 0 : -1
    }
}
