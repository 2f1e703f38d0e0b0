import JSONRPC

/// A position in a document: zero-based line and character, counted in the negotiated position encoding.
public struct Position: Codable, Sendable, Hashable, Comparable {
    /// Zero-based line.
    public var line: Int
    /// Zero-based character offset in the line (UTF-16 code units by default, UTF-8 bytes when negotiated).
    public var character: Int

    /// Creates a position.
    public init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }

    /// Orders by line, then character.
    public static func < (lhs: Position, rhs: Position) -> Bool {
        lhs.line != rhs.line ? lhs.line < rhs.line : lhs.character < rhs.character
    }
}

/// LSP's `Range` (named `LSPRange` because Swift's standard library owns `Range`): a half-open span of positions.
public struct LSPRange: Codable, Sendable, Hashable {
    /// The first position inside.
    public var start: Position
    /// The first position after.
    public var end: Position

    /// Creates a range.
    public init(start: Position, end: Position) {
        self.start = start
        self.end = end
    }

    /// Whether two ranges share a position (touching counts, as an editor's cursor range expects).
    public func overlaps(_ other: LSPRange) -> Bool {
        !(end < other.start || other.end < start)
    }
}

/// A range in a document.
public struct Location: Codable, Sendable, Hashable {
    /// The document.
    public var uri: String
    /// The range.
    public var range: LSPRange

    /// Creates a location.
    public init(uri: String, range: LSPRange) {
        self.uri = uri
        self.range = range
    }
}

/// Names a document.
public struct TextDocumentIdentifier: Codable, Sendable, Hashable {
    /// The document's URI.
    public var uri: String

    /// Creates an identifier.
    public init(uri: String) { self.uri = uri }
}

/// Names a document at a version.
public struct VersionedTextDocumentIdentifier: Codable, Sendable, Hashable {
    /// The document's URI.
    public var uri: String
    /// The version after the change.
    public var version: Int

    /// Creates an identifier.
    public init(uri: String, version: Int) {
        self.uri = uri
        self.version = version
    }
}

/// Names a document at a version, or at whatever version the client has (`null`).
public struct OptionalVersionedTextDocumentIdentifier: Codable, Sendable, Hashable {
    /// The document's URI.
    public var uri: String
    /// The version, or nil (sent as `null`).
    public var version: Int?

    /// Creates an identifier.
    public init(uri: String, version: Int?) {
        self.uri = uri
        self.version = version
    }

    enum CodingKeys: String, CodingKey { case uri, version }

    /// Encodes `version` as `null` when absent, as the specification requires.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(uri, forKey: .uri)
        try container.encode(version, forKey: .version)
    }
}

/// A document as opened by the client.
public struct TextDocumentItem: Codable, Sendable, Hashable {
    /// The document's URI.
    public var uri: String
    /// The language (`dockerfile`).
    public var languageId: String
    /// The version (increases with each change).
    public var version: Int
    /// The whole text.
    public var text: String

    /// Creates an item.
    public init(uri: String, languageId: String, version: Int, text: String) {
        self.uri = uri
        self.languageId = languageId
        self.version = version
        self.text = text
    }
}

/// A replacement of a range by new text.
public struct TextEdit: Codable, Sendable, Hashable {
    /// The replaced range.
    public var range: LSPRange
    /// The new text.
    public var newText: String

    /// Creates an edit.
    public init(range: LSPRange, newText: String) {
        self.range = range
        self.newText = newText
    }
}

/// Edits to one document at a version.
public struct TextDocumentEdit: Codable, Sendable, Hashable {
    /// The document and the version the edits apply to.
    public var textDocument: OptionalVersionedTextDocumentIdentifier
    /// The edits.
    public var edits: [TextEdit]

    /// Creates a document edit.
    public init(textDocument: OptionalVersionedTextDocumentIdentifier, edits: [TextEdit]) {
        self.textDocument = textDocument
        self.edits = edits
    }
}

/// Changes to documents: by URI (`changes`) or versioned (`documentChanges`), as the client supports.
public struct WorkspaceEdit: Codable, Sendable, Hashable {
    /// Edits by document URI.
    public var changes: [String: [TextEdit]]?
    /// Versioned document edits.
    public var documentChanges: [TextDocumentEdit]?

    /// Creates a workspace edit.
    public init(changes: [String: [TextEdit]]? = nil, documentChanges: [TextDocumentEdit]? = nil) {
        self.changes = changes
        self.documentChanges = documentChanges
    }
}

/// `plaintext` or `markdown`.
public enum MarkupKind: String, Codable, Sendable, Hashable {
    case plaintext, markdown
}

/// Text for people, in Markdown or plain text.
public struct MarkupContent: Codable, Sendable, Hashable {
    /// The format of `value`.
    public var kind: MarkupKind
    /// The text.
    public var value: String

    /// Creates content.
    public init(kind: MarkupKind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// A command the client can run (shown with a title, e.g. in a code lens).
public struct Command: Codable, Sendable, Hashable {
    /// What the user sees.
    public var title: String
    /// The command's identifier (`idpbuild.…`).
    public var command: String
    /// Its arguments.
    public var arguments: [JSONValue]?

    /// Creates a command.
    public init(title: String, command: String, arguments: [JSONValue]? = nil) {
        self.title = title
        self.command = command
        self.arguments = arguments
    }
}

/// How positions are counted: `utf-16` (LSP's default) or `utf-8` (when the client offers it).
public enum PositionEncodingKind: String, Codable, Sendable, Hashable {
    case utf8 = "utf-8"
    case utf16 = "utf-16"
    case utf32 = "utf-32"
}
