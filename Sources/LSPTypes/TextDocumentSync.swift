/// `textDocument/didOpen`: the client now owns the document's text.
public struct DidOpenTextDocumentNotification: LSPNotification {
    /// `textDocument/didOpen`.
    public static let method = "textDocument/didOpen"
    /// The document.
    public var textDocument: TextDocumentItem

    /// Creates the notification.
    public init(textDocument: TextDocumentItem) { self.textDocument = textDocument }
}

/// One change: a range replaced, or (without a range) the whole text.
public struct TextDocumentContentChangeEvent: Codable, Sendable, Hashable {
    /// The replaced range; nil replaces the whole document.
    public var range: LSPRange?
    /// The new text.
    public var text: String

    /// Creates a change.
    public init(range: LSPRange?, text: String) {
        self.range = range
        self.text = text
    }
}

/// `textDocument/didChange`: incremental changes, applied in order.
public struct DidChangeTextDocumentNotification: LSPNotification {
    /// `textDocument/didChange`.
    public static let method = "textDocument/didChange"
    /// The document and its new version.
    public var textDocument: VersionedTextDocumentIdentifier
    /// The changes, in order.
    public var contentChanges: [TextDocumentContentChangeEvent]

    /// Creates the notification.
    public init(textDocument: VersionedTextDocumentIdentifier, contentChanges: [TextDocumentContentChangeEvent]) {
        self.textDocument = textDocument
        self.contentChanges = contentChanges
    }
}

/// `textDocument/didClose`: the client no longer owns the text; its diagnostics are cleared.
public struct DidCloseTextDocumentNotification: LSPNotification {
    /// `textDocument/didClose`.
    public static let method = "textDocument/didClose"
    /// The document.
    public var textDocument: TextDocumentIdentifier
}

/// `textDocument/didSave`: accepted and ignored (the server works on the editor's text, not the file).
public struct DidSaveTextDocumentNotification: LSPNotification {
    /// `textDocument/didSave`.
    public static let method = "textDocument/didSave"
    /// The document.
    public var textDocument: TextDocumentIdentifier
}
