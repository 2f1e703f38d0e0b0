/// Media types of the OCI image spec and Docker's image manifest schema 2.
public enum MediaType {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// Docker image manifest, schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list (multi-platform), schema 2.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker schema 1 signed manifest (not supported, recognised for the error message).
    public static let dockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    /// OCI image config.
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    /// Docker image config.
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    /// OCI uncompressed layer tar.
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    /// OCI gzip-compressed layer tar.
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    /// OCI zstd-compressed layer tar.
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// Docker gzip-compressed layer tar.
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    /// Docker foreign (non-distributable) layer.
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    /// The four manifest types a registry may answer with, for an `Accept` header.
    public static let allManifests = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    /// Whether the type is an image manifest (OCI or Docker).
    public static func isImageManifest(_ type: String) -> Bool { type == ociManifest || type == dockerManifest }
    /// Whether the type is an index or manifest list.
    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }
}

/// How a layer blob is compressed: read from a layer's media type, or chosen for a layer being written.
public enum LayerCompression: String, Sendable, Codable, CaseIterable {
    /// A plain tar (`application/vnd.oci.image.layer.v1.tar`).
    case none
    /// gzip (`...tar+gzip`), the default and what every registry and runtime reads.
    case gzip
    /// zstd (`...tar+zstd`).
    case zstd

    /// The compression named by a layer media type (`+gzip`, `.gzip`, `+zstd`), or `none`.
    public init(mediaType: String) {
        if mediaType.hasSuffix("+gzip") || mediaType.hasSuffix(".gzip") { self = .gzip }
        else if mediaType.hasSuffix("+zstd") || mediaType.hasSuffix(".zstd") { self = .zstd }
        else { self = .none }
    }

    /// The OCI media type of a layer with this compression.
    public var mediaType: String {
        switch self {
        case .none: return MediaType.ociLayer
        case .gzip: return MediaType.ociLayerGzip
        case .zstd: return MediaType.ociLayerZstd
        }
    }
}
