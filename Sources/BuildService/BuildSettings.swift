import BuildEvents
import DockerfileSyntax
import Foundation
import JSONRPC
import OCI
import ResourceLimits

/// Every setting of a build, defined once: where images go and how registries are reached (defaults serve an
/// idpbuilder cluster), and how the build runs. Layers are merged here, in this order: the defaults, then the
/// environment (`init(environment:)`), then an editor's settings (`apply(setting:_:)`), then a command's flags.
public struct BuilderConfig: Sendable, Codable, Hashable {
    /// The default registry: idpbuilder's Gitea.
    public static let defaultRegistry = "gitea.cnoe.localtest.me:8443"
    /// The default namespace (Gitea owner).
    public static let defaultNamespace = "giteaadmin"

    /// Registry host[:port] (`IDPBUILD_REGISTRY` overrides the default).
    public var registry: String
    /// Namespace (owner) in the registry (`IDPBUILD_NAMESPACE` overrides the default).
    public var namespace: String
    /// Skip TLS verification for the registry (idpbuilder's self-signed certificate when no CA is known).
    public var insecureSkipTLSVerify: Bool
    /// Extra CA file for the registry.
    public var caFile: String?
    /// Hosts reached over plain HTTP or unverified TLS.
    public var insecureRegistries: [String]
    /// registries.conf to use (default: the containers search order).
    public var registriesConf: String?
    /// The image store folder (default: `$XDG_DATA_HOME/idpbuild`).
    public var storeRoot: String?
    /// The program run as the build worker (default: this program, `/proc/self/exe`); it must have the hidden
    /// `build-worker` subcommand (`idpbuild` has).
    public var workerExecutable: String
    /// Ask the Kubernetes API for the Gitea credential and CA.
    public var useKubernetes: Bool
    /// An explicit registry user (with `password`), else the credential chain.
    public var username: String?
    /// The explicit password; sent to the worker on its standard input, never on a command line or in a log.
    public var password: String?
    /// Upload blobs in `PATCH` chunks of this many bytes (nil: one `PUT` per blob).
    public var chunkSize: Int64?
    /// Layer compression.
    public var compression: LayerCompression
    /// Creation and file times clamped to these seconds since the epoch (`SOURCE_DATE_EPOCH` sets the default).
    public var timestamp: Int64?
    /// Memory, CPU and process limits for the worker and everything it starts (see `BuildLimits`).
    public var limits: ResourceLimits
    /// How many stages may run at once (at least 1; default: the number of cores).
    public var jobs: Int
    /// What the Dockerfile may do beyond the defaults (`--allow network.host`), as BuildKit's entitlements.
    public var entitlements: Set<BuildEntitlement>

    /// Makes a config: the given values, else the environment's (`IDPBUILD_REGISTRY`, `IDPBUILD_NAMESPACE`,
    /// `SOURCE_DATE_EPOCH`), else the defaults.
    public init(registry: String? = nil, namespace: String? = nil, insecureSkipTLSVerify: Bool = false,
                caFile: String? = nil, insecureRegistries: [String] = [], registriesConf: String? = nil, storeRoot: String? = nil,
                workerExecutable: String = "/proc/self/exe", useKubernetes: Bool = true, username: String? = nil, password: String? = nil,
                chunkSize: Int64? = nil, compression: LayerCompression = .gzip, timestamp: Int64? = nil, limits: ResourceLimits = ResourceLimits(),
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount, entitlements: Set<BuildEntitlement> = [],
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        let layer = Self.environmentLayer(environment)
        self.registry = registry ?? layer.registry ?? Self.defaultRegistry
        self.namespace = namespace ?? layer.namespace ?? Self.defaultNamespace
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.caFile = caFile
        self.insecureRegistries = insecureRegistries
        self.registriesConf = registriesConf
        self.storeRoot = storeRoot
        self.workerExecutable = workerExecutable
        self.useKubernetes = useKubernetes
        self.username = username
        self.password = password
        self.chunkSize = chunkSize
        self.compression = compression
        self.timestamp = timestamp ?? layer.timestamp
        self.limits = limits
        self.jobs = max(1, jobs)
        self.entitlements = entitlements
    }

    /// The environment's layer: each variable that is set and valid.
    static func environmentLayer(_ environment: [String: String]) -> (registry: String?, namespace: String?, timestamp: Int64?) {
        (environment["IDPBUILD_REGISTRY"].flatMap { isHostAndPort($0) ? $0 : nil },
         environment["IDPBUILD_NAMESPACE"].flatMap { isNamespace($0) ? $0 : nil },
         environment["SOURCE_DATE_EPOCH"].flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil })
    }

    /// What is wrong with the environment's settings (a value that is set but not taken), for a warning.
    public static func environmentProblems(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var problems: [String] = []
        if let value = environment["IDPBUILD_REGISTRY"], !value.isEmpty, !isHostAndPort(value) {
            problems.append("IDPBUILD_REGISTRY=\(shown(value)) is not a host[:port] such as gitea.cnoe.localtest.me:8443; using \(defaultRegistry)")
        }
        if let value = environment["IDPBUILD_NAMESPACE"], !value.isEmpty, !isNamespace(value) {
            problems.append("IDPBUILD_NAMESPACE=\(shown(value)) is not a lowercase repository path such as giteaadmin; using \(defaultNamespace)")
        }
        if let value = environment["SOURCE_DATE_EPOCH"], !value.isEmpty, (Int64(value) ?? -1) < 0 {
            problems.append("SOURCE_DATE_EPOCH=\(shown(value)) is not a number of seconds since the epoch; image times are not clamped")
        }
        return problems
    }

    /// Decodes a config; members left out keep their defaults (an older or hand-written job).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BuilderConfig(environment: [:])
        registry = try container.decodeIfPresent(String.self, forKey: .registry) ?? defaults.registry
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace) ?? defaults.namespace
        insecureSkipTLSVerify = try container.decodeIfPresent(Bool.self, forKey: .insecureSkipTLSVerify) ?? false
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        insecureRegistries = try container.decodeIfPresent([String].self, forKey: .insecureRegistries) ?? []
        registriesConf = try container.decodeIfPresent(String.self, forKey: .registriesConf)
        storeRoot = try container.decodeIfPresent(String.self, forKey: .storeRoot)
        workerExecutable = try container.decodeIfPresent(String.self, forKey: .workerExecutable) ?? defaults.workerExecutable
        useKubernetes = try container.decodeIfPresent(Bool.self, forKey: .useKubernetes) ?? true
        username = try container.decodeIfPresent(String.self, forKey: .username)
        password = try container.decodeIfPresent(String.self, forKey: .password)
        chunkSize = try container.decodeIfPresent(Int64.self, forKey: .chunkSize)
        compression = try container.decodeIfPresent(LayerCompression.self, forKey: .compression) ?? .gzip
        timestamp = try container.decodeIfPresent(Int64.self, forKey: .timestamp)
        limits = try container.decodeIfPresent(ResourceLimits.self, forKey: .limits) ?? ResourceLimits()
        jobs = max(1, try container.decodeIfPresent(Int.self, forKey: .jobs) ?? defaults.jobs)
        entitlements = try container.decodeIfPresent(Set<BuildEntitlement>.self, forKey: .entitlements) ?? []
    }

    // MARK: the editor's layer

    /// The settings an editor can give (`initializationOptions`, `workspace/didChangeConfiguration`), in the order
    /// messages list them; protocol/README.md documents each.
    public static let editorSettingNames = ["registry", "namespace", "insecureRegistries", "caFile", "memory", "cpus", "pidsLimit", "allow",
                                            "jobs", "compression", "timestamp"]

    /// This config with one editor setting applied; returns a problem for a value that is not taken (the current one
    /// stays) or is taken with a warning. `name` must be one of `editorSettingNames`.
    public mutating func apply(setting name: String, _ value: JSONValue) -> String? {
        switch name {
        case "registry":
            guard let text = value.stringValue, Self.isHostAndPort(text) else {
                return "registry must be a host[:port] such as gitea.cnoe.localtest.me:8443, not \(Self.shownValue(value)); keeping \(registry)"
            }
            registry = text
        case "namespace":
            guard let text = value.stringValue, Self.isNamespace(text) else {
                return "namespace must be a lowercase repository path component such as giteaadmin, not \(Self.shownValue(value)); keeping \(namespace)"
            }
            namespace = text
        case "insecureRegistries":
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue.map(Self.isHostAndPort) == true }) else {
                return "insecureRegistries must be a list of host[:port] strings, not \(Self.shownValue(value)); keeping the current list"
            }
            insecureRegistries = items.compactMap(\.stringValue)
        case "caFile":
            guard let text = value.stringValue else { return "caFile must be the path of a PEM file, not \(Self.shownValue(value))" }
            caFile = text.isEmpty ? nil : text
            if !text.isEmpty && !FileManager.default.isReadableFile(atPath: text) {
                return "caFile \(text) is not a readable file; builds will fail to verify the registry until it exists"
            }
        case "memory":
            do {
                switch value {
                case .string(let text): limits.memoryBytes = try ResourceLimits.parseMemory(text)
                case .integer(let bytes): limits.memoryBytes = try ResourceLimits.parseMemory(String(bytes))
                default: throw ResourceLimitsError.invalidValue(option: "memory", value: "", detail: "expected a size such as \"512m\" or a number of bytes")
                }
            } catch {
                return "memory must be a size such as \"512m\" or \"2g\" (or bytes), of at least 6m, not \(Self.shownNumber(value)); keeping \(limits.memoryBytes.map(ResourceLimits.size) ?? "no limit")"
            }
        case "cpus":
            let text: String? = switch value {
            case .integer(let number): String(number)
            case .double(let number): String(number)
            case .string(let text): text
            default: nil
            }
            guard let text, let cpus = try? ResourceLimits.parseCPUs(text) else {
                return "cpus must be a number of CPUs from 0.01, such as 1.5, not \(Self.shownNumber(value)); keeping \(limits.cpus.map { String($0) } ?? "no limit")"
            }
            limits.cpus = cpus
        case "pidsLimit":
            guard case .integer(let number) = value, let pids = try? ResourceLimits.parsePids(String(number)) else {
                return "pidsLimit must be a whole number of processes of at least 1, not \(Self.shownNumber(value)); keeping \(limits.pids.map { String($0) } ?? "no limit")"
            }
            limits.pids = pids
        case "jobs":
            guard case .integer(let number) = value, number >= 1 else {
                return "jobs must be a whole number of stages of at least 1, not \(Self.shownNumber(value)); keeping \(jobs)"
            }
            jobs = number
        case "allow":
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }),
                  let parsed = try? BuildEntitlement.parse(items.compactMap(\.stringValue)) else {
                return "allow must be a list of entitlements such as [\"network.host\"], not \(Self.shownValue(value)); keeping " +
                    (entitlements.isEmpty ? "none" : entitlements.map(\.rawValue).sorted().joined(separator: ", "))
            }
            entitlements = parsed
        case "compression":
            guard let text = value.stringValue, let parsed = LayerCompression(rawValue: text) else {
                return "compression must be one of gzip, zstd or none, not \(Self.shownValue(value)); keeping \(compression.rawValue)"
            }
            compression = parsed
        case "timestamp":
            guard case .integer(let seconds) = value, seconds >= 0 else {
                return "timestamp must be a whole number of seconds since the epoch, not \(Self.shownNumber(value)); keeping \(timestamp.map { String($0) } ?? "none")"
            }
            timestamp = Int64(seconds)
        default:
            return "\(name) is not a build setting"
        }
        return nil
    }

    /// Copies the values an editor can set (`editorSettingNames`) from `other`: a session's settings over the
    /// server's machine-wide config (its store, worker, registries.conf and credentials stay).
    public func takingEditorSettings(from other: BuilderConfig) -> BuilderConfig {
        var result = self
        result.registry = other.registry
        result.namespace = other.namespace
        result.insecureRegistries = other.insecureRegistries
        result.caFile = other.caFile
        result.limits = other.limits
        result.jobs = other.jobs
        result.entitlements = other.entitlements
        result.compression = other.compression
        result.timestamp = other.timestamp
        return result
    }

    /// The editor's settings as JSON (for logs and tests), by `editorSettingNames`.
    public var editorSettingsJSON: [String: JSONValue] {
        [
            "registry": .string(registry), "namespace": .string(namespace),
            "insecureRegistries": .array(insecureRegistries.map { .string($0) }),
            "caFile": caFile.map { .string($0) } ?? .null,
            "memory": limits.memoryBytes.map { .integer(Int($0)) } ?? .null,
            "cpus": limits.cpus.map { .double($0) } ?? .null,
            "pidsLimit": limits.pids.map { .integer($0) } ?? .null,
            "allow": .array(entitlements.map(\.rawValue).sorted().map { .string($0) }),
            "jobs": .integer(jobs), "compression": .string(compression.rawValue),
            "timestamp": timestamp.map { .integer(Int($0)) } ?? .null,
        ]
    }

    // MARK: validation shared by every layer

    /// `host`, `host:port` or `[v6]:port`, without a scheme or path.
    public static func isHostAndPort(_ text: String) -> Bool {
        guard !text.isEmpty, !text.contains("/"), !text.contains(" ") else { return false }
        if text.hasPrefix("[") { return text.contains("]") }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return false }
        if parts.count == 2 { return UInt16(parts[1]) != nil }
        return true
    }

    /// A repository path component or several joined with `/` (lowercase letters, digits, `._-` separators).
    public static func isNamespace(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        return text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            guard let first = component.utf8.first, let last = component.utf8.last else { return false }
            let alnum: (UInt8) -> Bool = { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
            return alnum(first) && alnum(last) && component.utf8.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
        }
    }

    /// A number as written; anything else as `shownValue` does.
    public static func shownNumber(_ value: JSONValue) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .double(let number): return String(number)
        default: return shownValue(value)
        }
    }

    /// A JSON value as a setting's message shows it: a string quoted (and shortened), anything else by its type.
    public static func shownValue(_ value: JSONValue) -> String {
        if let text = value.stringValue { return JSONText.quoted(shown(text)) }
        return value.typeDescription
    }
}
