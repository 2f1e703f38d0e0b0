import BuildEvents
import Foundation
import OCI

/// What to build: the Dockerfile, the context, and the knobs of `idpbuild build`.
public struct BuildOptions: Sendable, Codable, Hashable {
    /// The Dockerfile's path.
    public var dockerfilePath: String
    /// The build context directory (COPY and ADD read from it as if it were `/`).
    public var contextDirectory: String
    /// Full references to tag the result as in the store (e.g. `gitea.cnoe.localtest.me:8443/giteaadmin/app:latest`).
    public var tags: [String]
    /// `--build-arg` values.
    public var buildArguments: [String: String]
    /// The stage to build (default: the last one).
    public var target: String?
    /// The platform asked for (`linux/amd64`); only this machine's is built.
    public var platform: String?
    /// Ignore the build cache (steps still record their results).
    public var noCache: Bool
    /// Pull base images even when the store has them.
    public var pull: Bool
    /// `SOURCE_DATE_EPOCH` / `--timestamp`: creation times and file times clamped to these seconds since the epoch.
    public var timestamp: Int64?
    /// Layer compression.
    public var compression: LayerCompression
    /// Secrets for `RUN --mount=type=secret`: id → file path on this machine.
    public var secrets: [String: String]
    /// What the build may do beyond the defaults (`--allow network.host`), as BuildKit's entitlements.
    public var entitlements: Set<BuildEntitlement>
    /// The Dockerfile's bytes when they are not the file's (an editor's unsaved text); nil reads `dockerfilePath`.
    public var dockerfileContents: Data?
    /// How many stages may run at once (`--jobs`; at least 1).
    public var jobs: Int

    /// Makes options; only the Dockerfile and the context are required.
    public init(dockerfilePath: String, contextDirectory: String, tags: [String] = [], buildArguments: [String: String] = [:],
                target: String? = nil, platform: String? = nil, noCache: Bool = false, pull: Bool = false,
                timestamp: Int64? = nil, compression: LayerCompression = .gzip, secrets: [String: String] = [:],
                entitlements: Set<BuildEntitlement> = [], dockerfileContents: Data? = nil,
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.dockerfilePath = dockerfilePath
        self.contextDirectory = contextDirectory
        self.tags = tags
        self.buildArguments = buildArguments
        self.target = target
        self.platform = platform
        self.noCache = noCache
        self.pull = pull
        self.timestamp = timestamp
        self.compression = compression
        self.secrets = secrets
        self.entitlements = entitlements
        self.dockerfileContents = dockerfileContents
        self.jobs = max(1, jobs)
    }
}
