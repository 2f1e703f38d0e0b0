import BuildEvents
import BuildPlanner
import DockerfileCheck
import DockerfileSyntax
import Foundation
import JSONRPC
import ResourceLimits

/// The settings a client can give in `initializationOptions`, `workspace/didChangeConfiguration` or as the
/// `idpbuild` section of `workspace/configuration`; protocol/README.md documents each with its default.
public struct ServerSettings: Sendable, Hashable {
    /// The registry images are pushed to (host[:port]); used by the build commands.
    public var registry: String = "gitea.cnoe.localtest.me:8443"
    /// The namespace (owner) in that registry; used by the build commands.
    public var namespace: String = "giteaadmin"
    /// Registries reached over plain HTTP or with an unverified certificate; used by the build commands.
    public var insecureRegistries: [String] = []
    /// A CA certificate file (PEM) to trust for the registry; used by the build commands.
    public var caFile: String?
    /// Check codes not to report (docs/CHECKS.md lists them).
    public var ignoredChecks: [String] = []
    /// Build arguments (`--build-arg` values) used when checking and in hovers.
    public var buildArgs: [String: String] = [:]
    /// Memory, CPU and process limits for builds (`memory`, `cpus`, `pidsLimit`; as `idpbuild build --memory …`).
    public var limits = ResourceLimits()
    /// Entitlements editor builds get (`allow: ["network.host"]`, as `idpbuild build --allow network.host`).
    public var allow: Set<BuildEntitlement> = []
    /// How many stages an editor build runs at once (`jobs`, as `idpbuild build --jobs`); nil: the number of cores.
    public var jobs: Int?

    /// The defaults.
    public init() {}

    /// The names of the settings, for messages and completion.
    public static let names = ["registry", "namespace", "insecureRegistries", "caFile", "ignoredChecks", "buildArgs",
                               "memory", "cpus", "pidsLimit", "allow", "jobs"]

    /// The options the checker runs with.
    public var checkOptions: CheckOptions {
        CheckOptions(ignoredCodes: Set(ignoredChecks), buildArguments: buildArgs)
    }

    /// These settings with the members of `json` applied; a member of the wrong type or an unknown name is reported
    /// and leaves the current value. Accepts the settings object itself or one wrapped as `{"idpbuild": {…}}`.
    public func applying(_ json: JSONValue?) -> (settings: ServerSettings, problems: [String]) {
        guard var object = json?.objectValue else {
            // Lua and Emacs Lisp clients encode an empty table or plist as [] or null: no settings.
            if let json, !json.isNull, json != .array([]) { return (self, ["settings must be an object, not \(json.typeDescription); keeping the current settings"]) }
            return (self, [])
        }
        if let nested = object["idpbuild"] {
            guard let inner = nested.objectValue else {
                return (self, ["the idpbuild settings section must be an object, not \(nested.typeDescription)"])
            }
            object = inner
        }
        var result = self
        var problems: [String] = []
        for key in object.keys.sorted() {
            let value = object[key]!
            if value.isNull { continue }  // null means "not set": keep the default
            switch key {
            case "registry":
                if let text = value.stringValue, Self.isHostAndPort(text) {
                    result.registry = text
                } else {
                    problems.append("registry must be a host[:port] such as gitea.cnoe.localtest.me:8443, not \(Self.shownValue(value)); keeping \(result.registry)")
                }
            case "namespace":
                if let text = value.stringValue, Self.isNamespace(text) {
                    result.namespace = text
                } else {
                    problems.append("namespace must be a lowercase repository path component such as giteaadmin, not \(Self.shownValue(value)); keeping \(result.namespace)")
                }
            case "insecureRegistries":
                if let items = value.arrayValue, items.allSatisfy({ $0.stringValue.map(Self.isHostAndPort) == true }) {
                    result.insecureRegistries = items.compactMap(\.stringValue)
                } else {
                    problems.append("insecureRegistries must be a list of host[:port] strings, not \(Self.shownValue(value)); keeping the current list")
                }
            case "caFile":
                if let text = value.stringValue {
                    result.caFile = text.isEmpty ? nil : text
                    if !text.isEmpty && !FileManager.default.isReadableFile(atPath: text) {
                        problems.append("caFile \(text) is not a readable file; builds will fail to verify the registry until it exists")
                    }
                } else {
                    problems.append("caFile must be the path of a PEM file, not \(Self.shownValue(value))")
                }
            case "ignoredChecks":
                if let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                    let codes = items.compactMap(\.stringValue)
                    result.ignoredChecks = codes
                    for code in codes where Rules.byCode[code] == nil {
                        let hint = Suggest.closest(to: code, in: Rules.all.map(\.code)).map { " (did you mean \($0)?)" } ?? ""
                        problems.append("ignoredChecks: unknown check code \(code)\(hint); docs/CHECKS.md lists the codes")
                    }
                } else {
                    problems.append("ignoredChecks must be a list of check codes such as [\"JSONArgsRecommended\"], not \(Self.shownValue(value))")
                }
            case "buildArgs":
                if let members = value.objectValue {
                    var arguments: [String: String] = [:]
                    var bad: [String] = []
                    for (name, member) in members {
                        switch member {
                        case .string(let text): arguments[name] = text
                        case .integer(let number): arguments[name] = String(number)
                        case .bool(let flag): arguments[name] = String(flag)
                        case .double(let number): arguments[name] = String(number)
                        default: bad.append(name)
                        }
                    }
                    result.buildArgs = arguments
                    if !bad.isEmpty {
                        problems.append("buildArgs values must be strings; ignoring \(bad.sorted().joined(separator: ", "))")
                    }
                } else {
                    problems.append("buildArgs must be an object of NAME: value, not \(Self.shownValue(value))")
                }
            case "memory":
                do {
                    switch value {
                    case .string(let text): result.limits.memoryBytes = try ResourceLimits.parseMemory(text)
                    case .integer(let bytes): result.limits.memoryBytes = try ResourceLimits.parseMemory(String(bytes))
                    default: throw ResourceLimitsError.invalidValue(option: "memory", value: "", detail: "expected a size such as \"512m\" or a number of bytes")
                    }
                } catch {
                    problems.append("memory must be a size such as \"512m\" or \"2g\" (or bytes), of at least 6m, not \(Self.shownNumber(value)); keeping \(result.limits.memoryBytes.map(ResourceLimits.size) ?? "no limit")")
                }
            case "cpus":
                let text: String? = switch value {
                case .integer(let number): String(number)
                case .double(let number): String(number)
                case .string(let text): text
                default: nil
                }
                if let text, let cpus = try? ResourceLimits.parseCPUs(text) {
                    result.limits.cpus = cpus
                } else {
                    problems.append("cpus must be a number of CPUs from 0.01, such as 1.5, not \(Self.shownNumber(value)); keeping \(result.limits.cpus.map { String($0) } ?? "no limit")")
                }
            case "pidsLimit":
                if case .integer(let number) = value, let pids = try? ResourceLimits.parsePids(String(number)) {
                    result.limits.pids = pids
                } else {
                    problems.append("pidsLimit must be a whole number of processes of at least 1, not \(Self.shownNumber(value)); keeping \(result.limits.pids.map { String($0) } ?? "no limit")")
                }
            case "jobs":
                if case .integer(let number) = value, number >= 1 {
                    result.jobs = number
                } else {
                    problems.append("jobs must be a whole number of stages of at least 1, not \(Self.shownNumber(value)); keeping \(result.jobs.map { String($0) } ?? "the number of cores")")
                }
            case "allow":
                if let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }),
                   let entitlements = try? BuildEntitlement.parse(items.compactMap(\.stringValue)) {
                    result.allow = entitlements
                } else {
                    problems.append("allow must be a list of entitlements such as [\"network.host\"], not \(Self.shownValue(value)); keeping " +
                                    (result.allow.isEmpty ? "none" : result.allow.map(\.rawValue).sorted().joined(separator: ", ")))
                }
            default:
                let hint = Suggest.closest(to: key, in: Self.names).map { " (did you mean \($0)?)" } ?? ""
                problems.append("unknown setting \(JSONText.quoted(key))\(hint); the settings are \(Self.names.joined(separator: ", "))")
            }
        }
        return (result, problems)
    }

    /// The settings as JSON (for logs and tests).
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "registry": .string(registry), "namespace": .string(namespace),
            "insecureRegistries": .array(insecureRegistries.map { .string($0) }),
            "ignoredChecks": .array(ignoredChecks.map { .string($0) }),
            "buildArgs": .object(buildArgs.mapValues { .string($0) }),
        ]
        object["caFile"] = caFile.map { .string($0) } ?? .null
        object["memory"] = limits.memoryBytes.map { .integer(Int($0)) } ?? .null
        object["cpus"] = limits.cpus.map { .double($0) } ?? .null
        object["pidsLimit"] = limits.pids.map { .integer($0) } ?? .null
        object["allow"] = .array(allow.map(\.rawValue).sorted().map { .string($0) })
        object["jobs"] = jobs.map { .integer($0) } ?? .null
        return .object(object)
    }

    /// A number as written; anything else as `shownValue` does.
    private static func shownNumber(_ value: JSONValue) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .double(let number): return String(number)
        default: return shownValue(value)
        }
    }

    private static func shownValue(_ value: JSONValue) -> String {
        if let text = value.stringValue { return JSONText.quoted(shown(text)) }
        return value.typeDescription
    }

    /// `host`, `host:port` or `[v6]:port`, without a scheme or path.
    static func isHostAndPort(_ text: String) -> Bool {
        guard !text.isEmpty, !text.contains("/"), !text.contains(" ") else { return false }
        if text.hasPrefix("[") { return text.contains("]") }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return false }
        if parts.count == 2 { return UInt16(parts[1]) != nil }
        return true
    }

    /// A repository path component or several joined with `/` (lowercase letters, digits, `._-` separators).
    static func isNamespace(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        return text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            guard let first = component.utf8.first, let last = component.utf8.last else { return false }
            let alnum: (UInt8) -> Bool = { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
            return alnum(first) && alnum(last) && component.utf8.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
        }
    }
}
