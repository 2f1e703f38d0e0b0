/// A `<<WORD` found on an instruction line.
struct HeredocMarker {
    var name: String
    var expand: Bool
    var chomp: Bool
    var fileDescriptor: Int?
    var range: SourceRange
}

/// Splits a logical line into keyword, flags and arguments, following BuildKit's per-instruction grammar.
struct InstructionBuilder {
    let logical: LogicalLine
    let escape: UInt8
    var problems: [SyntaxProblem] = []

    init(logical: LogicalLine, escape: UInt8) {
        self.logical = logical
        self.escape = escape
    }

    private var bytes: [UInt8] { logical.bytes }

    /// The instruction of a logical line, before the line parser adds heredoc bodies and line data, and whether
    /// the line may introduce heredocs (RUN, COPY, ADD or ONBUILD of one, not JSON, containing `<<`).
    mutating func build(from start: Int, to end: Int) -> (value: Instruction, heredocCandidate: Bool) {
        let trimmedEnd = Bytes.trimTrailingSpaces(bytes, start..<end)
        var keywordEnd = start
        while keywordEnd < trimmedEnd && !Bytes.isBlank(bytes[keywordEnd]) { keywordEnd += 1 }
        let keyword = logical.token(start..<keywordEnd)
        let kind = InstructionKind(keyword: keyword.text)
        var restStart = keywordEnd
        while restStart < trimmedEnd && Bytes.isBlank(bytes[restStart]) { restStart += 1 }
        let (flags, afterFlags) = extractFlags(restStart..<trimmedEnd)
        let argumentsStart = Bytes.skipSpaces(bytes, afterFlags..<trimmedEnd)
        let rest = argumentsStart..<trimmedEnd
        var instruction = Instruction(
            keyword: keyword, kind: kind, flags: flags, arguments: [],
            argumentText: rest.isEmpty ? nil : logical.token(rest), form: rest.isEmpty ? .none : .shell,
            heredocs: [], trigger: [], range: logical.range(start..<trimmedEnd), lines: 0...0,
            emptyContinuationLines: [], innerComments: [], leadingComments: [],
            logicalText: logical.text(start..<trimmedEnd))
        var heredocKind = kind
        switch kind {
        case .add, .copy, .volume:
            readJSONOrList(rest, into: &instruction)
        case .cmd, .entrypoint, .run, .shell:
            readJSONOrText(rest, into: &instruction)
        case .arg, .env, .label:
            instruction.arguments = words(rest)
        case .expose, .from:
            instruction.arguments = whitespaceSeparated(rest)
        case .healthcheck:
            var typeEnd = rest.lowerBound
            while typeEnd < rest.upperBound && !Bytes.isSpace(bytes[typeEnd]) { typeEnd += 1 }
            if typeEnd > rest.lowerBound {
                let type = Argument(value: logical.text(rest.lowerBound..<typeEnd), range: logical.range(rest.lowerBound..<typeEnd))
                let commandStart = Bytes.skipSpaces(bytes, typeEnd..<rest.upperBound)
                readJSONOrText(commandStart..<rest.upperBound, into: &instruction)
                instruction.arguments.insert(type, at: 0)
            }
        case .maintainer, .stopsignal, .user, .workdir:
            if !rest.isEmpty { instruction.arguments = [Argument(value: logical.text(rest), range: logical.range(rest))] }
        case .onbuild:
            if !rest.isEmpty {
                let trigger = build(from: rest.lowerBound, to: rest.upperBound)
                instruction.trigger = [trigger.value]
                instruction.form = trigger.value.form
                heredocKind = trigger.value.kind
            }
        case nil:
            instruction.form = rest.isEmpty ? .none : .shell
        }
        let candidate = (heredocKind?.allowsHeredocs ?? false) && instruction.form != .exec
            && bytes[start..<trimmedEnd].contains(UInt8(ascii: "<"))
            && heredocMarkers(in: start..<trimmedEnd).isEmpty == false
        return (instruction, candidate)
    }

    // MARK: Flags

    /// BuildKit's `extractBuilderFlags`: `--name[=value]` words right after the keyword, quotes and escapes
    /// allowed in them; the first word not starting with `--` (or a bare `--`) ends them.
    private func extractFlags(_ range: Range<Int>) -> ([Flag], Int) {
        var flags: [Flag] = []
        var index = range.lowerBound
        let end = range.upperBound
        while true {
            while index < end && Bytes.isSpace(bytes[index]) { index += 1 }
            guard index + 1 < end, bytes[index] == UInt8(ascii: "-"), bytes[index + 1] == UInt8(ascii: "-") else {
                return (flags, index)
            }
            let wordStart = index
            var processed: [UInt8] = []
            var quote: UInt8 = 0
            var equalsRaw: Int?
            var equalsProcessed: Int?
            while index < end {
                let byte = bytes[index]
                if quote == 0 {
                    if Bytes.isSpace(byte) { break }
                    if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                        quote = byte
                        index += 1
                        continue
                    }
                    if byte == UInt8(ascii: "=") && equalsRaw == nil {
                        equalsRaw = index
                        equalsProcessed = processed.count
                    }
                } else if byte == quote {
                    quote = 0
                    index += 1
                    continue
                }
                if byte == escape {
                    index += 1
                    if index >= end { break }
                    processed.append(bytes[index])
                    index += 1
                    continue
                }
                processed.append(byte)
                index += 1
            }
            let wordEnd = index
            if processed == [UInt8(ascii: "-"), UInt8(ascii: "-")] { return (flags, wordEnd) }
            let nameEnd = equalsProcessed ?? processed.count
            let name = String(decoding: processed[min(2, nameEnd)..<nameEnd], as: UTF8.self)
            var value: String?
            var rawValue: Token?
            if let equalsProcessed, let equalsRaw {
                value = String(decoding: processed[(equalsProcessed + 1)...], as: UTF8.self)
                rawValue = logical.token(equalsRaw + 1..<wordEnd)
            }
            flags.append(Flag(name: name, nameRange: logical.range(wordStart..<(equalsRaw ?? wordEnd)),
                              value: value, rawValue: rawValue, range: logical.range(wordStart..<wordEnd)))
        }
    }

    // MARK: Argument forms

    private mutating func readJSON(_ range: Range<Int>, into instruction: inout Instruction) -> Bool {
        switch JSONArrayReader.read(bytes, range) {
        case .strings(let elements):
            instruction.form = .exec
            instruction.arguments = elements.map { Argument(value: $0.value, range: logical.range($0.range)) }
            return true
        case .notStrings(let element):
            instruction.form = .exec
            problems.append(SyntaxProblem(
                code: "JSONArrayNotStrings", severity: .error,
                message: "when using JSON array syntax, arrays must be comprised of strings only; quote this element",
                range: logical.range(element)))
            return true
        case .invalid(let reason, let offset):
            if let problem = singleQuotedJSON(range, kind: instruction.kind) {
                problems.append(problem)
                return false
            }
            let position = min(offset, range.upperBound)
            let what = instruction.kind == .shell ? "SHELL requires a JSON array" : "Docker reads this as shell form, not as a JSON (exec form) array"
            problems.append(SyntaxProblem(
                code: "InvalidJSONArray", severity: .warning,
                message: "invalid JSON array (\(reason)): \(what)",
                range: logical.range(position..<max(position, min(position + 1, range.upperBound)))))
            return false
        case .notArray:
            return false
        }
    }

    /// `['a', 'b']`: JSON written with single quotes, which Docker runs as a shell command.
    private func singleQuotedJSON(_ range: Range<Int>, kind: InstructionKind?) -> SyntaxProblem? {
        let start = Bytes.skipSpaces(bytes, range)
        let inner = Bytes.skipSpaces(bytes, (start + 1)..<range.upperBound)
        guard inner < range.upperBound, bytes[inner] == UInt8(ascii: "'"),
              bytes[range.upperBound - 1] == UInt8(ascii: "]") else { return nil }
        let text = logical.text(range)
        var fix: Fix?
        if !text.contains("\"") {
            let converted = String(text.map { $0 == "'" ? "\"" : $0 })
            if case .strings = JSONArrayReader.read(Array(converted.utf8), 0..<converted.utf8.count) {
                fix = Fix(title: "Use double quotes", edits: [TextEdit(range: logical.range(range), newText: converted)])
            }
        }
        let consequence = kind == .shell ? "SHELL rejects it" : "Docker runs it as a shell command"
        return SyntaxProblem(code: "JSONInSingleQuotes", severity: .warning,
                             message: "JSON arrays need double quotes: this is not JSON, so \(consequence)",
                             range: logical.range(range), fix: fix)
    }

    private mutating func readJSONOrText(_ range: Range<Int>, into instruction: inout Instruction) {
        guard !range.isEmpty else { return }
        if readJSON(range, into: &instruction) { return }
        instruction.form = .shell
        instruction.arguments.append(Argument(value: logical.text(range), range: logical.range(range)))
    }

    private mutating func readJSONOrList(_ range: Range<Int>, into instruction: inout Instruction) {
        guard !range.isEmpty else { return }
        if readJSON(range, into: &instruction) { return }
        instruction.form = .shell
        instruction.arguments = whitespaceSeparated(range)
    }

    /// BuildKit's `parseStringsWhitespaceDelimited`: split on runs of blanks, no quoting.
    private func whitespaceSeparated(_ range: Range<Int>) -> [Argument] {
        var result: [Argument] = []
        var index = range.lowerBound
        while index < range.upperBound {
            while index < range.upperBound && Bytes.isBlank(bytes[index]) { index += 1 }
            let start = index
            while index < range.upperBound && !Bytes.isBlank(bytes[index]) { index += 1 }
            if index > start { result.append(Argument(value: logical.text(start..<index), range: logical.range(start..<index))) }
        }
        return result
    }

    /// BuildKit's `parseWords`: whitespace-separated words, quotes kept in the word, escapes kept with their char.
    private func words(_ range: Range<Int>) -> [Argument] {
        var result: [Argument] = []
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            while index < end && Bytes.isSpace(bytes[index]) { index += 1 }
            guard index < end else { break }
            let start = index
            var quote: UInt8 = 0
            var wordEnd = end
            while index < end {
                let byte = bytes[index]
                if quote == 0 {
                    if Bytes.isSpace(byte) { wordEnd = index; break }
                    if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                        quote = byte
                    } else if byte == escape {
                        if index + 1 == end { wordEnd = index; index += 1; break }  // a final escape is dropped
                        index += 1
                    }
                } else if byte == quote {
                    quote = 0
                } else if byte == escape && quote != UInt8(ascii: "'") {
                    if index + 1 == end { wordEnd = index; index += 1; break }
                    index += 1
                }
                index += 1
            }
            if index >= end && wordEnd == end { wordEnd = min(index, end) }
            result.append(Argument(value: logical.text(start..<wordEnd), range: logical.range(start..<wordEnd)))
        }
        return result
    }

    // MARK: Heredocs

    /// The heredoc markers on the line, in order (BuildKit: the line's words matched against
    /// `^(\d*)<<(-?)\s*([^<]*)$`, `<<` keeping the blanks that follow it in its word).
    func heredocMarkers(in range: Range<Int>) -> [HeredocMarker] {
        var markers: [HeredocMarker] = []
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            while index < end && Bytes.isSpace(bytes[index]) { index += 1 }
            guard index < end else { break }
            let start = index
            var quote: UInt8 = 0
            while index < end {
                let byte = bytes[index]
                if quote == 0 {
                    if Bytes.isSpace(byte) { break }
                    if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                        quote = byte
                    } else if byte == UInt8(ascii: "\\") {
                        index += 1
                    } else if byte == UInt8(ascii: "<") && index + 1 < end && bytes[index + 1] == UInt8(ascii: "<") {
                        index += 2
                        while index < end && (bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0D) {
                            index += 1
                        }
                        continue
                    }
                } else if byte == quote {
                    quote = 0
                } else if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                    index += 1
                }
                index += 1
            }
            let wordEnd = min(index, end)
            if let marker = heredocMarker(start..<wordEnd) { markers.append(marker) }
        }
        return markers
    }

    private func heredocMarker(_ range: Range<Int>) -> HeredocMarker? {
        var index = range.lowerBound
        while index < range.upperBound && Bytes.isDigit(bytes[index]) { index += 1 }
        let digits = range.lowerBound..<index
        guard index + 1 < range.upperBound, bytes[index] == UInt8(ascii: "<"), bytes[index + 1] == UInt8(ascii: "<") else {
            return nil
        }
        index += 2
        let chomp = index < range.upperBound && bytes[index] == UInt8(ascii: "-")
        if chomp { index += 1 }
        while index < range.upperBound && Bytes.isSpace(bytes[index]) { index += 1 }
        let word = index..<range.upperBound
        guard !word.isEmpty, !bytes[word].contains(UInt8(ascii: "<")) else { return nil }
        // The name is the word with quotes and escapes removed; any quoting disables expansion of the body.
        var name: [UInt8] = []
        var quote: UInt8 = 0
        var quoted = false
        index = word.lowerBound
        while index < word.upperBound {
            let byte = bytes[index]
            index += 1
            if quote == 0 {
                if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                    quote = byte
                    quoted = true
                    continue
                }
                if byte == UInt8(ascii: "\\") {
                    if index < word.upperBound { name.append(bytes[index]); index += 1 }
                    continue
                }
                if Bytes.isSpace(byte) { return nil }
            } else if byte == quote {
                quote = 0
                continue
            } else if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") && index < word.upperBound {
                let next = bytes[index]
                if next == UInt8(ascii: "\"") || next == UInt8(ascii: "$") || next == UInt8(ascii: "\\") {
                    name.append(next)
                    index += 1
                    continue
                }
            }
            name.append(byte)
        }
        guard quote == 0, !name.isEmpty else { return nil }
        let descriptor = digits.isEmpty ? nil : Int(String(decoding: bytes[digits], as: UTF8.self))
        return HeredocMarker(name: String(decoding: name, as: UTF8.self), expand: !quoted, chomp: chomp,
                             fileDescriptor: descriptor, range: logical.range(range))
    }
}
