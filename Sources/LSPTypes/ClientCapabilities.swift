import JSONRPC

/// What the client supports, kept as the JSON it sent and read through the few paths the server needs.
///
/// Clients of different LSP versions send different shapes for the same capability (`tagSupport` was a Boolean
/// before 3.16, an object since), so reading paths leniently is safer than decoding a fixed tree: an old shape reads
/// as "not supported" instead of failing `initialize`.
public struct ClientCapabilities: Codable, Sendable, Hashable {
    /// The capabilities object as sent.
    public var raw: JSONValue

    /// Wraps a capabilities object.
    public init(_ raw: JSONValue = .object([:])) {
        self.raw = raw
    }

    /// Decodes any JSON object.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        guard value.objectValue != nil else {
            throw DecodingError.typeMismatch(JSONValue.self, DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "expected an object"))
        }
        raw = value
    }

    /// Encodes the object as sent.
    public func encode(to encoder: any Encoder) throws {
        try raw.encode(to: encoder)
    }

    private func value(_ path: String) -> JSONValue? {
        var current: JSONValue? = raw
        for key in path.split(separator: ".") { current = current?[String(key)] }
        return current
    }

    private func flag(_ path: String) -> Bool { value(path)?.boolValue ?? false }

    private func strings(_ path: String) -> [String] { value(path)?.arrayValue?.compactMap(\.stringValue) ?? [] }

    /// `general.positionEncodings`, in the client's order of preference.
    public var positionEncodings: [String] { strings("general.positionEncodings") }
    /// `workspace.applyEdit`.
    public var applyEdit: Bool { flag("workspace.applyEdit") }
    /// `workspace.workspaceEdit.documentChanges`.
    public var workspaceEditDocumentChanges: Bool { flag("workspace.workspaceEdit.documentChanges") }
    /// `workspace.configuration` (the client answers `workspace/configuration`).
    public var configuration: Bool { flag("workspace.configuration") }
    /// `workspace.didChangeConfiguration.dynamicRegistration`.
    public var didChangeConfigurationDynamicRegistration: Bool { flag("workspace.didChangeConfiguration.dynamicRegistration") }
    /// `window.workDoneProgress` (the client accepts `window/workDoneProgress/create`).
    public var workDoneProgress: Bool { flag("window.workDoneProgress") }
    /// `workspace.codeLens.refreshSupport` (the client answers `workspace/codeLens/refresh`).
    public var codeLensRefresh: Bool { flag("workspace.codeLens.refreshSupport") }
    /// `workspace.inlayHint.refreshSupport` (the client answers `workspace/inlayHint/refresh`).
    public var inlayHintRefresh: Bool { flag("workspace.inlayHint.refreshSupport") }
    /// `textDocument.completion.completionItem.snippetSupport`.
    public var completionSnippets: Bool { flag("textDocument.completion.completionItem.snippetSupport") }
    /// The formats the client shows completion documentation in.
    public var completionDocumentationFormats: [String] { strings("textDocument.completion.completionItem.documentationFormat") }
    /// The formats the client shows hovers in.
    public var hoverContentFormats: [String] { strings("textDocument.hover.contentFormat") }
    /// `textDocument.codeAction.codeActionLiteralSupport` is present (the client takes `CodeAction` literals).
    public var codeActionLiterals: Bool { value("textDocument.codeAction.codeActionLiteralSupport")?.objectValue != nil }
    /// `textDocument.documentSymbol.hierarchicalDocumentSymbolSupport`.
    public var hierarchicalDocumentSymbols: Bool { flag("textDocument.documentSymbol.hierarchicalDocumentSymbolSupport") }
    /// `textDocument.publishDiagnostics.codeDescriptionSupport`.
    public var diagnosticCodeDescription: Bool { flag("textDocument.publishDiagnostics.codeDescriptionSupport") }
    /// The diagnostic tags the client understands.
    public var diagnosticTags: [Int] { value("textDocument.publishDiagnostics.tagSupport.valueSet")?.arrayValue?.compactMap(\.intValue) ?? [] }
    /// `textDocument.foldingRange.lineFoldingOnly`.
    public var lineFoldingOnly: Bool { flag("textDocument.foldingRange.lineFoldingOnly") }

    /// Whether the client shows Markdown in hovers.
    public var hoverMarkdown: Bool { hoverContentFormats.contains("markdown") }
    /// Whether the client shows Markdown in completion documentation.
    public var completionMarkdown: Bool { completionDocumentationFormats.contains("markdown") }
}
