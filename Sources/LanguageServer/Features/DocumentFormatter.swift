import DockerfileSyntax
import LSPTypes

/// Whole-document formatting that changes only whitespace and keyword case, never meaning:
///
/// - instruction keywords (and ONBUILD triggers) take the file's majority case, upper case on a tie;
/// - one space between the keyword and what follows; no leading or trailing blanks on instruction lines;
/// - continuation lines are indented by one unit (the editor's tab size, spaces or a tab) *relative to their
///   least indented line*, so deliberate nesting inside a long RUN survives;
/// - lines that continue inside an open quote, heredoc bodies and directives are left exactly as they are;
/// - comment lines lose their surrounding blanks (inside continuations they are indented like their neighbours).
enum DocumentFormatter {
    static func edits(_ snapshot: DocumentSnapshot, _ options: FormattingOptions, _ context: RequestContext) -> [LSPTypes.TextEdit] {
        let dockerfile = snapshot.analysis.dockerfile
        let source = dockerfile.source
        let converter = PositionConverter(source: source, encoding: context.encoding)
        let tabSize = max(1, options.tabSize)
        let instructions = dockerfile.instructions
        let lower = instructions.filter { $0.kind != nil && $0.keyword.text.hasNoASCIIUppercase }.count
        let upper = instructions.filter { $0.kind != nil && $0.keyword.text.hasNoASCIILowercase }.count
        let lowercase = lower > upper
        var newLines: [Int: [UInt8]] = [:]

        for element in dockerfile.elements {
            switch element {
            case .comment(let comment):
                let line = comment.range.start.line
                newLines[line] = trimmed(content(source, line))
            case .blank(let range):
                for line in range.start.line...max(range.start.line, range.end.line) where line < source.lineCount {
                    if source.contentEnd(ofLine: line) > source.contentStart(ofLine: line) && content(source, line).allSatisfy(Bytes.isSpace) {
                        newLines[line] = []
                    }
                }
            case .directive:
                break
            case .instruction(let index, _):
                format(instructions[index], dockerfile, lowercase: lowercase, tabSize: tabSize,
                       insertSpaces: options.insertSpaces, into: &newLines)
            }
        }

        var edits: [LSPTypes.TextEdit] = []
        let tail = tailEdit(source, options, converter)
        if let tail {
            // The tail edit owns the blank lines after the last content line.
            newLines = newLines.filter { $0.key <= tail.lastContentLine }
        }
        for line in newLines.keys.sorted() {
            guard let replacement = newLines[line] else { continue }
            let start = source.contentStart(ofLine: line)
            let end = source.contentEnd(ofLine: line)
            if Array(source.bytes[start..<end]) != replacement {
                edits.append(LSPTypes.TextEdit(range: converter.range(from: start, to: end),
                                               newText: String(decoding: replacement, as: UTF8.self)))
            }
        }
        if let tail { edits.append(tail.edit) }
        return edits
    }

    private static func content(_ source: SourceText, _ line: Int) -> [UInt8] {
        Array(source.bytes[source.contentStart(ofLine: line)..<source.contentEnd(ofLine: line)])
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.drop(while: Bytes.isSpace).reversed().drop(while: Bytes.isSpace).reversed())
    }

    private static func cased(_ keyword: String, _ lowercase: Bool) -> [UInt8] {
        Array((lowercase ? keyword.lowercased() : keyword.uppercased()).utf8)
    }

    private static func format(_ instruction: Instruction, _ dockerfile: Dockerfile, lowercase: Bool, tabSize: Int,
                               insertSpaces: Bool, into newLines: inout [Int: [UInt8]]) {
        let source = dockerfile.source
        let escape = dockerfile.escape
        let first = instruction.lines.lowerBound
        let lineStart = source.contentStart(ofLine: first)

        // The first line: keyword case and spacing.
        var line = content(source, first)
        var keywords = [instruction]
        if let trigger = instruction.trigger.first, trigger.keyword.range.start.line == first { keywords.append(trigger) }
        var rebuilt: [UInt8] = []
        var cursor = 0
        for keyword in keywords {
            let start = keyword.keyword.range.startOffset - lineStart
            let end = keyword.keyword.range.endOffset - lineStart
            guard start >= cursor, end <= line.count else { break }
            if cursor > 0 { rebuilt.append(0x20) }  // one space between ONBUILD and its trigger
            rebuilt += keyword.kind == nil ? Array(line[start..<end]) : cased(keyword.keyword.text, lowercase)
            cursor = end
            while cursor < line.count && (line[cursor] == 0x20 || line[cursor] == 0x09) { cursor += 1 }
        }
        let rest = Array(line[cursor...])
        if !rest.isEmpty { rebuilt += [0x20] + rest }
        line = trimmedTrailing(rebuilt)
        newLines[first] = line

        // Continuation lines.
        let continuation = Array(instruction.lines.dropFirst())
        guard !continuation.isEmpty else { return }
        var quote = QuoteState(escape: escape)
        quote.scan(content(source, first))
        var movable: [(line: Int, width: Int, body: [UInt8])] = []
        for number in continuation {
            let bytes = content(source, number)
            if quote.isOpen {
                // The line continues a quoted string: its leading blanks are part of the value.
                quote.scan(bytes)
                continue
            }
            let body = trimmed(bytes)
            if body.isEmpty {
                newLines[number] = []
                continue
            }
            let indent = bytes.prefix { $0 == 0x20 || $0 == 0x09 }
            movable.append((number, width(indent, tabSize: tabSize), body))
            if body.first != UInt8(ascii: "#") { quote.scan(bytes) }
        }
        guard let minimum = movable.map(\.width).min() else { return }
        for entry in movable {
            let target = tabSize + entry.width - minimum
            newLines[entry.line] = render(target, tabSize: tabSize, insertSpaces: insertSpaces) + entry.body
        }
    }

    private static func trimmedTrailing(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.reversed().drop(while: Bytes.isSpace).reversed())
    }

    /// The display width of leading blanks, tabs advancing to the next tab stop.
    private static func width(_ indent: ArraySlice<UInt8>, tabSize: Int) -> Int {
        indent.reduce(0) { $1 == 0x09 ? ($0 / tabSize + 1) * tabSize : $0 + 1 }
    }

    private static func render(_ width: Int, tabSize: Int, insertSpaces: Bool) -> [UInt8] {
        if insertSpaces { return [UInt8](repeating: 0x20, count: width) }
        return [UInt8](repeating: 0x09, count: width / tabSize) + [UInt8](repeating: 0x20, count: width % tabSize)
    }

    /// `insertFinalNewline` and `trimFinalNewlines`.
    private static func tailEdit(_ source: SourceText, _ options: FormattingOptions, _ converter: PositionConverter) -> (edit: LSPTypes.TextEdit, lastContentLine: Int)? {
        let bytes = source.bytes
        guard !bytes.isEmpty else { return nil }
        var contentEnd = bytes.count
        while contentEnd > 0 && Bytes.isSpace(bytes[contentEnd - 1]) { contentEnd -= 1 }
        guard contentEnd > 0 else { return nil }
        // Only the blank-line tail is touched; trailing blanks on the last line were handled above.
        let lastContentLine = source.line(containing: contentEnd - 1)
        let lastLineEnd = source.contentEnd(ofLine: lastContentLine)
        let crlf = bytes.contains(0x0D)
        let newline: [UInt8] = crlf ? [0x0D, 0x0A] : [0x0A]
        var wanted = Array(bytes[lastLineEnd...])
        if options.trimFinalNewlines == true {
            wanted = wanted.starts(with: newline) ? newline : (wanted.first == 0x0A ? [0x0A] : [])
        }
        if options.insertFinalNewline == true && !wanted.contains(0x0A) { wanted = newline }
        guard wanted != Array(bytes[lastLineEnd...]) else { return nil }
        return (LSPTypes.TextEdit(range: converter.range(from: lastLineEnd, to: bytes.count), newText: String(decoding: wanted, as: UTF8.self)),
                lastContentLine)
    }
}

/// Tracks whether a shell or JSON text is inside a quoted string, line by line.
struct QuoteState {
    let escape: UInt8
    private var quote: UInt8?

    init(escape: UInt8) { self.escape = escape }

    var isOpen: Bool { quote != nil }

    mutating func scan(_ bytes: [UInt8]) {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quote == UInt8(ascii: "'") {
                if byte == UInt8(ascii: "'") { quote = nil }
                continue
            }
            if byte == escape {
                index += 1
                continue
            }
            if quote == UInt8(ascii: "\"") {
                if byte == UInt8(ascii: "\"") { quote = nil }
                continue
            }
            if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") { quote = byte }
        }
    }
}
