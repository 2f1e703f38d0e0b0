/// Where a variable in scope comes from.
public enum VariableOrigin: Sendable, Hashable {
    /// An ARG before the first FROM (instruction index).
    case globalArg(Int)
    /// An ARG in the stage (instruction index).
    case arg(Int)
    /// An ENV in the stage or in the stage it is built on (instruction index).
    case env(Int)
    /// A build argument Docker defines itself (`TARGETPLATFORM`, …) or the default `PATH`.
    case predefined
}

/// A variable in scope at some point of the Dockerfile.
public struct Variable: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its value as far as it can be known without building (nil for `ARG NAME` with no default).
    public var value: String?
    /// Where it comes from.
    public var origin: VariableOrigin
}

/// The platform this machine builds for, in Docker's terms.
public enum HostPlatform {
    /// `amd64`, `arm64`, … (GOARCH names).
    public static var architecture: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #elseif arch(arm)
        return "arm"
        #elseif arch(s390x)
        return "s390x"
        #elseif arch(powerpc64le)
        return "ppc64le"
        #else
        return "unknown"
        #endif
    }

    /// The build arguments Docker defines for every build (values for this machine, no variant).
    public static var predefinedArguments: [String: String] {
        let platform = "linux/\(architecture)"
        return ["TARGETPLATFORM": platform, "TARGETOS": "linux", "TARGETARCH": architecture, "TARGETVARIANT": "",
                "BUILDPLATFORM": platform, "BUILDOS": "linux", "BUILDARCH": architecture, "BUILDVARIANT": ""]
    }

    /// Build arguments that need no ARG to be used in RUN (proxies), but still need one elsewhere.
    public static let proxyArguments: Set<String> = [
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
        "ALL_PROXY", "all_proxy",
    ]

    /// The `PATH` Docker gives a container when the image sets none.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

/// The variables in scope while walking a stage, updated instruction by instruction as Docker does:
/// a value is expanded with the scope before its instruction, ENV wins over ARG of the same name.
public struct VariableScope: Sendable {
    /// Variables by name.
    public private(set) var variables: [String: Variable]
    /// Values given with `--build-arg`, which override ARG defaults.
    public let buildArguments: [String: String]
    /// Global ARGs (before the first FROM) with their values, which a stage's `ARG NAME` inherits.
    public let globalArguments: [String: Variable]

    /// The scope of FROM lines: global ARGs and Docker's predefined arguments.
    public static func global(_ definition: BuildDefinition, buildArguments: [String: String] = [:]) -> VariableScope {
        var scope = VariableScope(variables: [:], buildArguments: buildArguments, globalArguments: [:])
        for (name, value) in HostPlatform.predefinedArguments {
            scope.variables[name] = Variable(name: name, value: buildArguments[name] ?? value, origin: .predefined)
        }
        for index in definition.globalArgIndices {
            guard case .arg(let pairs)? = definition.commands[index] else { continue }
            let lexer = ShellLexer(escape: definition.dockerfile.escape)
            for pair in pairs {
                let name = scope.expandQuietly(pair.key, lexer: lexer)
                var value = pair.value.map { scope.expandQuietly($0, lexer: lexer) }
                if let given = buildArguments[name] { value = given }
                scope.variables[name] = Variable(name: name, value: value, origin: .globalArg(index))
            }
        }
        return scope
    }

    /// The scope at the start of a stage: the ENV of the stage it is built on (when it is a stage), and `PATH`.
    public func stageStart(inheriting inherited: [String: Variable] = [:]) -> VariableScope {
        var start = VariableScope(variables: inherited.filter { if case .env = $0.value.origin { return true } else { return false } },
                                  buildArguments: buildArguments, globalArguments: variables)
        if start.variables["PATH"] == nil {
            start.variables["PATH"] = Variable(name: "PATH", value: HostPlatform.defaultPath, origin: .predefined)
        }
        return start
    }

    /// The value of `name`, or nil when it is unset (`ARG NAME` without a value counts as set to nil).
    public func lookup(_ name: String) -> Variable? { variables[name] }

    /// Expands `word`, treating errors as "leave it as written" (for values shown to people, not for checks).
    public func expandQuietly(_ word: String, lexer: ShellLexer) -> String {
        (try? lexer.process(word) { variables[$0]?.value }.value) ?? word
    }

    /// Applies the effect of a command (ARG or ENV) on the scope; `index` is its instruction index.
    public mutating func apply(_ command: Command, at index: Int, lexer: ShellLexer) {
        switch command {
        case .arg(let pairs):
            for pair in pairs {
                let name = expandQuietly(pair.key, lexer: lexer)
                var value = pair.value.map { expandQuietly($0, lexer: lexer) }
                if let given = buildArguments[name] {
                    value = given
                } else if value == nil, let global = globalArguments[name] {
                    value = global.value
                }
                if case .env? = variables[name]?.origin { continue }  // ENV wins over ARG
                variables[name] = Variable(name: name, value: value, origin: .arg(index))
            }
        case .env(let pairs):
            var updates: [Variable] = []
            for pair in pairs {
                let name = expandQuietly(pair.key, lexer: lexer)
                updates.append(Variable(name: name, value: expandQuietly(pair.value ?? "", lexer: lexer), origin: .env(index)))
            }
            for update in updates { variables[update.name] = update }
        default:
            break
        }
    }
}

extension BuildDefinition {
    /// The variables in scope just before instruction `index` (for a FROM: the global scope).
    public func variables(before index: Int, buildArguments: [String: String] = [:]) -> [String: Variable] {
        let global = VariableScope.global(self, buildArguments: buildArguments)
        guard let stage = stage(containing: index), stage.fromIndex != index else { return global.variables }
        var scope = stageScope(for: stage, global: global)
        let lexer = ShellLexer(escape: dockerfile.escape)
        for current in stage.instructionIndices where current < index {
            if let command = commands[current] { scope.apply(command, at: current, lexer: lexer) }
        }
        return scope.variables
    }

    /// The scope at the start of `stage`, inheriting ENV from the stage it is built on (if any).
    public func stageScope(for stage: Stage, global: VariableScope) -> VariableScope {
        var inherited: [String: Variable] = [:]
        if let parent = parentStage(of: stage, global: global) {
            inherited = finalScope(of: parent, global: global).variables
        }
        return global.stageStart(inheriting: inherited)
    }

    /// The scope at the end of `stage`.
    public func finalScope(of stage: Stage, global: VariableScope) -> VariableScope {
        var scope = stageScope(for: stage, global: global)
        let lexer = ShellLexer(escape: dockerfile.escape)
        for index in stage.instructionIndices {
            if let command = commands[index] { scope.apply(command, at: index, lexer: lexer) }
        }
        return scope
    }
}
