/// An instruction's logical line: its physical lines joined with the continuation characters removed and comment
/// and empty lines dropped, as Docker sees it, with a map from every logical byte back to the source.
struct LogicalLine {
    /// The joined bytes.
    private(set) var bytes: [UInt8] = []
    /// Where each physical segment starts, in the logical line and in the source, and its line.
    private var segments: [(logical: Int, source: Int, line: Int)] = []
    /// The source.
    let source: SourceText

    init(source: SourceText) {
        self.source = source
    }

    /// Empties the line, keeping its buffers for the next instruction.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        segments.removeAll(keepingCapacity: true)
    }

    /// Appends the source bytes `range`, which lie on `line`, as the next segment.
    mutating func append(_ range: Range<Int>, line: Int) {
        segments.append((bytes.count, range.lowerBound, line))
        bytes.append(contentsOf: source.bytes[range])
    }

    var count: Int { bytes.count }

    /// The source offset and line of the logical offset `offset` taken as a start.
    func sourceStart(_ offset: Int) -> (offset: Int, line: Int) {
        var index = segments.count - 1
        while index > 0 && segments[index].logical > offset { index -= 1 }
        return (segments[index].source + (offset - segments[index].logical), segments[index].line)
    }

    /// The source offset and line of the logical offset `offset` taken as an exclusive end: at a segment boundary
    /// it is the end of the earlier segment, so a range never swallows the continuation character and the next
    /// line's indent.
    func sourceEnd(_ offset: Int) -> (offset: Int, line: Int) {
        var index = segments.count - 1
        while index > 0 && segments[index].logical >= offset { index -= 1 }
        return (segments[index].source + (offset - segments[index].logical), segments[index].line)
    }

    /// The source range of a logical range.
    func range(_ range: Range<Int>) -> SourceRange {
        let start = sourceStart(range.lowerBound)
        var end = range.isEmpty ? start : sourceEnd(range.upperBound)
        if end.offset < start.offset { end = start }
        return SourceRange(start: source.position(ofOffset: start.offset, line: start.line),
                           end: source.position(ofOffset: end.offset, line: end.line),
                           startOffset: start.offset, endOffset: end.offset)
    }

    /// The text of a logical range.
    func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// A token for a logical range.
    func token(_ range: Range<Int>) -> Token {
        Token(text: text(range), range: self.range(range))
    }
}

/// ASCII byte classes used by the parser and the checks (Go's `unicode.IsSpace` restricted to ASCII).
public enum Bytes {
    /// Space, tab, newline, vertical tab, form feed or carriage return.
    public static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// BuildKit's `[\t\v\f\r ]` (no newline), which separates the keyword from its arguments.
    public static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0B || byte == 0x0C || byte == 0x0D
    }

    /// `0`–`9`.
    public static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// `A`–`Z` or `a`–`z`.
    public static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }

    /// A letter, a digit or `_` (variable names).
    public static func isNameByte(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) || byte == 0x5F }

    /// Index of the first non-space byte in `range` of `bytes`, or its upper bound.
    static func skipSpaces(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
        var index = range.lowerBound
        while index < range.upperBound && isSpace(bytes[index]) { index += 1 }
        return index
    }

    /// Upper bound of `range` with trailing spaces removed.
    static func trimTrailingSpaces(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
        var end = range.upperBound
        while end > range.lowerBound && isSpace(bytes[end - 1]) { end -= 1 }
        return end
    }
}

extension String {
    /// Whether the text equals `other` ignoring ASCII letter case (no allocation).
    public func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        var otherBytes = other.utf8.makeIterator()
        for a in utf8 {
            guard let b = otherBytes.next() else { return false }
            if a != b && !(Bytes.isLetter(a) && a | 0x20 == b | 0x20) { return false }
        }
        return true
    }

    /// Whether the text has no ASCII uppercase letter.
    public var hasNoASCIIUppercase: Bool {
        for byte in utf8 where byte >= 0x41 && byte <= 0x5A { return false }
        return true
    }

    /// Whether the text has no ASCII lowercase letter.
    public var hasNoASCIILowercase: Bool {
        for byte in utf8 where byte >= 0x61 && byte <= 0x7A { return false }
        return true
    }

    /// Whether the UTF-8 text contains `byte`.
    public func containsByte(_ byte: UInt8) -> Bool {
        for candidate in utf8 where candidate == byte { return true }
        return false
    }
}
