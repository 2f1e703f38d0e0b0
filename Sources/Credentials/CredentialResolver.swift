import Foundation
import HTTP
import Registry

/// Finds a registry's credentials, first match wins: explicit; `IDPBUILD_USERNAME`/`IDPBUILD_PASSWORD`; containers auth.json;
/// docker config.json (auths, credHelpers, credsStore); for the Gitea host, the Kubernetes secret `gitea/gitea-credential`
/// (in-cluster, else kubeconfig); last, for the Gitea host, the seed's fallback user `giteaAdmin` with a warning.
public struct CredentialResolver: Sendable {
    /// Credentials given directly (CLI flags, LSP settings); `source` should say which.
    public var explicit: RegistryCredential?
    /// The process environment (tests pass their own).
    public var environment: [String: String]
    /// The home directory.
    public var home: String
    /// The idpbuilder Gitea registry host, for which the cluster secret and the fallback user apply.
    public var giteaHost: String
    /// Whether to ask the Kubernetes API for the cluster secret.
    public var useKubernetes: Bool
    /// The service-account directory for in-cluster access.
    public var serviceAccountDirectory: String
    /// Receives warnings (e.g. the fallback user being used, a cluster that could not be asked).
    public var warn: @Sendable (String) -> Void
    private let http: HTTPClient

    /// The default Gitea registry of an idpbuilder cluster.
    public static let defaultGiteaHost = "gitea.cnoe.localtest.me:8443"
    /// The seed's fallback user name.
    public static let fallbackUsername = "giteaAdmin"

    /// Makes a resolver.
    public init(explicit: RegistryCredential? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                home: String? = nil, giteaHost: String = CredentialResolver.defaultGiteaHost, useKubernetes: Bool = true,
                serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount",
                http: HTTPClient = HTTPClient(), warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.explicit = explicit
        self.environment = environment
        self.home = home ?? environment["HOME"] ?? NSHomeDirectory()
        self.giteaHost = giteaHost
        self.useKubernetes = useKubernetes
        self.serviceAccountDirectory = serviceAccountDirectory
        self.http = http
        self.warn = warn
    }

    /// The containers auth.json files, in the order they are consulted.
    public var authFilePaths: [String] {
        var paths = [String]()
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { paths.append(file) }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { paths.append(runtime + "/containers/auth.json") }
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        paths.append(config + "/containers/auth.json")
        return paths
    }

    /// The docker config.json path (`DOCKER_CONFIG` dir, else `~/.docker`).
    public var dockerConfigPath: String {
        (environment["DOCKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.docker") + "/config.json"
    }

    /// The credential for a registry host (`host[:port]`), or nil for anonymous access.
    public func credential(for host: String) async throws -> RegistryCredential? {
        if let explicit { return explicit }
        let user = environment["IDPBUILD_USERNAME"].flatMap { $0.isEmpty ? nil : $0 }
        let password = environment["IDPBUILD_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let user, let password {
            return RegistryCredential(username: user, password: password, source: "IDPBUILD_USERNAME/IDPBUILD_PASSWORD")
        }
        let searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for path in authFilePaths {
            if let found = try AuthFiles.lookup(host: host, path: path, sourceLabel: "auth.json (\(path))", allowHelpers: false,
                                                runHelper: { _, _ in nil }) {
                return found
            }
        }
        if let found = try AuthFiles.lookup(host: host, path: dockerConfigPath, sourceLabel: "docker config (\(dockerConfigPath))",
                                            allowHelpers: true,
                                            runHelper: { helper, h in try AuthFiles.runCredentialHelper(helper, host: h, searchPath: searchPath) }) {
            return found
        }
        guard host.lowercased() == giteaHost.lowercased() else { return nil }
        if useKubernetes, let found = await clusterCredential() { return found }
        if let password {
            warn("no username given for \(host); using the seed's fallback user \(Self.fallbackUsername) with IDPBUILD_PASSWORD")
            return RegistryCredential(username: Self.fallbackUsername, password: password, source: "fallback user \(Self.fallbackUsername) with IDPBUILD_PASSWORD")
        }
        warn("no credentials found for \(host) (flags, IDPBUILD_USERNAME/IDPBUILD_PASSWORD, auth.json, docker config, cluster secret gitea/gitea-credential); the fallback user \(Self.fallbackUsername) needs IDPBUILD_PASSWORD, continuing anonymously")
        return nil
    }

    /// How to reach the cluster: in-cluster first, else kubeconfig; nil (with a warning on a broken kubeconfig) when neither.
    public func kubernetesAccess() -> KubernetesAccess? {
        if let access = KubernetesAccess.inCluster(environment: environment, serviceAccountDirectory: serviceAccountDirectory) { return access }
        do { return try KubernetesAccess.fromKubeconfig(environment: environment, home: home) } catch {
            warn("\(error)")
            return nil
        }
    }

    /// Reads `gitea/gitea-credential` (keys `username`, `password`) from the cluster; nil with a warning when it cannot.
    public func clusterCredential() async -> RegistryCredential? {
        guard let access = kubernetesAccess() else { return nil }
        do {
            let data = try await KubernetesClient(access: access, http: http).secret(namespace: "gitea", name: "gitea-credential")
            guard let user = data["username"], let password = data["password"] else {
                warn("secret gitea/gitea-credential has no username/password keys")
                return nil
            }
            return RegistryCredential(username: String(decoding: user, as: UTF8.self), password: String(decoding: password, as: UTF8.self),
                                      source: "Kubernetes secret gitea/gitea-credential (\(access.source))")
        } catch {
            warn("\(error)")
            return nil
        }
    }
}
