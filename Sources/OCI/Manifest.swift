import Foundation

/// An image manifest (OCI image manifest or Docker schema 2; the same JSON shape).
public struct ImageManifest: Hashable, Sendable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The manifest's own media type (required by Docker schema 2, optional in OCI).
    public var mediaType: String?
    /// The artifact type, for OCI artifacts.
    public var artifactType: String?
    /// The image config blob.
    public var config: Descriptor
    /// The layer blobs, base first.
    public var layers: [Descriptor]
    /// A manifest this one refers to (OCI 1.1 referrers).
    public var subject: Descriptor?
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// Makes a manifest.
    public init(mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor],
                annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
public struct ImageIndex: Hashable, Sendable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The index's own media type.
    public var mediaType: String?
    /// The manifests, usually one per platform.
    public var manifests: [Descriptor]
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// Makes an index.
    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    /// Picks the manifest for a platform; errors list what the index offers.
    public func manifest(for platform: Platform) throws -> Descriptor {
        // Attestation manifests carry platform unknown/unknown and never match a real platform.
        if let exact = manifests.first(where: { $0.platform.map(platform.matches) ?? false }) {
            return exact
        }
        throw OCIError.noMatchingPlatform(wanted: platform.description,
                                          available: manifests.compactMap { $0.platform?.description })
    }
}

/// A manifest document as fetched: either an image manifest or an index, with its exact bytes.
public enum ManifestDocument: Sendable, Hashable {
    /// A single-platform image manifest.
    case image(ImageManifest)
    /// A multi-platform index or manifest list.
    case index(ImageIndex)

    /// Decodes manifest bytes, using the `Content-Type` a registry sent when it is a manifest type, else the JSON itself.
    public init(decoding bytes: [UInt8], contentType: String?) throws {
        let declared = contentType.map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? $0 }
        struct Probe: Decodable { var schemaVersion: Int?; var mediaType: String?; var manifests: [Descriptor]?; var layers: [Descriptor]? }
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: Data(bytes))
        } catch {
            throw OCIError.malformedDocument(kind: "manifest", reason: "not valid JSON (\(Self.describe(error)))")
        }
        var type = declared.flatMap { MediaType.allManifests.contains($0) || $0 == MediaType.dockerManifestV1Signed ? $0 : nil }
            ?? probe.mediaType
        if type == nil {
            if probe.manifests != nil { type = MediaType.ociIndex } else if probe.layers != nil { type = MediaType.ociManifest }
        }
        if type == MediaType.dockerManifestV1Signed || probe.schemaVersion == 1 {
            throw OCIError.unsupportedMediaType(MediaType.dockerManifestV1Signed)
        }
        guard let type else {
            throw OCIError.malformedDocument(kind: "manifest", reason: "neither a mediaType nor layers/manifests to tell its kind")
        }
        guard probe.schemaVersion == 2 else {
            throw OCIError.malformedDocument(kind: "manifest", reason: "schemaVersion must be 2, found \(probe.schemaVersion.map(String.init) ?? "none")")
        }
        do {
            if MediaType.isImageManifest(type) {
                self = .image(try JSONDecoder().decode(ImageManifest.self, from: Data(bytes)))
            } else if MediaType.isIndex(type) {
                self = .index(try JSONDecoder().decode(ImageIndex.self, from: Data(bytes)))
            } else {
                throw OCIError.unsupportedMediaType(type)
            }
        } catch let error as OCIError {
            throw error
        } catch {
            throw OCIError.malformedDocument(kind: "manifest", reason: Self.describe(error))
        }
    }

    /// The media type this document should be served with.
    public var mediaType: String {
        switch self {
        case .image(let m): return m.mediaType ?? MediaType.ociManifest
        case .index(let i): return i.mediaType ?? MediaType.ociIndex
        }
    }

    /// A short reason for a decoding error, naming the JSON path when there is one.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case let .keyNotFound(key, ctx): return "missing field \"\(key.stringValue)\"\(path(ctx))"
        case let .typeMismatch(_, ctx): return "wrong type\(path(ctx)): \(ctx.debugDescription)"
        case let .valueNotFound(_, ctx): return "missing value\(path(ctx))"
        case let .dataCorrupted(ctx):
            if let underlying = ctx.underlyingError as? OCIError { return "\(underlying)\(path(ctx))" }
            return "\(ctx.debugDescription)\(path(ctx))"
        @unknown default: return "\(error)"
        }
    }
}

/// Canonical JSON encoding used for documents this program writes (sorted keys, no escaped slashes).
public enum CanonicalJSON {
    /// Encodes a value with sorted keys, so equal values give equal bytes and equal digests.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}
