import Foundation
import LayerDiff

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

    /// Makes options; only the Dockerfile and the context are required.
    public init(dockerfilePath: String, contextDirectory: String, tags: [String] = [], buildArguments: [String: String] = [:],
                target: String? = nil, platform: String? = nil, noCache: Bool = false, pull: Bool = false,
                timestamp: Int64? = nil, compression: LayerCompression = .gzip, secrets: [String: String] = [:],
                entitlements: Set<BuildEntitlement> = []) {
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
    }
}

/// A privilege a build must be started with before a Dockerfile may use it (BuildKit's `--allow`).
public enum BuildEntitlement: String, Sendable, Codable, Hashable, CaseIterable {
    /// `RUN --network=host`: the step shares the host's network, and every service on its loopback.
    case networkHost = "network.host"

    /// Parses `--allow` values; throws a message naming the known ones.
    public static func parse(_ values: [String]) throws -> Set<BuildEntitlement> {
        var result = Set<BuildEntitlement>()
        for value in values.flatMap({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) where !value.isEmpty {
            if value == "security.insecure" {
                throw BuildEntitlementError(message: "--allow security.insecure is not supported: idpbuild runs every RUN rootless and sandboxed")
            }
            guard let entitlement = BuildEntitlement(rawValue: value) else {
                throw BuildEntitlementError(message: "--allow \(value): unknown entitlement; known: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            result.insert(entitlement)
        }
        return result
    }
}

/// An `--allow` value that is not an entitlement idpbuild grants.
public struct BuildEntitlementError: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what is known.
    public let message: String
    /// The message.
    public var description: String { message }
}
