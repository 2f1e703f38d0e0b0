import Foundation
import HTTP

/// How to reach one registry: its host, whether it is insecure, and TLS settings.
public struct RegistryEndpoint: Sendable, Hashable {
    /// The registry host with optional port, e.g. `gitea.cnoe.localtest.me:8443` (Docker Hub's is `registry-1.docker.io`).
    public var host: String
    /// Insecure registries may be reached over plain HTTP and without TLS verification (registries.conf `insecure`).
    public var insecure: Bool
    /// Trust and client-certificate settings (certs.d, idpbuilder's CA).
    public var tls: TLSOptions
    /// Force a scheme; nil tries HTTPS first, then HTTP when the endpoint is insecure.
    public var scheme: String?

    /// Makes an endpoint.
    public init(host: String, insecure: Bool = false, tls: TLSOptions = TLSOptions(), scheme: String? = nil) {
        self.host = host
        self.insecure = insecure
        self.tls = tls
        self.scheme = scheme
        if insecure { self.tls.insecureSkipVerify = true }
    }
}

/// How often and how patiently transient failures are retried.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, including the first.
    public var attempts: Int
    /// Delay before the second attempt, in seconds; it doubles each time.
    public var initialDelay: Double
    /// The longest delay between attempts, in seconds.
    public var maxDelay: Double
    /// No new attempt starts once this many seconds have passed since the first (a persistent fault fails within a minute).
    public var deadline: Double

    /// Makes a policy; by default 5 attempts, backoff from 0.25 s doubling to 4 s, no retry after 60 s.
    public init(attempts: Int = 5, initialDelay: Double = 0.25, maxDelay: Double = 4, deadline: Double = 60) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.deadline = deadline
    }

    /// Whether another attempt may start after `attempt` attempts that began at `started`.
    func mayRetry(after attempt: Int, started: Date) -> Bool {
        attempt < attempts && Date().timeIntervalSince(started) + Double(delay(afterAttempt: attempt)) / 1e9 < deadline
    }

    func delay(afterAttempt attempt: Int) -> UInt64 {
        let seconds = min(maxDelay, initialDelay * Double(1 << min(attempt - 1, 16)))
        return UInt64(seconds * 1_000_000_000)
    }
}

/// Where credentials may go: the registry itself, or a token realm on the same host or registrable domain.
public enum CredentialPolicy {
    /// The host part of a URL or `host:port`, lowercased, without port or brackets.
    public static func hostname(_ hostAndPort: String) -> String {
        var h = Substring(hostAndPort.lowercased())
        if let scheme = h.range(of: "://") { h = h[scheme.upperBound...] }
        if let slash = h.firstIndex(of: "/") { h = h[..<slash] }
        if let at = h.lastIndex(of: "@") { h = h[h.index(after: at)...] }
        if h.hasPrefix("[") { return String(h.dropFirst().prefix { $0 != "]" }) }
        if let colon = h.lastIndex(of: ":") { h = h[..<colon] }
        return String(h)
    }

    /// `host:port` of a URL (port only when given).
    public static func authority(_ url: String) -> String {
        var h = Substring(url)
        if let scheme = h.range(of: "://") { h = h[scheme.upperBound...] }
        if let slash = h.firstIndex(where: { $0 == "/" || $0 == "?" }) { h = h[..<slash] }
        return String(h).lowercased()
    }

    /// Whether two hosts are the same or share a registrable domain (the last two labels; IPs must match exactly).
    public static func sameSite(_ a: String, _ b: String) -> Bool {
        let x = hostname(a), y = hostname(b)
        if x == y { return true }
        func isIP(_ h: String) -> Bool { h.contains(":") || h.split(separator: ".").allSatisfy { Int($0) != nil } }
        if isIP(x) || isIP(y) { return false }
        let xl = x.split(separator: "."), yl = y.split(separator: ".")
        guard xl.count >= 2, yl.count >= 2 else { return false }
        return xl.suffix(2) == yl.suffix(2)
    }
}

/// Gitea's container registry rules (owner namespace, lowercase names).
public enum GiteaRules {
    /// Checks that a repository lives under the owner's namespace, e.g. `giteaadmin/app`.
    public static func validate(repository: String, host: String, owner: String) throws {
        let parts = repository.split(separator: "/")
        guard parts.count >= 2, parts[0] == owner.lowercased() else {
            let name = parts.last.map(String.init) ?? repository
            throw RegistryError.invalidTarget(
                "Gitea stores images under the owner's namespace: push to \(host)/\(owner.lowercased())/\(name), not \(host)/\(repository)")
        }
    }
}
