import DockerfileSyntax
import LSPTypes

/// Converts between the parser's byte offsets and LSP positions in the negotiated encoding.
public struct PositionConverter: Sendable {
    /// The document's text and line table.
    public let source: SourceText
    /// UTF-16 (the default) or UTF-8.
    public let encoding: PositionEncodingKind

    /// Creates a converter.
    public init(source: SourceText, encoding: PositionEncodingKind) {
        self.source = source
        self.encoding = encoding
    }

    /// The position of byte `offset`.
    public func position(ofOffset offset: Int) -> LSPTypes.Position {
        let line = source.line(containing: offset)
        if encoding == .utf8 {
            return LSPTypes.Position(line: line, character: source.utf8Column(ofOffset: offset, line: line))
        }
        let position = source.position(ofOffset: offset, line: line)
        return LSPTypes.Position(line: position.line, character: position.character)
    }

    /// The range of a parser range.
    public func range(_ range: SourceRange) -> LSPRange {
        if encoding == .utf16 {
            return LSPRange(start: LSPTypes.Position(line: range.start.line, character: range.start.character),
                            end: LSPTypes.Position(line: range.end.line, character: range.end.character))
        }
        return self.range(from: range.startOffset, to: range.endOffset)
    }

    /// The range between two byte offsets.
    public func range(from start: Int, to end: Int) -> LSPRange {
        LSPRange(start: position(ofOffset: start), end: position(ofOffset: end))
    }

    /// The byte offset of a position (clamped to its line; lines past the end give the end of the document).
    public func offset(of position: LSPTypes.Position) -> Int {
        let parserPosition = DockerfileSyntax.Position(line: position.line, character: position.character)
        return encoding == .utf8 ? source.offset(ofUTF8: parserPosition) : source.offset(of: parserPosition)
    }
}
