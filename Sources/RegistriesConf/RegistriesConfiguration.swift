import Foundation
import OCI
import TOMLKit

/// Why registries.conf could not be used.
public enum RegistriesConfError: Error, Sendable, CustomStringConvertible {
    /// The TOML does not parse.
    case syntax(path: String, line: Int, column: Int, detail: String)
    /// The TOML parses but a value is wrong.
    case invalid(path: String, detail: String)
    /// The reference is blocked by configuration.
    case blocked(reference: String, path: String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .syntax(path, line, column, detail): return "\(path):\(line):\(column): invalid TOML: \(detail)"
        case let .invalid(path, detail): return "\(path): \(detail); see containers-registries.conf(5), version 2 format"
        case let .blocked(reference, path): return "pulling \(reference) is blocked by \(path) (blocked = true)"
        }
    }
}

/// One `[[registry.mirror]]`.
public struct RegistryMirror: Sendable, Hashable, Decodable {
    /// `host[:port][/path]` to pull from instead.
    public var location: String
    /// Plain HTTP or unverified TLS allowed.
    public var insecure: Bool?
    /// `all` (default), `digest-only` or `tag-only`.
    public var pullFromMirror: String?

    enum CodingKeys: String, CodingKey {
        case location, insecure
        case pullFromMirror = "pull-from-mirror"
    }
}

/// One `[[registry]]` table.
public struct RegistryEntry: Sendable, Hashable, Decodable {
    /// What references it applies to (`host[/path]`, or `*.domain`); defaults to `location`.
    public var prefix: String?
    /// Where to pull from (rewrites the prefix).
    public var location: String?
    /// Plain HTTP or unverified TLS allowed.
    public var insecure: Bool?
    /// Refuse to pull matching references.
    public var blocked: Bool?
    /// Mirrors tried before `location`.
    public var mirror: [RegistryMirror]?
    /// Try only the mirrors for digest references (`mirror-by-digest-only`).
    public var mirrorByDigestOnly: Bool?

    enum CodingKeys: String, CodingKey {
        case prefix, location, insecure, blocked, mirror
        case mirrorByDigestOnly = "mirror-by-digest-only"
    }

    /// The effective prefix.
    public var effectivePrefix: String { prefix ?? location ?? "" }
}

/// One place to pull a reference from, in order of preference.
public struct PullSource: Sendable, Hashable {
    /// The reference rewritten to that place.
    public var reference: Reference
    /// Whether that place is insecure.
    public var insecure: Bool
    /// Whether it is a mirror (failures fall through to the next source).
    public var isMirror: Bool
}

/// The containers `registries.conf` (version 2): mirrors, insecure registries, blocked prefixes, unqualified search.
public struct RegistriesConfiguration: Sendable, Hashable {
    /// Registries tried, in order, for short names.
    public var unqualifiedSearchRegistries: [String]
    /// The `[[registry]]` tables.
    public var registries: [RegistryEntry]
    /// The file(s) this came from (for messages).
    public var origin: String

    /// Makes a configuration.
    public init(unqualifiedSearchRegistries: [String] = [], registries: [RegistryEntry] = [], origin: String = "(defaults)") {
        self.unqualifiedSearchRegistries = unqualifiedSearchRegistries
        self.registries = registries
        self.origin = origin
    }

    private struct File: Decodable {
        var unqualifiedSearchRegistries: [String]?
        var registry: [RegistryEntry]?
        enum CodingKeys: String, CodingKey {
            case unqualifiedSearchRegistries = "unqualified-search-registries"
            case registry
        }
    }

    /// Parses registries.conf text.
    public static func parse(_ text: String, path: String = "registries.conf") throws -> RegistriesConfiguration {
        let file: File
        do {
            file = try TOMLDecoder().decode(File.self, from: text)
        } catch let error as TOMLParseError {
            throw RegistriesConfError.syntax(path: path, line: error.source.begin.line, column: error.source.begin.column,
                                             detail: error.description)
        } catch {
            throw RegistriesConfError.invalid(path: path, detail: "\(error)")
        }
        let config = RegistriesConfiguration(unqualifiedSearchRegistries: file.unqualifiedSearchRegistries ?? [],
                                             registries: file.registry ?? [], origin: path)
        for entry in config.registries {
            guard !entry.effectivePrefix.isEmpty else {
                throw RegistriesConfError.invalid(path: path, detail: "a [[registry]] needs a prefix or a location")
            }
            for mirror in entry.mirror ?? [] where !["all", "digest-only", "tag-only"].contains(mirror.pullFromMirror ?? "all") {
                throw RegistriesConfError.invalid(path: path, detail: "pull-from-mirror must be all, digest-only or tag-only, not \"\(mirror.pullFromMirror ?? "")\"")
            }
        }
        return config
    }

    /// Loads the file containers tools use: `CONTAINERS_REGISTRIES_CONF`, else `~/.config/containers/registries.conf`,
    /// else `/etc/containers/registries.conf`; empty defaults when none exists.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment, home: String? = nil,
                            systemPath: String = "/etc/containers/registries.conf") throws -> RegistriesConfiguration {
        let home = home ?? environment["HOME"] ?? NSHomeDirectory()
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        var candidates = [String]()
        if let explicit = environment["CONTAINERS_REGISTRIES_CONF"], !explicit.isEmpty { candidates.append(explicit) }
        candidates += [config + "/containers/registries.conf", systemPath]
        var result = RegistriesConfiguration()
        var dropInDirectories = [String]()
        for path in candidates {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            result = try parse(text, path: path)
            dropInDirectories.append(path + ".d")
            break
        }
        if dropInDirectories.isEmpty { dropInDirectories.append(systemPath + ".d") }
        let userDropIns = config + "/containers/registries.conf.d"
        if !dropInDirectories.contains(userDropIns) { dropInDirectories.append(userDropIns) }
        // containers-registries.conf.d(5): drop-ins in name order; a set list replaces, a registry with the same prefix replaces.
        for directory in dropInDirectories {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".conf") }.sorted()
            for name in names {
                let path = directory + "/" + name
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                result.merge(try parse(text, path: path), declaresSearch: text.contains("unqualified-search-registries"))
            }
        }
        return result
    }

    /// Applies a drop-in over this configuration.
    mutating func merge(_ dropIn: RegistriesConfiguration, declaresSearch: Bool) {
        if declaresSearch { unqualifiedSearchRegistries = dropIn.unqualifiedSearchRegistries }
        for entry in dropIn.registries {
            registries.removeAll { $0.effectivePrefix == entry.effectivePrefix }
            registries.append(entry)
        }
        origin += ", " + dropIn.origin
    }

    /// The `[[registry]]` whose prefix matches the reference best (longest prefix; `*.domain` wildcards last).
    public func entry(for reference: Reference) -> RegistryEntry? {
        let name = reference.name
        var best: (Int, RegistryEntry)?
        for entry in registries {
            let prefix = entry.effectivePrefix
            var score = -1
            if prefix.hasPrefix("*.") {
                let host = reference.domain.split(separator: ":").first.map(String.init) ?? reference.domain
                if host.hasSuffix(String(prefix.dropFirst(1))) { score = 0 }
            } else if name == prefix || name.hasPrefix(prefix + "/") || name.hasPrefix(prefix + ":") {
                score = prefix.count
            }
            if score >= 0 && (best == nil || score > best!.0) { best = (score, entry) }
        }
        return best?.1
    }

    /// Whether a host is configured insecure (by a matching registry or mirror location).
    public func isInsecure(host: String) -> Bool {
        for entry in registries {
            let location = entry.location ?? entry.effectivePrefix
            if Self.host(of: location) == host && entry.insecure == true { return true }
            for mirror in entry.mirror ?? [] where Self.host(of: mirror.location) == host && mirror.insecure == true { return true }
        }
        return false
    }

    /// Where to pull a reference from: mirrors first (as `pull-from-mirror` allows), then the registry's location.
    public func pullSources(for reference: Reference) throws -> [PullSource] {
        guard let entry = entry(for: reference) else { return [PullSource(reference: reference, insecure: false, isMirror: false)] }
        if entry.blocked == true { throw RegistriesConfError.blocked(reference: reference.description, path: origin) }
        var sources = [PullSource]()
        let byDigest = reference.digest != nil
        for mirror in entry.mirror ?? [] {
            let mode = entry.mirrorByDigestOnly == true ? "digest-only" : (mirror.pullFromMirror ?? "all")
            if mode == "digest-only" && !byDigest { continue }
            if mode == "tag-only" && byDigest { continue }
            if let rewritten = rewrite(reference, prefix: entry.effectivePrefix, location: mirror.location) {
                sources.append(PullSource(reference: rewritten, insecure: mirror.insecure ?? false, isMirror: true))
            }
        }
        let primary = entry.location.flatMap { rewrite(reference, prefix: entry.effectivePrefix, location: $0) } ?? reference
        sources.append(PullSource(reference: primary, insecure: entry.insecure ?? false, isMirror: false))
        return sources
    }

    /// Fully qualified candidates for a short name (no registry given), from `unqualified-search-registries`.
    public func candidates(forShortName name: String) throws -> [Reference] {
        try unqualifiedSearchRegistries.map { registry in
            try Reference(parsing: registry == "docker.io" && !name.contains("/") ? "docker.io/library/\(name)" : "\(registry)/\(name)")
        }
    }

    /// Whether a user-typed reference names no registry (`alpine`, `library/alpine:3`), so search registries apply.
    public static func isShortName(_ text: String) -> Bool {
        guard let slash = text.firstIndex(of: "/") else { return true }
        let first = text[..<slash]
        return !(first.contains(".") || first.contains(":") || first == "localhost")
    }

    private func rewrite(_ reference: Reference, prefix: String, location: String) -> Reference? {
        guard !prefix.hasPrefix("*.") else { return reference.replacingDomain(Self.host(of: location)) }
        let name = reference.name
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        let rewritten = location + rest
        guard let slash = rewritten.firstIndex(of: "/") else { return nil }
        var result = reference
        result.domain = String(rewritten[..<slash])
        result.repository = String(rewritten[rewritten.index(after: slash)...])
        return result
    }

    static func host(of location: String) -> String {
        String(location.split(separator: "/", maxSplits: 1).first ?? Substring(location))
    }
}
