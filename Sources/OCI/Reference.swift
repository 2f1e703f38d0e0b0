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
        // Works on UTF-8 bytes: references are ASCII, and this runs for every FROM an editor checks.
        func fail(_ reason: String) -> OCIError { .invalidReference(text, reason: reason) }
        let bytes = Array(text.utf8)
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        guard !bytes.isEmpty else { throw fail("it is empty") }
        guard !bytes.contains(where: { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }),
              !text.unicodeScalars.contains(where: { !$0.isASCII && $0.properties.isWhitespace }) else {
            throw fail("it contains whitespace")
        }
        if bytes.count == 64, bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            throw fail("a 64-character hex string is an image ID, not a name; write it as NAME@sha256:\(text)")
        }
        var end = bytes.count
        var digest: Digest?
        if let at = bytes.firstIndex(of: UInt8(ascii: "@")) {
            let digestText = string(at + 1..<bytes.count)
            do { digest = try Digest(parsing: digestText) } catch let error as OCIError {
                if case let .invalidDigest(_, reason) = error { throw fail("digest \"\(digestText)\": \(reason)") }
                throw error
            }
            end = at
        }
        var tag: String?
        if let colon = bytes[..<end].lastIndex(of: UInt8(ascii: ":")), !bytes[colon..<end].contains(UInt8(ascii: "/")) {
            let tagText = string(colon + 1..<end)
            guard Self.isValidTag(tagText) else {
                throw fail("tag \"\(tagText)\" must be 1-128 characters of letters, digits, '_', '.', '-' and not start with '.' or '-'")
            }
            tag = tagText
            end = colon
        }
        guard end > 0 else { throw fail("the name before the tag or digest is empty") }
        // distribution/reference normalize.go splitDockerDomain
        var domain = Self.defaultDomain
        var path = string(0..<end)
        if let slash = bytes[..<end].firstIndex(of: UInt8(ascii: "/")) {
            if Self.isHost(bytes[..<slash]) {
                domain = string(0..<slash)
                path = string(slash + 1..<end)
            }
        }
        if domain == "index.docker.io" { domain = Self.defaultDomain }
        if domain == Self.defaultDomain && !path.utf8.contains(UInt8(ascii: "/")) { path = "library/" + path }
        try Self.validateDomain(domain, fail: fail)
        if path.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) && path.utf8.allSatisfy({ $0 < 0x80 }) {
            throw fail("repository name \"\(path)\" must be lowercase")
        }
        for component in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard Self.isValidPathComponent(component) else {
                throw fail("path component \"\(String(decoding: component, as: UTF8.self))\" must be lowercase letters and digits, separated by '.', '_', '__' or '-'")
            }
        }
        guard domain.utf8.count + 1 + path.utf8.count <= 255 else { throw fail("the name is longer than 255 characters") }
        self.domain = domain
        self.repository = path
        self.tag = tag ?? ((digest == nil && defaultTag) ? Self.defaultTag : nil)
        self.digest = digest
    }

    /// Whether typed text names no registry host (`hello`, `hello:dev`, `team/hello`): its first `/` component, if any,
    /// has no `.` or `:`, is not `localhost` and is lowercase — the test `init(parsing:)` uses to add `docker.io`.
    public static func isShortName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let end = bytes.firstIndex(of: UInt8(ascii: "@")) ?? bytes.count
        guard let slash = bytes[..<end].firstIndex(of: UInt8(ascii: "/")) else { return true }
        return !isHost(bytes[..<slash])
    }

    // distribution/reference splitDockerDomain: a first component with '.' or ':', `localhost`, or an uppercase letter is a host.
    private static func isHost(_ first: ArraySlice<UInt8>) -> Bool {
        first.contains(UInt8(ascii: ".")) || first.contains(UInt8(ascii: ":")) || first.elementsEqual("localhost".utf8)
            || first.contains(where: { $0 >= 0x41 && $0 <= 0x5A })
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
        isValidPathComponent(component.utf8)
    }

    static func isValidPathComponent<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) }
        guard let first = bytes.first, alnum(first) else { return false }
        var separator: [UInt8] = []
        for byte in bytes {
            if alnum(byte) {
                if !separator.isEmpty {
                    let ok = separator == [0x2e] || separator == [0x5f] || separator == [0x5f, 0x5f]
                        || separator.allSatisfy { $0 == 0x2d }
                    guard ok else { return false }
                    separator.removeAll(keepingCapacity: true)
                }
            } else {
                separator.append(byte)
            }
        }
        return separator.isEmpty
    }

    static func validateDomain(_ domain: String, fail: (String) -> OCIError) throws {
        let bytes = Array(domain.utf8)
        var hostEnd = bytes.count
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { throw fail("IPv6 host \"\(domain)\" lacks a closing ']'") }
            let inside = bytes[1..<close]
            let isHex: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
            guard !inside.isEmpty, inside.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                throw fail("\"\(String(decoding: inside, as: UTF8.self))\" is not an IPv6 address")
            }
            if close + 1 == bytes.count { return }
            guard bytes[close + 1] == UInt8(ascii: ":") else { throw fail("unexpected text after the IPv6 address in \"\(domain)\"") }
            try validatePort(bytes[(close + 2)...], domain: domain, fail: fail)
            return
        }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            try validatePort(bytes[(colon + 1)...], domain: domain, fail: fail)
            hostEnd = colon
        }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) }
        for label in bytes[..<hostEnd].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let f = label.first, let l = label.last, alnum(f), alnum(l), label.allSatisfy({ alnum($0) || $0 == 0x2d }) else {
                throw fail("registry host \"\(domain)\" is not a valid host name")
            }
        }
    }

    private static func validatePort(_ port: ArraySlice<UInt8>, domain: String, fail: (String) -> OCIError) throws {
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int(String(decoding: port, as: UTF8.self)), n <= 65535 else {
            throw fail("port in \"\(domain)\" must be a number up to 65535")
        }
    }
}
