/// How serious a finding is, in LSP's order.
public enum Severity: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    case error, warning, information, hint

    private var rank: Int {
        switch self {
        case .error: return 0
        case .warning: return 1
        case .information: return 2
        case .hint: return 3
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// A replacement of a source range by new text.
public struct TextEdit: Sendable, Hashable {
    /// The text replaced.
    public var range: SourceRange
    /// What replaces it.
    public var newText: String

    /// Creates an edit.
    public init(range: SourceRange, newText: String) {
        self.range = range
        self.newText = newText
    }
}

/// A suggested change that resolves a finding.
public struct Fix: Sendable, Hashable {
    /// What the fix does, as a menu entry ("Change to --chown").
    public var title: String
    /// The edits, non-overlapping.
    public var edits: [TextEdit]
    /// Whether the fix is safe to apply without looking (used for "fix all").
    public var isPreferred: Bool

    /// Creates a fix.
    public init(title: String, edits: [TextEdit], isPreferred: Bool = true) {
        self.title = title
        self.edits = edits
        self.isPreferred = isPreferred
    }
}

/// A finding of the parser or the typed-instruction layer: a stable code, a severity, a range and a message.
public struct SyntaxProblem: Sendable, Hashable {
    /// Stable code (for example `UnknownFlag`); the rule table in DockerfileCheck documents each.
    public var code: String
    /// How serious it is.
    public var severity: Severity
    /// A sentence a person can act on.
    public var message: String
    /// Where it is.
    public var range: SourceRange
    /// A suggested fix, if one is safe to offer.
    public var fix: Fix?

    /// Creates a problem.
    public init(code: String, severity: Severity, message: String, range: SourceRange, fix: Fix? = nil) {
        self.code = code
        self.severity = severity
        self.message = message
        self.range = range
        self.fix = fix
    }
}
