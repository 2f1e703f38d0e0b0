import BuildPlanner
import Foundation
import ImageStore
import LayerDiff
import OCI

/// An image's layers as directories the sandbox can stack, and committing a sandbox's changes as a new image
/// (what `idpbuild run IMAGE [--commit NAME]` needs). Call as root (or root of a user namespace).
public enum ImageLayers {
    /// The unpacked layer directories of `image`, base first, unpacking those not yet in the store; `warn` hears what
    /// an unpack could not restore (one line per layer).
    public static func directories(of image: StoredImage, store: ImageStore, warn: (String) -> Void = { _ in }) throws -> [String] {
        try directories(layers: image.manifest.layers, rootfs: image.config.rootfs, label: image.reference, store: store, warn: warn)
    }

    /// The unpacked directories of `layers` (whose diff IDs `rootfs` lists), base first.
    static func directories(layers: [Descriptor], rootfs: RootFS, label: String, store: ImageStore, warn: (String) -> Void) throws -> [String] {
        let chain = rootfs.chainIDs
        guard chain.count == layers.count else {
            throw BuildError.io(path: label, operation: "match \(chain.count) diff IDs to \(layers.count) layers of", errno: EINVAL)
        }
        return try layers.enumerated().map { position, layer in
            if !store.hasLayer(chain[position]) {
                try store.unpackLayer(layer, chainID: chain[position], options: UnpackOptions(whiteouts: .overlay(xattrPrefix: PlanExecution.overlayXattrPrefix)),
                                      warn: warn)
            }
            return store.layerPath(chain[position])
        }
    }

    /// Writes `upperDirectory` as a layer on top of `image`, stores the new config and manifest, tags it as `reference`
    /// (canonicalised), and returns the manifest descriptor. An upper directory with no change adds an empty history entry.
    public static func commit(upperDirectory: String, onto image: StoredImage, store: ImageStore, reference: String, createdBy: String,
                              timestamp: Int64? = nil) throws -> Descriptor {
        let temporary = try store.newTemporaryPath()
        let layer: LayerDescriptor
        do {
            layer = try LayerDiff(timestampLimit: timestamp).write(upperDirectory: upperDirectory, to: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        let created = Planner.rfc3339(timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date())
        var config = image.config
        var layers = image.manifest.layers.map { layer -> Descriptor in
            var copy = layer
            if copy.mediaType == MediaType.dockerLayerGzip { copy.mediaType = MediaType.ociLayerGzip }
            return copy
        }
        var history = config.history ?? []
        if layer.isEmpty {
            unlink(temporary)
            history.append(History(created: created, createdBy: createdBy, emptyLayer: true))
        } else {
            let digest = try Digest(parsing: layer.digest)
            try store.adoptVerifiedFile(temporary, digest: digest)
            layers.append(Descriptor(mediaType: layer.mediaType, digest: digest, size: layer.size))
            config.rootfs.diffIDs.append(try Digest(parsing: layer.diffID))
            history.append(History(created: created, createdBy: createdBy))
        }
        config.history = history
        config.created = created
        let configDescriptor = try store.putBlob(try CanonicalJSON.encode(config), mediaType: MediaType.ociConfig)
        let manifest = try store.putBlob(try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: layers)),
                                         mediaType: MediaType.ociManifest)
        try store.tag((try? Reference(parsing: reference).description) ?? reference, descriptor: manifest)
        return manifest
    }
}
