import BuildEvents
import BuildPlanner
import BuildService
import DockerfileCheck
import DockerfileSyntax
import Foundation
import JSONRPC
import ResourceLimits

/// The settings a client can give in `initializationOptions`, `workspace/didChangeConfiguration` or as the
/// `idpbuild` section of `workspace/configuration`; protocol/README.md documents each with its default.
public struct ServerSettings: Sendable, Hashable {
    /// The build settings an editor can set (`BuilderConfig.editorSettingNames`), over the server's defaults.
    public var build = BuilderConfig()
    /// Check codes not to report (docs/CHECKS.md lists them).
    public var ignoredChecks: [String] = []
    /// Build arguments (`--build-arg` values) used when checking and in hovers.
    public var buildArgs: [String: String] = [:]

    /// The defaults, with the build settings of `build` (the server's command line over the environment).
    public init(build: BuilderConfig = BuilderConfig()) { self.build = build }

    /// The registry images are pushed to (host[:port]).
    public var registry: String { get { build.registry } set { build.registry = newValue } }
    /// The namespace (owner) in that registry.
    public var namespace: String { get { build.namespace } set { build.namespace = newValue } }
    /// Registries reached over plain HTTP or with an unverified certificate.
    public var insecureRegistries: [String] { get { build.insecureRegistries } set { build.insecureRegistries = newValue } }
    /// A CA certificate file (PEM) to trust for the registry.
    public var caFile: String? { get { build.caFile } set { build.caFile = newValue } }
    /// Memory, CPU and process limits for builds (`memory`, `cpus`, `pidsLimit`).
    public var limits: ResourceLimits { get { build.limits } set { build.limits = newValue } }

    /// The names of the settings, for messages and completion.
    public static let names = ["registry", "namespace", "insecureRegistries", "caFile", "ignoredChecks", "buildArgs"]
        + BuilderConfig.editorSettingNames.filter { !["registry", "namespace", "insecureRegistries", "caFile"].contains($0) }

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
            case "ignoredChecks":
                if let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                    let codes = items.compactMap(\.stringValue)
                    result.ignoredChecks = codes
                    for code in codes where Rules.byCode[code] == nil {
                        let hint = Suggest.closest(to: code, in: Rules.all.map(\.code)).map { " (did you mean \($0)?)" } ?? ""
                        problems.append("ignoredChecks: unknown check code \(code)\(hint); docs/CHECKS.md lists the codes")
                    }
                } else {
                    problems.append("ignoredChecks must be a list of check codes such as [\"JSONArgsRecommended\"], not \(BuilderConfig.shownValue(value))")
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
                    problems.append("buildArgs must be an object of NAME: value, not \(BuilderConfig.shownValue(value))")
                }
            case let name where BuilderConfig.editorSettingNames.contains(name):
                if let problem = result.build.apply(setting: name, value) { problems.append(problem) }
            default:
                let hint = Suggest.closest(to: key, in: Self.names).map { " (did you mean \($0)?)" } ?? ""
                problems.append("unknown setting \(JSONText.quoted(key))\(hint); the settings are \(Self.names.joined(separator: ", "))")
            }
        }
        return (result, problems)
    }

    /// The settings as JSON (for logs and tests).
    public var json: JSONValue {
        var object = build.editorSettingsJSON
        object["ignoredChecks"] = .array(ignoredChecks.map { .string($0) })
        object["buildArgs"] = .object(buildArgs.mapValues { .string($0) })
        return .object(object)
    }
}
