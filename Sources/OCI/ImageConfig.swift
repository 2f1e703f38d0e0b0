import Foundation

/// The image config blob (OCI image-spec config.md, plus Docker's extra fields the build engine needs).
public struct ImageConfig: Hashable, Sendable, Codable {
    /// Creation time, RFC 3339.
    public var created: String?
    /// Author of the image.
    public var author: String?
    /// CPU architecture.
    public var architecture: String
    /// Operating system.
    public var os: String
    /// CPU variant.
    public var variant: String?
    /// The container defaults (entrypoint, env, ...).
    public var config: ContainerConfig?
    /// The layer diff IDs (digests of the uncompressed layer tars).
    public var rootfs: RootFS
    /// How each layer was made.
    public var history: [History]?

    /// Makes a config.
    public init(created: String? = nil, author: String? = nil, architecture: String, os: String, variant: String? = nil,
                config: ContainerConfig? = nil, rootfs: RootFS, history: [History]? = nil) {
        self.created = created
        self.author = author
        self.architecture = architecture
        self.os = os
        self.variant = variant
        self.config = config
        self.rootfs = rootfs
        self.history = history
    }

    /// The platform the config declares.
    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }

    /// Decodes a config blob, with an error that names the missing or wrong field.
    public static func decode(_ bytes: [UInt8]) throws -> ImageConfig {
        do {
            return try JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
        } catch {
            throw OCIError.malformedDocument(kind: "image config", reason: ManifestDocument.describe(error))
        }
    }
}

/// The execution defaults of an image (`config` in the image config).
public struct ContainerConfig: Hashable, Sendable, Codable {
    /// The user (`name`, `uid`, `uid:gid`, ...).
    public var User: String?
    /// Exposed ports, `"80/tcp": {}`.
    public var ExposedPorts: [String: EmptyObject]?
    /// Environment, `KEY=VALUE`.
    public var Env: [String]?
    /// The entrypoint.
    public var Entrypoint: [String]?
    /// The default command.
    public var Cmd: [String]?
    /// Volumes, `"/data": {}`.
    public var Volumes: [String: EmptyObject]?
    /// The working directory.
    public var WorkingDir: String?
    /// Labels.
    public var Labels: [String: String]?
    /// The stop signal.
    public var StopSignal: String?
    /// Docker: the arguments were escaped already (Windows).
    public var ArgsEscaped: Bool?
    /// Docker: the health check.
    public var Healthcheck: HealthConfig?
    /// Docker: ONBUILD triggers.
    public var OnBuild: [String]?
    /// Docker: the SHELL for shell-form instructions.
    public var Shell: [String]?

    /// Makes an empty container config.
    public init() {}
}

/// Docker's HEALTHCHECK settings (durations in nanoseconds).
public struct HealthConfig: Hashable, Sendable, Codable {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    public var Test: [String]?
    /// Time between checks.
    public var Interval: Int64?
    /// Time a check may take.
    public var Timeout: Int64?
    /// Start period.
    public var StartPeriod: Int64?
    /// Interval during the start period.
    public var StartInterval: Int64?
    /// Failures before unhealthy.
    public var Retries: Int?

    /// Makes an empty health config.
    public init() {}
}

/// `{}` in JSON, for port and volume sets.
public struct EmptyObject: Hashable, Sendable, Codable {
    /// Makes the empty object.
    public init() {}
}

/// The layer list of an image config.
public struct RootFS: Hashable, Sendable, Codable {
    /// Always `layers`.
    public var type: String
    /// Digests of the uncompressed layer tars, base first.
    public var diffIDs: [Digest]

    enum CodingKeys: String, CodingKey {
        case type
        case diffIDs = "diff_ids"
    }

    /// Makes a rootfs from diff IDs.
    public init(diffIDs: [Digest]) {
        self.type = "layers"
        self.diffIDs = diffIDs
    }

    /// The chain IDs of each layer (OCI image-spec config.md: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))).
    public var chainIDs: [Digest] {
        var result = [Digest]()
        for diffID in diffIDs {
            if let previous = result.last {
                result.append(Digest.sha256(of: Array("\(previous) \(diffID)".utf8)))
            } else {
                result.append(diffID)
            }
        }
        return result
    }
}

/// One entry of an image's history.
public struct History: Hashable, Sendable, Codable {
    /// When the step ran, RFC 3339.
    public var created: String?
    /// The instruction that made it.
    public var createdBy: String?
    /// Author.
    public var author: String?
    /// Comment.
    public var comment: String?
    /// True when the step made no layer.
    public var emptyLayer: Bool?

    enum CodingKeys: String, CodingKey {
        case created, author, comment
        case createdBy = "created_by"
        case emptyLayer = "empty_layer"
    }

    /// Makes a history entry.
    public init(created: String? = nil, createdBy: String? = nil, author: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
        self.created = created
        self.createdBy = createdBy
        self.author = author
        self.comment = comment
        self.emptyLayer = emptyLayer
    }
}
