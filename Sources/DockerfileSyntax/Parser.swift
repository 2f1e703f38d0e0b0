/// A parsed Dockerfile: directives, comments, instructions with ranges, and the problems found while parsing.
///
/// Parsing never fails: any bytes give a tree and a list of problems. The line structure follows BuildKit's
/// parser (directives only at the top, the escape character for continuations, comment and empty lines dropped
/// inside continuations, heredoc bodies after the instruction's last line).
public struct Dockerfile: Sendable {
    /// The source text and its line table.
    public let source: SourceText
    /// The escape and continuation character: `\` unless the `escape` directive says `` ` ``.
    public let escape: UInt8
    /// Parser directives from the top of the file.
    public let directives: [Directive]
    /// Every line-oriented element in order: directives, comments, blank lines, instructions.
    public let elements: [Element]
    /// The instructions in order.
    public let instructions: [Instruction]
    /// Problems found while reading lines, directives, continuations, heredocs and JSON.
    public let problems: [SyntaxProblem]

    /// Parses a Dockerfile given as text.
    public init(parsing text: String) {
        self.init(bytes: Array(text.utf8))
    }

    /// Parses a Dockerfile given as bytes (any bytes: invalid UTF-8 is decoded with replacement characters).
    public init(bytes: [UInt8]) {
        var parser = LineParser(source: SourceText(bytes: bytes))
        parser.parse()
        source = parser.source
        escape = parser.escape
        directives = parser.directives
        elements = parser.elements
        instructions = parser.instructions
        problems = parser.problems
    }

    /// The directive named `name` (`syntax`, `escape`, `check`), if present.
    public func directive(_ name: String) -> Directive? {
        directives.first { $0.name == name }
    }

    /// The escape character as a string, for messages and for re-creating continuations.
    public var escapeCharacter: Character { Character(UnicodeScalar(escape)) }
}

/// BuildKit's limit on a physical line.
let maximumLineLength = 65_535

/// The parser directives BuildKit knows.
let knownDirectives: Set<String> = ["syntax", "escape", "check"]

struct LineParser {
    let source: SourceText
    var escape = UInt8(ascii: "\\")
    var directives: [Directive] = []
    var elements: [Element] = []
    var instructions: [Instruction] = []
    var problems: [SyntaxProblem] = []
    private var directivesDone = false
    private var pendingComments: [Comment] = []
    private let lineCount: Int
    /// Reused for every instruction so its buffers are allocated once.
    private var logical: LogicalLine

    init(source: SourceText) {
        self.source = source
        // A final newline does not start another line for the parser (it does for an editor's cursor).
        var count = source.lineCount
        if count > 1 && source.lineStarts[count - 1] == source.bytes.count { count -= 1 }
        if source.bytes.isEmpty { count = 0 }
        lineCount = count
        logical = LogicalLine(source: source)
    }

    private var bytes: [UInt8] { source.bytes }

    mutating func parse() {
        var line = 0
        while line < lineCount {
            line = parseLine(line)
        }
        if instructions.isEmpty {
            let range = lineCount == 0 ? source.range(from: 0, to: 0) : source.range(ofLine: lineCount - 1)
            let message = source.bytes.isEmpty
                ? "the Dockerfile is empty: add a FROM instruction"
                : "file with no instructions: add a FROM instruction"
            problems.append(SyntaxProblem(code: "NoInstructions", severity: .error, message: message, range: range))
        }
    }

    private mutating func checkLength(_ line: Int) {
        let length = source.contentEnd(ofLine: line) - source.lineStarts[line]
        if length > maximumLineLength {
            let start = source.contentStart(ofLine: line)
            problems.append(SyntaxProblem(
                code: "LineTooLong", severity: .error,
                message: "line \(line + 1) is \(length) bytes long; Docker accepts at most \(maximumLineLength) bytes per line",
                range: source.range(from: start, to: min(start + 1, source.contentEnd(ofLine: line)))))
        }
    }

    private mutating func parseLine(_ line: Int) -> Int {
        checkLength(line)
        let start = source.contentStart(ofLine: line)
        let end = source.contentEnd(ofLine: line)
        if !directivesDone {
            if let parts = directiveParts(start..<end) {
                addDirective(parts, line: line)
                return line + 1
            }
            directivesDone = true
        }
        let first = Bytes.skipSpaces(bytes, start..<end)
        if first == end {
            elements.append(.blank(source.range(from: start, to: end)))
            pendingComments.removeAll()
            return line + 1
        }
        if bytes[first] == UInt8(ascii: "#") {
            let comment = makeComment(first..<end)
            if let parts = directiveParts(start..<end) {
                let name = String(decoding: bytes[parts.name], as: UTF8.self).lowercased()
                problems.append(SyntaxProblem(
                    code: "MisplacedDirective", severity: .warning,
                    message: "the '\(name)' parser directive is ignored here and read as a comment: directives must come before any instruction, comment or blank line",
                    range: comment.range))
            }
            elements.append(.comment(comment))
            pendingComments.append(comment)
            return line + 1
        }
        return parseInstruction(startLine: line, first: first)
    }

    private func makeComment(_ range: Range<Int>) -> Comment {
        var textStart = range.lowerBound + 1
        textStart = Bytes.skipSpaces(bytes, textStart..<range.upperBound)
        let textEnd = Bytes.trimTrailingSpaces(bytes, textStart..<range.upperBound)
        return Comment(text: String(decoding: bytes[textStart..<textEnd], as: UTF8.self),
                       range: source.range(from: range.lowerBound, to: range.upperBound))
    }

    /// The name and value of a `# name=value` line (BuildKit's directive regex), whatever the name.
    private func directiveParts(_ range: Range<Int>) -> (name: Range<Int>, value: Range<Int>, line: Range<Int>)? {
        var index = Bytes.skipSpaces(bytes, range)
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "#") else { return nil }
        let lineStart = index
        index = Bytes.skipSpaces(bytes, index + 1..<range.upperBound)
        let nameStart = index
        guard index < range.upperBound, Bytes.isLetter(bytes[index]) else { return nil }
        while index < range.upperBound && (Bytes.isLetter(bytes[index]) || Bytes.isDigit(bytes[index])) { index += 1 }
        let nameEnd = index
        index = Bytes.skipSpaces(bytes, index..<range.upperBound)
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "=") else { return nil }
        let valueStart = Bytes.skipSpaces(bytes, index + 1..<range.upperBound)
        let valueEnd = Bytes.trimTrailingSpaces(bytes, valueStart..<range.upperBound)
        guard valueEnd > valueStart else { return nil }
        let name = String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self).lowercased()
        guard knownDirectives.contains(name) else { return nil }
        return (nameStart..<nameEnd, valueStart..<valueEnd, lineStart..<range.upperBound)
    }

    private mutating func addDirective(_ parts: (name: Range<Int>, value: Range<Int>, line: Range<Int>), line: Int) {
        let nameToken = Token(text: String(decoding: bytes[parts.name], as: UTF8.self),
                              range: source.range(from: parts.name.lowerBound, to: parts.name.upperBound))
        let value = Token(text: String(decoding: bytes[parts.value], as: UTF8.self),
                          range: source.range(from: parts.value.lowerBound, to: parts.value.upperBound))
        let directive = Directive(name: nameToken.text.lowercased(), nameToken: nameToken, value: value,
                                  range: source.range(from: parts.line.lowerBound, to: parts.line.upperBound))
        elements.append(.directive(directive))
        if directives.contains(where: { $0.name == directive.name }) {
            problems.append(SyntaxProblem(
                code: "DuplicateDirective", severity: .error,
                message: "only one \(directive.name) parser directive can be used; remove this one",
                range: directive.range,
                fix: Fix(title: "Remove the repeated directive",
                         edits: [TextEdit(range: source.range(from: source.lineStarts[line], to: source.fullEnd(ofLine: line)),
                                          newText: "")])))
            return
        }
        directives.append(directive)
        if directive.name == "escape" {
            if value.text == "\\" || value.text == "`" {
                escape = UInt8(ascii: value.text == "`" ? "`" : "\\")
            } else {
                problems.append(SyntaxProblem(
                    code: "InvalidEscapeDirective", severity: .error,
                    message: "invalid escape token '\(value.text)' does not match ` or \\",
                    range: value.range,
                    fix: Fix(title: "Use \\ as the escape character", edits: [TextEdit(range: value.range, newText: "\\")])))
            }
        }
    }

    /// Removes a trailing continuation character: returns the new end and whether the logical line ends here.
    /// An escaped escape character at the end (`\\`) is not a continuation (BuildKit's rule).
    private func trimContinuation(_ range: Range<Int>) -> (Int, Bool) {
        var end = range.upperBound
        while end > range.lowerBound && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        guard end > range.lowerBound, bytes[end - 1] == escape else { return (range.upperBound, true) }
        if end - 1 > range.lowerBound && bytes[end - 2] == escape { return (range.upperBound, true) }
        return (end - 1, false)
    }

    private mutating func parseInstruction(startLine: Int, first: Int) -> Int {
        logical.reset()
        var line = startLine
        var (segmentEnd, isEnd) = trimContinuation(first..<source.contentEnd(ofLine: line))
        logical.append(first..<segmentEnd, line: line)
        var emptyLines: [Int] = []
        var innerComments: [Comment] = []
        while !isEnd && line + 1 < lineCount {
            line += 1
            checkLength(line)
            let start = source.lineStarts[line]
            let end = source.contentEnd(ofLine: line)
            let firstNonSpace = Bytes.skipSpaces(bytes, start..<end)
            if firstNonSpace == end {
                emptyLines.append(line)
                continue
            }
            if bytes[firstNonSpace] == UInt8(ascii: "#") {
                innerComments.append(makeComment(firstNonSpace..<end))
                continue
            }
            (segmentEnd, isEnd) = trimContinuation(start..<end)
            logical.append(start..<segmentEnd, line: line)
        }
        let lastLine = line
        let keywordStart = Bytes.skipSpaces(logical.bytes, 0..<logical.count)
        if keywordStart == logical.count {
            // Only continuation characters: nothing for Docker to run; keep the lines as blank.
            for blank in startLine...lastLine {
                elements.append(.blank(source.range(from: source.lineStarts[blank], to: source.contentEnd(ofLine: blank))))
            }
            problems.append(SyntaxProblem(
                code: "NoEmptyContinuation", severity: .warning,
                message: "a line continuation with no instruction; remove the lone '\(Character(UnicodeScalar(escape)))'",
                range: source.range(ofLine: startLine)))
            return lastLine + 1
        }
        var builder = InstructionBuilder(logical: logical, escape: escape)
        var (value, heredocCandidate) = builder.build(from: keywordStart, to: logical.count)
        problems += builder.problems

        var end = source.contentEnd(ofLine: lastLine)
        if heredocCandidate {
            var heredocs: [Heredoc] = []
            for marker in builder.heredocMarkers(in: 0..<logical.count) {
                let (heredoc, nextLine) = readHeredocBody(marker, after: line)
                line = nextLine
                heredocs.append(heredoc)
                if let terminator = heredoc.terminatorRange {
                    end = terminator.endOffset
                } else {
                    end = source.contentEnd(ofLine: max(line, lastLine))
                    problems.append(SyntaxProblem(
                        code: "UnterminatedHeredoc", severity: .error,
                        message: "unterminated heredoc: no line '\(heredoc.name)' ends the heredoc started here, so it runs to the end of the file",
                        range: heredoc.marker))
                    break
                }
            }
            value.heredocs = heredocs
            if !value.trigger.isEmpty { value.trigger[0].heredocs = heredocs }
        }
        value.range = SourceRange(start: value.keyword.range.start, end: source.position(ofOffset: end, line: max(line, lastLine)),
                                  startOffset: value.keyword.range.startOffset, endOffset: end)
        value.lines = startLine...lastLine
        value.emptyContinuationLines = emptyLines
        value.innerComments = innerComments
        value.leadingComments = pendingComments
        pendingComments.removeAll()
        if !emptyLines.isEmpty {
            problems.append(SyntaxProblem(
                code: "NoEmptyContinuation", severity: .warning,
                message: "empty continuation line\(emptyLines.count > 1 ? "s" : "") in \(value.name): Docker will reject them in a future release",
                range: source.range(ofLine: emptyLines[0]),
                fix: Fix(title: "Remove the empty continuation line\(emptyLines.count > 1 ? "s" : "")",
                         edits: emptyLines.map {
                             TextEdit(range: source.range(from: source.lineStarts[$0], to: source.fullEnd(ofLine: $0)), newText: "")
                         })))
        }
        elements.append(.instruction(index: instructions.count, range: value.range))
        instructions.append(value)
        return line + 1
    }

    /// Reads the body of `marker` from the lines after `line`; returns the heredoc and the last line consumed.
    private func readHeredocBody(_ marker: HeredocMarker, after line: Int) -> (Heredoc, Int) {
        var current = line
        let name = Array(marker.name.utf8)
        let bodyStart = line + 1 < lineCount ? source.lineStarts[line + 1] : source.bytes.count
        while current + 1 < lineCount {
            current += 1
            let start = source.lineStarts[current]
            let end = source.contentEnd(ofLine: current)
            var candidate = start
            if marker.chomp { while candidate < end && bytes[candidate] == 0x09 { candidate += 1 } }
            if end - candidate == name.count && bytes[candidate..<end].elementsEqual(name) {
                let bodyEnd = start
                let heredoc = Heredoc(
                    name: marker.name, expand: marker.expand, chomp: marker.chomp, fileDescriptor: marker.fileDescriptor,
                    marker: marker.range,
                    content: String(decoding: bytes[bodyStart..<bodyEnd], as: UTF8.self),
                    bodyRange: source.range(from: bodyStart, to: max(bodyStart, bodyEnd)),
                    terminatorRange: source.range(from: start, to: end))
                return (heredoc, current)
            }
        }
        let heredoc = Heredoc(
            name: marker.name, expand: marker.expand, chomp: marker.chomp, fileDescriptor: marker.fileDescriptor,
            marker: marker.range, content: String(decoding: bytes[bodyStart..<source.bytes.count], as: UTF8.self),
            bodyRange: source.range(from: bodyStart, to: source.bytes.count), terminatorRange: nil)
        return (heredoc, current)
    }
}
