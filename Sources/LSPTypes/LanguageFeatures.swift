import JSONRPC

/// `textDocument/hover`: documentation for what is under the cursor.
public struct HoverRequest: LSPRequest {
    /// `textDocument/hover`.
    public static let method = "textDocument/hover"
    /// The hover, or null.
    public typealias Response = Hover?
    /// The document.
    public var textDocument: TextDocumentIdentifier
    /// The cursor.
    public var position: Position
}

/// A hover: text and the range it is about.
public struct Hover: Codable, Sendable, Hashable {
    /// The text.
    public var contents: MarkupContent
    /// The range it describes.
    public var range: LSPRange?

    /// Creates it from its fields.
    public init(contents: MarkupContent, range: LSPRange? = nil) {
        self.contents = contents
        self.range = range
    }
}

/// What opened completion.
public struct CompletionContext: Codable, Sendable, Hashable {
    /// 1 invoked, 2 trigger character, 3 re-trigger.
    public var triggerKind: Int
    /// The character typed, for kind 2.
    public var triggerCharacter: String?
}

/// `textDocument/completion`: what may be typed at the cursor.
public struct CompletionRequest: LSPRequest {
    /// `textDocument/completion`.
    public static let method = "textDocument/completion"
    /// The list.
    public typealias Response = CompletionList
    /// The document.
    public var textDocument: TextDocumentIdentifier
    /// The cursor.
    public var position: Position
    /// What opened completion.
    public var context: CompletionContext?
}

/// LSP's completion item kinds (the subset used).
public enum CompletionItemKind: Int, Codable, Sendable, Hashable {
    case text = 1, function = 3, field = 5, variable = 6, module = 9, property = 10, value = 12, keyword = 14,
         snippet = 15, reference = 18, constant = 21
}

/// One completion.
public struct CompletionItem: Codable, Sendable, Hashable {
    /// What the list shows and what is inserted by default.
    public var label: String
    /// Its kind.
    public var kind: CompletionItemKind?
    /// A short detail (a variable's value, a flag's form).
    public var detail: String?
    /// Documentation.
    public var documentation: MarkupContent?
    /// Sort key.
    public var sortText: String?
    /// Filter key.
    public var filterText: String?
    /// 1 plain text, 2 snippet.
    public var insertTextFormat: Int?
    /// The replacement of the word being typed.
    public var textEdit: TextEdit?

    /// Creates it from its fields.
    public init(label: String, kind: CompletionItemKind? = nil, detail: String? = nil,
                documentation: MarkupContent? = nil, sortText: String? = nil, filterText: String? = nil,
                insertTextFormat: Int? = nil, textEdit: TextEdit? = nil) {
        self.label = label
        self.kind = kind
        self.detail = detail
        self.documentation = documentation
        self.sortText = sortText
        self.filterText = filterText
        self.insertTextFormat = insertTextFormat
        self.textEdit = textEdit
    }
}

/// A completion list.
public struct CompletionList: Codable, Sendable, Hashable {
    /// Whether typing more should ask again.
    public var isIncomplete: Bool
    /// The items.
    public var items: [CompletionItem]

    /// Creates it from its fields.
    public init(isIncomplete: Bool, items: [CompletionItem]) {
        self.isIncomplete = isIncomplete
        self.items = items
    }
}

/// `textDocument/documentSymbol`: the outline.
public struct DocumentSymbolRequest: LSPRequest {
    /// `textDocument/documentSymbol`.
    public static let method = "textDocument/documentSymbol"
    /// Hierarchical symbols, or flat ones for older clients.
    public typealias Response = DocumentSymbolResponse
    /// The document.
    public var textDocument: TextDocumentIdentifier
}

/// LSP's symbol kinds (the subset used).
public enum SymbolKind: Int, Codable, Sendable, Hashable {
    case module = 2, namespace = 3, property = 7, field = 8, function = 12, variable = 13, constant = 14, event = 24
}

/// An outline entry with its children.
public struct DocumentSymbol: Codable, Sendable, Hashable {
    /// The name.
    public var name: String
    /// A detail after the name.
    public var detail: String?
    /// Its kind.
    public var kind: SymbolKind
    /// The whole range.
    public var range: LSPRange
    /// The name's range.
    public var selectionRange: LSPRange
    /// Children.
    public var children: [DocumentSymbol]?

    /// Creates it from its fields.
    public init(name: String, detail: String? = nil, kind: SymbolKind, range: LSPRange, selectionRange: LSPRange,
                children: [DocumentSymbol]? = nil) {
        self.name = name
        self.detail = detail
        self.kind = kind
        self.range = range
        self.selectionRange = selectionRange
        self.children = children
    }
}

/// A flat outline entry.
public struct SymbolInformation: Codable, Sendable, Hashable {
    /// The name.
    public var name: String
    /// Its kind.
    public var kind: SymbolKind
    /// Where it is.
    public var location: Location
    /// The enclosing symbol's name.
    public var containerName: String?

    /// Creates it from its fields.
    public init(name: String, kind: SymbolKind, location: Location, containerName: String? = nil) {
        self.name = name
        self.kind = kind
        self.location = location
        self.containerName = containerName
    }
}

/// Either hierarchical or flat symbols.
public enum DocumentSymbolResponse: Codable, Sendable, Hashable {
    case hierarchical([DocumentSymbol])
    case flat([SymbolInformation])

    /// Decodes either shape.
    public init(from decoder: any Decoder) throws {
        if let symbols = try? [DocumentSymbol](from: decoder) {
            self = .hierarchical(symbols)
        } else {
            self = .flat(try [SymbolInformation](from: decoder))
        }
    }

    /// Encodes the array.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .hierarchical(let symbols): try symbols.encode(to: encoder)
        case .flat(let symbols): try symbols.encode(to: encoder)
        }
    }
}

/// `textDocument/foldingRange`: regions that can be folded.
public struct FoldingRangeRequest: LSPRequest {
    /// `textDocument/foldingRange`.
    public static let method = "textDocument/foldingRange"
    /// The ranges.
    public typealias Response = [FoldingRange]
    /// The document.
    public var textDocument: TextDocumentIdentifier
}

/// A foldable region of lines.
public struct FoldingRange: Codable, Sendable, Hashable {
    /// The first line.
    public var startLine: Int
    /// The last line.
    public var endLine: Int
    /// `comment`, `imports` or `region`.
    public var kind: String?

    /// Creates it from its fields.
    public init(startLine: Int, endLine: Int, kind: String? = nil) {
        self.startLine = startLine
        self.endLine = endLine
        self.kind = kind
    }
}

/// How the editor indents.
public struct FormattingOptions: Codable, Sendable, Hashable {
    /// Width of a tab, in spaces.
    public var tabSize: Int
    /// Whether to indent with spaces.
    public var insertSpaces: Bool
    /// Whether to end the file with a newline.
    public var insertFinalNewline: Bool?
    /// Whether to remove blank lines at the end.
    public var trimFinalNewlines: Bool?

    /// Creates options.
    public init(tabSize: Int, insertSpaces: Bool, insertFinalNewline: Bool? = nil, trimFinalNewlines: Bool? = nil) {
        self.tabSize = tabSize
        self.insertSpaces = insertSpaces
        self.insertFinalNewline = insertFinalNewline
        self.trimFinalNewlines = trimFinalNewlines
    }
}

/// `textDocument/formatting`: edits that normalise the whole document.
public struct DocumentFormattingRequest: LSPRequest {
    /// `textDocument/formatting`.
    public static let method = "textDocument/formatting"
    /// The edits.
    public typealias Response = [TextEdit]
    /// The document.
    public var textDocument: TextDocumentIdentifier
    /// How to indent.
    public var options: FormattingOptions
}

/// `textDocument/semanticTokens/full`: token classes for highlighting.
public struct SemanticTokensRequest: LSPRequest {
    /// `textDocument/semanticTokens/full`.
    public static let method = "textDocument/semanticTokens/full"
    /// The tokens.
    public typealias Response = SemanticTokens
    /// The document.
    public var textDocument: TextDocumentIdentifier
}

/// Semantic tokens, five integers each, relative to the previous token.
public struct SemanticTokens: Codable, Sendable, Hashable {
    /// The encoded tokens.
    public var data: [Int]

    /// Creates it from its fields.
    public init(data: [Int]) {
        self.data = data
    }
}
