import Foundation
import OCI

/// What one cached build step produced: its layer (nil when the step changed nothing) and where the layer stack
/// it ends lives unpacked. Keyed by the step's cache key (a digest of its parent and its inputs).
public struct BuildCacheRecord: Sendable, Hashable, Codable {
    /// The step's cache key.
    public var key: Digest
    /// The layer blob the step made, or nil when it changed nothing.
    public var layer: Descriptor?
    /// The layer's diff ID (digest of the uncompressed tar), when there is a layer.
    public var diffID: Digest?
    /// The chain ID of the layer stack ending in this step's layer (the unpacked tree `layers/<chain>` to keep).
    public var chainID: Digest?
    /// When the record was written, RFC 3339.
    public var created: String

    /// Makes a record.
    public init(key: Digest, layer: Descriptor?, diffID: Digest?, chainID: Digest?, created: String) {
        self.key = key
        self.layer = layer
        self.diffID = diffID
        self.chainID = chainID
        self.created = created
    }
}

extension ImageStore {
    /// The folder of build-cache records and the build's small state files.
    public var buildCacheDirectory: String { root + "/build-cache" }

    private func recordPath(_ key: Digest) -> String { buildCacheDirectory + "/steps/" + key.encoded + ".json" }

    /// The record for a step's cache key, if the step ran before and its layer blob is still in the store.
    public func cacheRecord(_ key: Digest) -> BuildCacheRecord? {
        guard let data = FileManager.default.contents(atPath: recordPath(key)),
              let record = try? JSONDecoder().decode(BuildCacheRecord.self, from: data), record.key == key else { return nil }
        if let layer = record.layer, !hasBlob(layer.digest) { return nil }
        return record
    }

    /// Stores a step's record atomically (a killed build never leaves a half-written one).
    public func putCacheRecord(_ record: BuildCacheRecord) throws {
        let directory = buildCacheDirectory + "/steps"
        if !FileManager.default.fileExists(atPath: directory) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw ImageStoreError.io(path: directory, operation: "create directory", errno: errno)
            }
        }
        try writeAtomically(recordPath(record.key), try CanonicalJSON.encode(record))
    }

    /// Every build-cache record.
    public func cacheRecords() -> [BuildCacheRecord] {
        let directory = buildCacheDirectory + "/steps"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            guard name.hasSuffix(".json"), let data = FileManager.default.contents(atPath: directory + "/" + name) else { return nil }
            return try? JSONDecoder().decode(BuildCacheRecord.self, from: data)
        }
    }

    /// Forgets every build-cache record (the blobs and trees go at the next garbage collection).
    public func clearBuildCache() throws {
        try FileTree.remove(buildCacheDirectory + "/steps")
    }

    /// Reads a small state file of the build cache (e.g. a context's checksums), or nil.
    public func readCacheFile(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: buildCacheDirectory + "/" + name).map { Array($0) }
    }

    /// Writes a small state file of the build cache atomically.
    public func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws {
        let path = buildCacheDirectory + "/" + name
        let directory = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw ImageStoreError.io(path: directory, operation: "create directory", errno: errno)
            }
        }
        try writeAtomically(path, bytes)
    }

    /// Blobs and unpacked trees the build cache uses, for garbage collection to spare.
    func buildCacheRoots() -> (blobs: Set<Digest>, layers: Set<Digest>) {
        var blobs = Set<Digest>(), layers = Set<Digest>()
        for record in cacheRecords() {
            if let layer = record.layer { blobs.insert(layer.digest) }
            if let chain = record.chainID { layers.insert(chain) }
        }
        return (blobs, layers)
    }
}
