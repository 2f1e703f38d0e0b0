/// A position in LSP terms: zero-based line and zero-based UTF-16 code unit offset within that line.
public struct Position: Sendable, Hashable, Comparable, Codable {
    /// Zero-based line number.
    public var line: Int
    /// Zero-based UTF-16 code unit offset in the line (LSP's default position encoding).
    public var character: Int

    /// Creates a position from a zero-based line and UTF-16 character offset.
    public init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }

    public static func < (lhs: Position, rhs: Position) -> Bool {
        lhs.line != rhs.line ? lhs.line < rhs.line : lhs.character < rhs.character
    }
}

/// A half-open range of source text, both as LSP positions and as UTF-8 byte offsets into the file.
public struct SourceRange: Sendable, Hashable, Codable {
    /// Start position (inclusive).
    public var start: Position
    /// End position (exclusive).
    public var end: Position
    /// Byte offset of the start in the source.
    public var startOffset: Int
    /// Byte offset of the end in the source (exclusive).
    public var endOffset: Int

    /// Creates a range from its positions and byte offsets.
    public init(start: Position, end: Position, startOffset: Int, endOffset: Int) {
        self.start = start
        self.end = end
        self.startOffset = startOffset
        self.endOffset = endOffset
    }

    /// The byte offsets as a Swift range.
    public var bytes: Range<Int> { startOffset..<endOffset }

    /// Whether `position` lies within the range (the end counts as inside, as editors expect for a cursor).
    public func contains(_ position: Position) -> Bool {
        start <= position && position <= end
    }
}

/// The bytes of a Dockerfile with a line table, converting between byte offsets and LSP positions.
///
/// Lines end at `\n`; a `\r` before it belongs to the line terminator. Positions are computed on demand from
/// byte offsets, scanning only the line concerned, so building one is a single pass over the bytes.
public struct SourceText: Sendable {
    /// The file's bytes, exactly as read (a UTF-8 BOM included).
    public let bytes: [UInt8]
    /// Byte offset of the first byte of every line; `lineStarts[0] == 0`.
    public let lineStarts: [Int]
    /// Whether the file starts with a UTF-8 byte order mark, which positions on line 0 skip.
    public let hasBOM: Bool
    /// Whether every byte is ASCII, so a column is its byte distance from the line start.
    private let isASCII: Bool

    /// Indexes `bytes` into lines.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        var ascii = true
        bytes.withUnsafeBufferPointer { buffer in
            var orBits: UInt8 = 0
            for index in 0..<buffer.count {
                let byte = buffer[index]
                orBits |= byte
                if byte == 0x0A { starts.append(index + 1) }
            }
            ascii = orBits < 0x80
        }
        lineStarts = starts
        isASCII = ascii
        hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    }

    /// Indexes a string's UTF-8 bytes.
    public init(_ text: String) {
        self.init(bytes: Array(text.utf8))
    }

    /// Number of lines (a final line without a terminator counts; an empty file has one empty line).
    public var lineCount: Int { lineStarts.count }

    /// Byte offset where `line`'s content starts (after the BOM on line 0).
    public func contentStart(ofLine line: Int) -> Int {
        line == 0 && hasBOM ? 3 : lineStarts[line]
    }

    /// Byte offset where `line`'s content ends, before its `\r\n` or `\n` terminator.
    public func contentEnd(ofLine line: Int) -> Int {
        let start = contentStart(ofLine: line)
        var end = line + 1 < lineStarts.count ? lineStarts[line + 1] - 1 : bytes.count
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        return max(end, start)
    }

    /// Byte offset just past `line`'s terminator (the next line's start, or the end of the file).
    public func fullEnd(ofLine line: Int) -> Int {
        line + 1 < lineStarts.count ? lineStarts[line + 1] : bytes.count
    }

    /// The line holding byte `offset` (binary search over the line table).
    public func line(containing offset: Int) -> Int {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return low
    }

    /// The LSP position (UTF-16 character) of byte `offset`, given the line it is on.
    public func position(ofOffset offset: Int, line: Int) -> Position {
        let start = contentStart(ofLine: line)
        if offset <= start { return Position(line: line, character: 0) }
        if isASCII { return Position(line: line, character: offset - start) }
        return Position(line: line, character: utf16Length(from: start, to: offset))
    }

    /// The LSP position (UTF-16 character) of byte `offset`.
    public func position(ofOffset offset: Int) -> Position {
        position(ofOffset: offset, line: line(containing: offset))
    }

    /// A range between two byte offsets.
    public func range(from startOffset: Int, to endOffset: Int) -> SourceRange {
        let startLine = line(containing: startOffset)
        var endLine = startLine
        while endLine + 1 < lineStarts.count && lineStarts[endLine + 1] <= endOffset { endLine += 1 }
        return SourceRange(start: position(ofOffset: startOffset, line: startLine),
                           end: position(ofOffset: endOffset, line: endLine),
                           startOffset: startOffset, endOffset: endOffset)
    }

    /// The range covering `line`'s content (without its terminator).
    public func range(ofLine line: Int) -> SourceRange {
        range(from: contentStart(ofLine: line), to: contentEnd(ofLine: line))
    }

    /// The byte offset of an LSP position (UTF-16 character), clamped to the line's content.
    public func offset(of position: Position) -> Int {
        guard position.line < lineStarts.count else { return bytes.count }
        guard position.line >= 0 else { return 0 }
        let start = contentStart(ofLine: position.line)
        let end = contentEnd(ofLine: position.line)
        if isASCII { return min(start + max(position.character, 0), end) }
        var units = 0
        var index = start
        while index < end && units < position.character {
            let (width, utf16) = SourceText.scalarWidth(bytes, at: index, end: end)
            units += utf16
            index += width
        }
        return index
    }

    /// The byte offset of a position whose character counts UTF-8 bytes (LSP's `utf-8` position encoding).
    public func offset(ofUTF8 position: Position) -> Int {
        guard position.line < lineStarts.count else { return bytes.count }
        guard position.line >= 0 else { return 0 }
        return min(contentStart(ofLine: position.line) + max(position.character, 0), contentEnd(ofLine: position.line))
    }

    /// The UTF-8 column of a byte offset on `line` (for LSP's `utf-8` position encoding and GNU-style output).
    public func utf8Column(ofOffset offset: Int, line: Int) -> Int {
        max(0, offset - contentStart(ofLine: line))
    }

    /// The text between two byte offsets, decoded as UTF-8 (invalid sequences become U+FFFD).
    public func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// The text of `line` without its terminator.
    public func text(ofLine line: Int) -> String {
        text(contentStart(ofLine: line)..<contentEnd(ofLine: line))
    }

    private func utf16Length(from start: Int, to end: Int) -> Int {
        var units = 0
        var index = start
        while index < end {
            let (width, utf16) = SourceText.scalarWidth(bytes, at: index, end: end)
            units += utf16
            index += width
        }
        return units
    }

    /// Width in bytes of the UTF-8 sequence at `index`, and its length in UTF-16 units; an invalid byte counts as
    /// one byte and one unit (it decodes to U+FFFD, as the editor would show it).
    static func scalarWidth(_ bytes: [UInt8], at index: Int, end: Int) -> (Int, Int) {
        let lead = bytes[index]
        if lead < 0x80 { return (1, 1) }
        let (width, units): (Int, Int)
        switch lead {
        case 0xC2...0xDF: (width, units) = (2, 1)
        case 0xE0...0xEF: (width, units) = (3, 1)
        case 0xF0...0xF4: (width, units) = (4, 2)
        default: return (1, 1)
        }
        guard index + width <= end else { return (1, 1) }
        for next in 1..<width where bytes[index + next] & 0xC0 != 0x80 { return (1, 1) }
        return (width, units)
    }
}
