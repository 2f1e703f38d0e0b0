import Foundation
import OCI
import ResourceLimits

/// Why a request or the build service failed before a build could start.
public enum BuildServiceError: Error, Sendable, CustomStringConvertible {
    /// A request field is missing or malformed.
    case invalidRequest(field: String, detail: String)
    /// The worker process could not be started or died without answering.
    case worker(detail: String)
    /// The resource limits could not be put in place.
    case limits(ResourceLimitsError)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .invalidRequest(field, detail): return "invalid build request: \(field) \(detail)"
        case .worker(let detail): return "the build worker failed: \(detail)"
        case .limits(let error): return error.description
        }
    }
}

/// The seed plan's build request: which Dockerfile, which context, and the image name and tag to push as,
/// plus the options of `idpbuild build`.
public struct BuildRequest: Sendable, Codable, Hashable {
    /// The Dockerfile's path, relative to `contextDir` (the seed plan's contract), or absolute.
    public var dockerfilePath: String
    /// The build context folder (relative paths are taken from the current directory).
    public var contextDir: String
    /// The repository name under the namespace (`seed` → `REGISTRY/NAMESPACE/seed`), or a full reference with a `/`.
    public var imageName: String
    /// The tag; `validate()` makes an empty one `latest`.
    public var imageTag: String
    /// `--build-arg` values.
    public var buildArgs: [String: String]
    /// The stage to build (default: the last).
    public var target: String?
    /// `linux/ARCH`; only this machine's platform is built.
    public var platform: String?
    /// Ignore the build cache.
    public var noCache: Bool
    /// Registry host override (default: the config's).
    public var registry: String?
    /// Namespace (owner) override (default: the config's).
    public var namespace: String?
    /// Pull base images even when the store has them.
    public var pull: Bool
    /// Secrets for `RUN --mount=type=secret`: id → file.
    public var secrets: [String: String]

    /// Makes a request; the tag defaults to `latest` at `validate()`.
    public init(dockerfilePath: String, contextDir: String, imageName: String, imageTag: String = "", buildArgs: [String: String] = [:],
                target: String? = nil, platform: String? = nil, noCache: Bool = false, registry: String? = nil, namespace: String? = nil,
                pull: Bool = false, secrets: [String: String] = [:]) {
        self.dockerfilePath = dockerfilePath
        self.contextDir = contextDir
        self.imageName = imageName
        self.imageTag = imageTag
        self.buildArgs = buildArgs
        self.target = target
        self.platform = platform
        self.noCache = noCache
        self.registry = registry
        self.namespace = namespace
        self.pull = pull
        self.secrets = secrets
    }

    /// Decodes a request: the seed's four fields (`imageTag` may be left out), the rest when given.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(dockerfilePath: try container.decode(String.self, forKey: .dockerfilePath),
                  contextDir: try container.decode(String.self, forKey: .contextDir),
                  imageName: try container.decode(String.self, forKey: .imageName),
                  imageTag: try container.decodeIfPresent(String.self, forKey: .imageTag) ?? "",
                  buildArgs: try container.decodeIfPresent([String: String].self, forKey: .buildArgs) ?? [:],
                  target: try container.decodeIfPresent(String.self, forKey: .target),
                  platform: try container.decodeIfPresent(String.self, forKey: .platform),
                  noCache: try container.decodeIfPresent(Bool.self, forKey: .noCache) ?? false,
                  registry: try container.decodeIfPresent(String.self, forKey: .registry),
                  namespace: try container.decodeIfPresent(String.self, forKey: .namespace),
                  pull: try container.decodeIfPresent(Bool.self, forKey: .pull) ?? false,
                  secrets: try container.decodeIfPresent([String: String].self, forKey: .secrets) ?? [:])
    }

    /// Checks the fields and fills defaults (tag `latest`); throws `BuildServiceError.invalidRequest` naming the field.
    public mutating func validate() throws {
        if dockerfilePath.isEmpty { throw BuildServiceError.invalidRequest(field: "dockerfilePath", detail: "is empty: give the Dockerfile's path") }
        if contextDir.isEmpty { throw BuildServiceError.invalidRequest(field: "contextDir", detail: "is empty: give the build context folder") }
        if imageTag.isEmpty { imageTag = "latest" }
        guard !imageName.isEmpty else { throw BuildServiceError.invalidRequest(field: "imageName", detail: "is empty: give the image's repository name, e.g. seed") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/:")
        guard imageName.allSatisfy({ allowed.contains($0) }), !imageName.hasPrefix("/"), !imageName.hasSuffix("/") else {
            throw BuildServiceError.invalidRequest(field: "imageName", detail: "\"\(imageName)\" is not a valid repository name: use lowercase letters, digits, '.', '_', '-' and '/'")
        }
        let tagCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard imageTag.count <= 128, imageTag.allSatisfy({ tagCharacters.contains($0) }), imageTag.first != "." && imageTag.first != "-" else {
            throw BuildServiceError.invalidRequest(field: "imageTag", detail: "\"\(imageTag)\" is not a valid tag: up to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-'")
        }
    }

    /// `contextDir` as an absolute, standardized path (a relative one is taken from the current directory).
    public var absoluteContextDir: String {
        let path = contextDir.hasPrefix("/") ? contextDir : FileManager.default.currentDirectoryPath + "/" + contextDir
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The Dockerfile's absolute path: `dockerfilePath` as given when absolute, else inside the context folder
    /// ("DockerfilePath is the path to the Dockerfile relative to ContextDir"), whatever the caller's working directory.
    public var absoluteDockerfilePath: String {
        let path = dockerfilePath.hasPrefix("/") ? dockerfilePath : absoluteContextDir + "/" + dockerfilePath
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The default image name for a context folder: the folder's name made a valid lowercase repository name
    /// (`My App` → `my-app`; `image` when nothing is left).
    public static func repositoryName(forContext path: String) -> String {
        let base = (path as NSString).lastPathComponent.lowercased()
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        var name = String(base.map { allowed.contains($0) ? $0 : "-" })
        while let first = name.first, !first.isLetter && !first.isNumber { name.removeFirst() }
        while let last = name.last, !last.isLetter && !last.isNumber { name.removeLast() }
        return name.isEmpty ? "image" : name
    }

    /// The reference the image is tagged and pushed as: `REGISTRY/NAMESPACE/NAME:TAG` (a name holding a registry
    /// host, like `localhost:5000/x`, is taken as given).
    public func fullTag(config: BuilderConfig) -> String {
        let tag = imageTag.isEmpty ? "latest" : imageTag
        // The same rule as every store command's short names (ImageNameResolver): a host is taken as given.
        if !Reference.isShortName(imageName) { return "\(imageName):\(tag)" }
        return "\(registry ?? config.registry)/\(namespace ?? config.namespace)/\(imageName):\(tag)"
    }
}

/// The seed plan's build response, plus what an editor shows: digest, duration, cache counts.
public struct BuildResponse: Sendable, Codable, Hashable {
    /// The image ID (the config digest).
    public var imageID: String
    /// The full reference it was tagged (and pushed) as.
    public var fullTag: String
    /// Whether the build (and push) worked.
    public var success: Bool
    /// A sentence a person can act on when it did not.
    public var error: String?
    /// The pushed manifest digest (or the local one when not pushed).
    public var digest: String?
    /// How long it took.
    public var durationMs: Int
    /// Steps answered from the cache.
    public var stepsCached: Int
    /// Steps that ran.
    public var stepsRun: Int

    /// Makes a response.
    public init(imageID: String = "", fullTag: String, success: Bool, error: String? = nil, digest: String? = nil, durationMs: Int = 0,
                stepsCached: Int = 0, stepsRun: Int = 0) {
        self.imageID = imageID
        self.fullTag = fullTag
        self.success = success
        self.error = error
        self.digest = digest
        self.durationMs = durationMs
        self.stepsCached = stepsCached
        self.stepsRun = stepsRun
    }
}
