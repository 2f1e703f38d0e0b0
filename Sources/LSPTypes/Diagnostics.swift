import JSONRPC

/// LSP's diagnostic severities.
public enum DiagnosticSeverity: Int, Codable, Sendable, Hashable {
    case error = 1, warning = 2, information = 3, hint = 4
}

/// A link to a diagnostic code's documentation.
public struct CodeDescription: Codable, Sendable, Hashable {
    /// The URL.
    public var href: String

    /// Creates a link.
    public init(href: String) { self.href = href }
}

/// A problem in a document, as the editor shows it.
public struct Diagnostic: Codable, Sendable, Hashable {
    /// Where it is.
    public var range: LSPRange
    /// How serious it is.
    public var severity: DiagnosticSeverity?
    /// The check's code (`UnknownFlag`, `JSONArgsRecommended`, …; docs/CHECKS.md lists them).
    public var code: String?
    /// The rule's documentation page, for BuildKit's rules.
    public var codeDescription: CodeDescription?
    /// Who reports it: `idpbuild`.
    public var source: String?
    /// A sentence a person can act on.
    public var message: String
    /// 1 unnecessary, 2 deprecated.
    public var tags: [Int]?

    /// Creates a diagnostic.
    public init(range: LSPRange, severity: DiagnosticSeverity?, code: String?, codeDescription: CodeDescription?,
                source: String?, message: String, tags: [Int]?) {
        self.range = range
        self.severity = severity
        self.code = code
        self.codeDescription = codeDescription
        self.source = source
        self.message = message
        self.tags = tags
    }
}

/// `textDocument/publishDiagnostics`: the diagnostics of one version of a document (empty clears them).
public struct PublishDiagnosticsNotification: LSPNotification {
    /// `textDocument/publishDiagnostics`.
    public static let method = "textDocument/publishDiagnostics"
    /// The document.
    public var uri: String
    /// The version they were computed for (absent when clearing a closed document).
    public var version: Int?
    /// The diagnostics.
    public var diagnostics: [Diagnostic]

    /// Creates the notification.
    public init(uri: String, version: Int?, diagnostics: [Diagnostic]) {
        self.uri = uri
        self.version = version
        self.diagnostics = diagnostics
    }
}

/// What the client knows when it asks for code actions.
public struct CodeActionContext: Codable, Sendable, Hashable {
    /// The diagnostics the client shows in the range (the server recomputes its own; kept as sent).
    public var diagnostics: [JSONValue]
    /// The kinds wanted (`quickfix`, `source.fixAll`, …), or nil for all.
    public var only: [String]?
}

/// `textDocument/codeAction`: fixes and source actions for a range.
public struct CodeActionRequest: LSPRequest {
    /// `textDocument/codeAction`.
    public static let method = "textDocument/codeAction"
    /// The actions.
    public typealias Response = [CodeAction]
    /// The document.
    public var textDocument: TextDocumentIdentifier
    /// The range (often the cursor).
    public var range: LSPRange
    /// What the client knows.
    public var context: CodeActionContext
}

/// A change offered to the user.
public struct CodeAction: Codable, Sendable, Hashable {
    /// The menu entry.
    public var title: String
    /// `quickfix`, `source.fixAll`, ….
    public var kind: String?
    /// The diagnostics it resolves.
    public var diagnostics: [Diagnostic]?
    /// Whether it is the fix to apply without looking.
    public var isPreferred: Bool?
    /// The edit.
    public var edit: WorkspaceEdit?
    /// A command to run after the edit.
    public var command: Command?

    /// Creates an action.
    public init(title: String, kind: String?, diagnostics: [Diagnostic]? = nil, isPreferred: Bool? = nil,
                edit: WorkspaceEdit? = nil, command: Command? = nil) {
        self.title = title
        self.kind = kind
        self.diagnostics = diagnostics
        self.isPreferred = isPreferred
        self.edit = edit
        self.command = command
    }
}
