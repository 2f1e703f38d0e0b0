import DockerfileSyntax

/// A finding about a Dockerfile: a stable code, a severity, a range, a message and an optional fix.
public struct Diagnostic: Sendable, Hashable {
    /// Stable code: BuildKit's rule name where BuildKit has the rule, otherwise ours (see `Rules.all`).
    public var code: String
    /// How serious it is.
    public var severity: Severity
    /// Where it is.
    public var range: SourceRange
    /// A sentence a person can act on.
    public var message: String
    /// A fix, if one can be offered.
    public var fix: Fix?
    /// Marks the code as unnecessary (an overridden CMD) or deprecated (MAINTAINER), for editors that grey it out.
    public var tags: [Tag]

    /// LSP's diagnostic tags.
    public enum Tag: Int, Sendable, Hashable {
        case unnecessary = 1
        case deprecated = 2
    }

    /// Creates a diagnostic.
    public init(code: String, severity: Severity, range: SourceRange, message: String, fix: Fix? = nil, tags: [Tag] = []) {
        self.code = code
        self.severity = severity
        self.range = range
        self.message = message
        self.fix = fix
        self.tags = tags
    }

    /// The rule behind the code, if documented.
    public var rule: Rule? { Rules.byCode[code] }
}

/// What to check and how.
public struct CheckOptions: Sendable {
    /// Codes to leave out (any severity).
    public var ignoredCodes: Set<String>
    /// Values given with `--build-arg`, used when expanding variables.
    public var buildArguments: [String: String]

    /// Creates options.
    public init(ignoredCodes: Set<String> = [], buildArguments: [String: String] = [:]) {
        self.ignoredCodes = ignoredCodes
        self.buildArguments = buildArguments
    }
}

/// BuildKit's `# check=skip=A,B;error=true;experimental=C` directive.
public struct CheckDirective: Sendable, Hashable {
    /// Rule names not to report (case-sensitive), or all of them.
    public var skipped: Set<String> = []
    /// Whether `skip=all` was given.
    public var skipAll = false
    /// Whether warnings become errors (`error=true`).
    public var warningsAreErrors = false
    /// Experimental rules turned on.
    public var experimental: Set<String> = []

    /// Reads the directive's value; returns the problem message when an option is not understood.
    public static func parse(_ value: String) -> (CheckDirective, String?) {
        var directive = CheckDirective()
        // BuildKit: a space ends the list ("skip=A, B" skips only A).
        let effective = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        for part in effective.split(separator: ";", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2 else {
                return (directive, "invalid check option \"\(part)\": use skip=RULE,..., error=true|false or experimental=RULE,...")
            }
            let key = String(pieces[0])
            let names = Set(pieces[1].split(separator: ",").map(String.init))
            switch key {
            case "skip":
                directive.skipAll = names.contains("all")
                directive.skipped = names  // the last skip= wins, as in BuildKit
            case "error":
                switch pieces[1].lowercased() {
                case "true": directive.warningsAreErrors = true
                case "false": directive.warningsAreErrors = false
                default: return (directive, "invalid check option \"\(part)\": error= takes true or false")
                }
            case "experimental":
                directive.experimental = names
            default:
                return (directive, "invalid check option \"\(key)\": use skip=, error= or experimental=")
            }
        }
        return (directive, nil)
    }
}
