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
    /// Attempts in a row that may fail, including the first; progress (a resumed transfer getting further) starts the count again.
    public var attempts: Int
    /// Delay before the second attempt, in seconds; it doubles each time.
    public var initialDelay: Double
    /// The longest delay between attempts, in seconds.
    public var maxDelay: Double
    /// No new attempt starts, and none waits, past this many seconds after a fault began (a persistent fault fails within a minute).
    public var deadline: Double
    /// The longest wait a `Retry-After` header (429, 503) is honoured for, in seconds.
    public var maxRetryAfter: Double

    /// Makes a policy; by default 5 attempts, backoff from 0.25 s doubling to 4 s, Retry-After up to 15 s, nothing past 60 s.
    public init(attempts: Int = 5, initialDelay: Double = 0.25, maxDelay: Double = 4, deadline: Double = 60, maxRetryAfter: Double = 15) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.deadline = deadline
        self.maxRetryAfter = maxRetryAfter
    }

    func delay(afterAttempt attempt: Int) -> UInt64 {
        let seconds = min(maxDelay, initialDelay * Double(1 << min(attempt - 1, 16)))
        return UInt64(seconds * 1_000_000_000)
    }
}

/// What one registry operation (a blob transfer, a manifest request) may still spend on retries.
///
/// Failures are counted, and timed from when the first of them began, until the operation makes progress (a resumed
/// download got further, the registry acknowledged more of an upload): a fault that persists ends after
/// `RetryPolicy.attempts` attempts or `RetryPolicy.deadline` seconds, while a long transfer that breaks now and then
/// goes on. Used from the client actor only.
final class RetryBudget {
    let policy: RetryPolicy
    /// Failed attempts since the last progress.
    private(set) var failures = 0
    /// When the first of those failures began.
    private var failingSince: Date?
    /// The furthest byte offset reached.
    private var mark: Int64 = 0

    init(_ policy: RetryPolicy) { self.policy = policy }

    /// Notes how far the transfer got; passing the furthest point so far forgives the failures before it.
    func progress(to offset: Int64) {
        guard offset > mark else { return }
        mark = offset
        failures = 0
        failingSince = nil
    }

    /// Counts a failed attempt whose fault began at `since`.
    func failed(since: Date = Date()) {
        failures += 1
        if failingSince == nil { failingSince = since }
    }

    /// Nanoseconds to wait before the next attempt (the server's `retryAfter` in seconds when it gave one, capped), or nil
    /// when the attempts are used up or the wait would end past the deadline.
    func nextDelay(retryAfter: Double? = nil, now: Date = Date()) -> UInt64? {
        guard failures > 0 else { return 0 }
        var delay = policy.delay(afterAttempt: failures)
        if let retryAfter, retryAfter >= 0 { delay = UInt64(min(retryAfter, policy.maxRetryAfter) * 1_000_000_000) }
        let failing = failingSince.map { now.timeIntervalSince($0) } ?? 0
        guard failures < policy.attempts, failing + Double(delay) / 1e9 < policy.deadline else { return nil }
        return delay
    }

    /// Time limits for the next attempt: while failing, none runs past the deadline (but each gets at least a second).
    func timeouts(connect: Int = 10, stall: Int = 20, now: Date = Date()) -> HTTPTimeouts {
        guard let failingSince else { return HTTPTimeouts(connect: connect, stall: stall) }
        let left = max(1, Int((policy.deadline - now.timeIntervalSince(failingSince)).rounded(.up)))
        return HTTPTimeouts(connect: min(connect, left), stall: min(stall, left))
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
