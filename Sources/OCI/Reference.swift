/// An image reference (`[HOST[:PORT]/]PATH[:TAG][@DIGEST]`), parsed and normalised like Docker's `ParseNormalizedNamed`.
public struct Reference: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The registry host with optional port, e.g. `docker.io`, `localhost:5000`, `gitea.cnoe.localtest.me:8443`.
    public var domain: String
    /// The repository path, e.g. `library/alpine`, `giteaadmin/app`.
    public var repository: String
    /// The tag, if any.
    public var tag: String?
    /// The digest, if any (takes precedence over the tag when pulling).
    public var digest: Digest?

    /// The domain used when a reference names none.
    public static let defaultDomain = "docker.io"
    /// The tag used when a reference names neither tag nor digest.
    public static let defaultTag = "latest"

    /// Makes a reference from parts that are already valid.
    public init(domain: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
        self.domain = domain
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises a reference; adds the tag `latest` when neither tag nor digest is given and `defaultTag` is true.
    public init(parsing text: String, defaultTag: Bool = true) throws {
        func fail(_ reason: String) -> OCIError { .invalidReference(text, reason: reason) }
        guard !text.isEmpty else { throw fail("it is empty") }
        guard !text.contains(where: { $0.isWhitespace }) else { throw fail("it contains whitespace") }
        if text.utf8.count == 64, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            throw fail("a 64-character hex string is an image ID, not a name; write it as NAME@sha256:\(text)")
        }
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let digestText = String(rest[rest.index(after: at)...])
            do { digest = try Digest(parsing: digestText) } catch let error as OCIError {
                if case let .invalidDigest(_, reason) = error { throw fail("digest \"\(digestText)\": \(reason)") }
                throw error
            }
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tagText = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(tagText) else {
                throw fail("tag \"\(tagText)\" must be 1-128 characters of letters, digits, '_', '.', '-' and not start with '.' or '-'")
            }
            tag = tagText
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw fail("the name before the tag or digest is empty") }
        // distribution/reference normalize.go splitDockerDomain
        var domain = Self.defaultDomain
        var path = String(rest)
        if let slash = rest.firstIndex(of: "/") {
            let first = String(rest[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                domain = first
                path = String(rest[rest.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = Self.defaultDomain }
        if domain == Self.defaultDomain && !path.contains("/") { path = "library/" + path }
        try Self.validateDomain(domain, fail: fail)
        if path.lowercased() != path && path.allSatisfy({ $0.isASCII }) {
            throw fail("repository name \"\(path)\" must be lowercase")
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isValidPathComponent(component) else {
                throw fail("path component \"\(component)\" must be lowercase letters and digits, separated by '.', '_', '__' or '-'")
            }
        }
        guard domain.utf8.count + 1 + path.utf8.count <= 255 else { throw fail("the name is longer than 255 characters") }
        self.domain = domain
        self.repository = path
        self.tag = tag ?? ((digest == nil && defaultTag) ? Self.defaultTag : nil)
        self.digest = digest
    }

    /// `DOMAIN/REPOSITORY`.
    public var name: String { "\(domain)/\(repository)" }

    /// The tag or digest to ask the registry for (the digest when both are given).
    public var manifestReference: String { digest?.description ?? tag ?? Self.defaultTag }

    /// The canonical string, `DOMAIN/REPOSITORY[:TAG][@DIGEST]`.
    public var description: String {
        var s = name
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The host name of the registry's API (Docker Hub's API is not at `docker.io`).
    public var apiDomain: String { domain == Self.defaultDomain ? "registry-1.docker.io" : domain }

    /// The same reference with another domain (for mirrors), keeping repository, tag and digest.
    public func replacingDomain(_ newDomain: String, repositoryPrefix: String? = nil) -> Reference {
        var copy = self
        copy.domain = newDomain
        if let repositoryPrefix, !repositoryPrefix.isEmpty { copy.repository = repositoryPrefix + "/" + repository }
        return copy
    }

    /// Decodes a reference from its string form.
    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self), defaultTag: false)
    }

    /// Encodes a reference as its string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        func word(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f }
        guard word(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { word($0) || $0 == 0x2e || $0 == 0x2d }
    }

    // path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]+
    static func isValidPathComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if alnum(bytes[i]) { i += 1; continue }
            var j = i
            while j < bytes.count && !alnum(bytes[j]) { j += 1 }
            let separator = bytes[i..<j]
            let ok = separator.elementsEqual([0x2e]) || separator.elementsEqual([0x5f]) || separator.elementsEqual([0x5f, 0x5f])
                || separator.allSatisfy { $0 == 0x2d }
            guard ok else { return false }
            i = j
        }
        return true
    }

    static func validateDomain(_ domain: String, fail: (String) -> OCIError) throws {
        var host = Substring(domain)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw fail("IPv6 host \"\(domain)\" lacks a closing ']'") }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw fail("\"\(inside)\" is not an IPv6 address")
            }
            host = host[host.index(after: close)...]
            if host.isEmpty { return }
            guard host.first == ":" else { throw fail("unexpected text after the IPv6 address in \"\(domain)\"") }
            try validatePort(host.dropFirst(), domain: domain, fail: fail)
            return
        }
        if let colon = host.firstIndex(of: ":") {
            try validatePort(host[host.index(after: colon)...], domain: domain, fail: fail)
            host = host[..<colon]
        }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) }
            guard let f = bytes.first, let l = bytes.last, alnum(f), alnum(l), bytes.allSatisfy({ alnum($0) || $0 == 0x2d }) else {
                throw fail("registry host \"\(domain)\" is not a valid host name")
            }
        }
    }

    private static func validatePort(_ port: Substring, domain: String, fail: (String) -> OCIError) throws {
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(port), n <= 65535 else {
            throw fail("port in \"\(domain)\" must be a number up to 65535")
        }
    }
}
