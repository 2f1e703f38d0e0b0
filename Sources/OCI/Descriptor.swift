/// A content descriptor: what a blob is, how big, and its digest.
public struct Descriptor: Hashable, Sendable, Codable {
    /// The media type of the referenced content.
    public var mediaType: String
    /// The digest of the referenced content.
    public var digest: Digest
    /// The size of the referenced content in bytes.
    public var size: Int64
    /// Other places the content may be fetched from.
    public var urls: [String]?
    /// Free-form annotations (for example `org.opencontainers.image.ref.name` in an OCI layout index).
    public var annotations: [String: String]?
    /// The platform an index entry is for.
    public var platform: Platform?

    /// Makes a descriptor.
    public init(mediaType: String, digest: Digest, size: Int64, urls: [String]? = nil,
                annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.platform = platform
    }
}

/// The operating system and CPU an image is built for.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    /// CPU architecture in Go's naming (`amd64`, `arm64`, ...).
    public var architecture: String
    /// Operating system (`linux`).
    public var os: String
    /// CPU variant (`v7`, `v8`), if any.
    public var variant: String?
    /// OS version (Windows only).
    public var osVersion: String?
    /// OS features (Windows only).
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    /// Makes a platform, normalising architecture aliases (`x86_64` → `amd64`, `aarch64` → `arm64`).
    public init(os: String = "linux", architecture: String, variant: String? = nil) {
        let (arch, defaultVariant) = Self.normalise(architecture)
        self.os = os.lowercased()
        self.architecture = arch
        self.variant = variant ?? defaultVariant
    }

    /// Parses `OS/ARCH[/VARIANT]`, e.g. `linux/arm64/v8`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw OCIError.malformedDocument(kind: "platform", reason: "\"\(text)\" is not OS/ARCH[/VARIANT], e.g. linux/amd64")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// The platform this program runs on.
    public static var current: Platform {
        #if arch(x86_64)
        return Platform(architecture: "amd64")
        #elseif arch(arm64)
        return Platform(architecture: "arm64")
        #else
        return Platform(architecture: "unknown")
        #endif
    }

    /// `OS/ARCH[/VARIANT]`.
    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// Whether an index entry's platform satisfies this wanted platform (variant only compared when wanted).
    public func matches(_ candidate: Platform) -> Bool {
        let (arch, defaultVariant) = Self.normalise(candidate.architecture)
        guard candidate.os.lowercased() == os, arch == architecture else { return false }
        guard let variant else { return true }
        return (candidate.variant ?? defaultVariant) == variant || (candidate.variant == nil && variant == "v8" && arch == "arm64")
    }

    private static func normalise(_ architecture: String) -> (String, String?) {
        switch architecture.lowercased() {
        case "x86_64", "x86-64", "amd64": return ("amd64", nil)
        case "aarch64", "arm64": return ("arm64", nil)
        case "armhf", "armv7", "armv7l": return ("arm", "v7")
        case "armel", "armv6": return ("arm", "v6")
        case "i386", "i686", "386": return ("386", nil)
        default: return (architecture.lowercased(), nil)
        }
    }
}
