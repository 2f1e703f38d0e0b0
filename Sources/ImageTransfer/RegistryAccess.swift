import Credentials
import HTTP
import Registry
import RegistriesConf

/// How to reach any registry: credentials, TLS trust, registries.conf and insecure hosts; clients are kept per host
/// so tokens and connections are reused.
public actor RegistryAccess {
    /// registries.conf in force.
    public nonisolated let registries: RegistriesConfiguration
    private let credentials: @Sendable (String) async throws -> RegistryCredential?
    private let trust: @Sendable (String, Bool) async -> TLSOptions
    private let insecureHosts: Set<String>
    private let http: HTTPClient
    private let retry: RetryPolicy
    private let chunkSize: Int64?
    private var clients: [String: RegistryClient] = [:]

    /// Makes access from closures (tests and embedders can plug in their own sources).
    public init(registries: RegistriesConfiguration = RegistriesConfiguration(), insecureHosts: Set<String> = [],
                http: HTTPClient = HTTPClient(), retry: RetryPolicy = RetryPolicy(), chunkSize: Int64? = nil,
                credentials: @escaping @Sendable (String) async throws -> RegistryCredential? = { _ in nil },
                trust: @escaping @Sendable (String, Bool) async -> TLSOptions = { TLSOptions(insecureSkipVerify: $1) }) {
        self.registries = registries
        self.insecureHosts = insecureHosts
        self.http = http
        self.retry = retry
        self.chunkSize = chunkSize
        self.credentials = credentials
        self.trust = trust
    }

    /// Makes access from the standard credential chain and trust sources.
    public init(registries: RegistriesConfiguration, insecureHosts: Set<String> = [], resolver: CredentialResolver,
                http: HTTPClient = HTTPClient(), retry: RetryPolicy = RetryPolicy(), chunkSize: Int64? = nil) {
        let trustResolver = TrustResolver(credentials: resolver)
        self.init(registries: registries, insecureHosts: insecureHosts, http: http, retry: retry, chunkSize: chunkSize,
                  credentials: { try await resolver.credential(for: $0) },
                  trust: { await trustResolver.tls(for: $0, insecure: $1) })
    }

    /// Whether a host may be reached over plain HTTP or unverified TLS.
    public func isInsecure(_ host: String) -> Bool {
        insecureHosts.contains(host) || registries.isInsecure(host: host)
    }

    /// The client for a registry host (`host[:port]`, the API host for Docker Hub).
    public func client(for host: String, insecure: Bool = false) async throws -> RegistryClient {
        if let client = clients[host] { return client }
        let insecure = insecure || isInsecure(host)
        let tls = await trust(host, insecure)
        let credential = try await credentials(host == "registry-1.docker.io" ? "docker.io" : host)
        let client = RegistryClient(endpoint: RegistryEndpoint(host: host, insecure: insecure, tls: tls), credential: credential,
                                    http: http, retry: retry, chunkSize: chunkSize)
        if let existing = clients[host] { return existing }
        clients[host] = client
        return client
    }
}
