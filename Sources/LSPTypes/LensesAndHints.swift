import JSONRPC

/// `textDocument/codeLens`: commands shown above lines (the build lenses above `FROM`).
public struct CodeLensRequest: LSPRequest {
    /// `textDocument/codeLens`.
    public static let method = "textDocument/codeLens"
    /// The lenses.
    public typealias Response = [CodeLens]
    /// The document.
    public var textDocument: TextDocumentIdentifier

    /// Creates the request.
    public init(textDocument: TextDocumentIdentifier) { self.textDocument = textDocument }
}

/// A command shown above a range.
public struct CodeLens: Codable, Sendable, Hashable {
    /// The line it is shown above (its start).
    public var range: LSPRange
    /// The command run when it is clicked (always resolved: the server has no `codeLens/resolve`).
    public var command: Command?

    /// Creates a lens.
    public init(range: LSPRange, command: Command?) {
        self.range = range
        self.command = command
    }
}

/// `workspace/codeLens/refresh`: the server asks the client to request code lenses again (a build started or ended).
public struct CodeLensRefreshRequest: LSPRequest {
    /// `workspace/codeLens/refresh`.
    public static let method = "workspace/codeLens/refresh"
    /// `null`.
    public typealias Response = VoidResponse
}

/// `textDocument/inlayHint`: labels shown inside lines (the build cache state after each instruction).
public struct InlayHintRequest: LSPRequest {
    /// `textDocument/inlayHint`.
    public static let method = "textDocument/inlayHint"
    /// The hints.
    public typealias Response = [InlayHint]
    /// The document.
    public var textDocument: TextDocumentIdentifier
    /// The visible range the hints are wanted for.
    public var range: LSPRange

    /// Creates the request.
    public init(textDocument: TextDocumentIdentifier, range: LSPRange) {
        self.textDocument = textDocument
        self.range = range
    }
}

/// A label shown at a position.
public struct InlayHint: Codable, Sendable, Hashable {
    /// Where it is shown (after the instruction).
    public var position: Position
    /// The text (`cached`, `will run`).
    public var label: String
    /// Shown on hover.
    public var tooltip: String?
    /// Whether the client adds a space before the label.
    public var paddingLeft: Bool?

    /// Creates a hint.
    public init(position: Position, label: String, tooltip: String? = nil, paddingLeft: Bool? = nil) {
        self.position = position
        self.label = label
        self.tooltip = tooltip
        self.paddingLeft = paddingLeft
    }
}

/// `workspace/inlayHint/refresh`: the server asks the client to request inlay hints again (the build cache changed).
public struct InlayHintRefreshRequest: LSPRequest {
    /// `workspace/inlayHint/refresh`.
    public static let method = "workspace/inlayHint/refresh"
    /// `null`.
    public typealias Response = VoidResponse
}
