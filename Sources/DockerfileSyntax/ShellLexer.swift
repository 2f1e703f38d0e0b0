/// A variable used in a word: `$NAME`, `${NAME}` or `${NAME<modifier>…}`.
public struct VariableReference: Sendable, Hashable {
    /// The variable's name (`HOME`, `1`, `@`).
    public var name: String
    /// Bytes of the whole reference in the processed word (from `$` to the closing `}`).
    public var range: Range<Int>
    /// Whether the variable had a value when the word was processed.
    public var isSet: Bool
}

/// Why a word could not be processed, with the offending bytes in the word.
public struct ExpansionError: Error, Sendable, Hashable {
    /// BuildKit's message, e.g. "syntax error: bad substitution".
    public var message: String
    /// Bytes of the word the error is about.
    public var range: Range<Int>
}

/// The result of processing a word: its value and the variables it used.
public struct Expansion: Sendable, Hashable {
    /// The word with quotes removed (unless raw), escapes resolved and variables substituted.
    public var value: String
    /// Every variable looked up, in order, including those in `${V:-…}` defaults.
    public var references: [VariableReference]
}

/// Docker's shell-like word processing (BuildKit's `shell.Lex`): quotes, the escape character, and the
/// `$V ${V} ${V:-w} ${V-w} ${V:+w} ${V+w} ${V:?m} ${V?m} ${V#p} ${V##p} ${V%p} ${V%%p} ${V/p/r} ${V//p/r}` forms.
public struct ShellLexer: Sendable {
    /// The escape character (`\` or `` ` ``, from the `escape` directive).
    public var escape: UInt8
    /// Keep quote characters in the output (they are still interpreted).
    public var rawQuotes = false
    /// Keep escape characters in the output.
    public var rawEscapes = false
    /// Treat quotes as ordinary characters (heredoc bodies).
    public var skipProcessQuotes = false
    /// Leave unset variables as written instead of substituting the empty string.
    public var skipUnsetEnv = false

    /// Creates a lexer for an escape character.
    public init(escape: UInt8 = UInt8(ascii: "\\")) {
        self.escape = escape
    }

    /// Processes `word`, looking variables up with `lookup` (nil means unset).
    public func process(_ word: String, lookup: (String) -> String?) throws(ExpansionError) -> Expansion {
        // Most words have nothing to process: no allocation for them.
        if !word.utf8.contains(where: { $0 == UInt8(ascii: "$") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\"")
                || $0 == escape }) {
            return Expansion(value: word, references: [])
        }
        return try withoutActuallyEscaping(lookup) { (lookup) throws(ExpansionError) -> Expansion in
            var state = LexState(bytes: Array(word.utf8), lexer: self, lookup: lookup)
            let value = try state.processStopOn(UInt8?.none, rawEscapes: rawEscapes)
            return Expansion(value: String(decoding: value, as: UTF8.self), references: state.references)
        }
    }

    /// Processes `word` against a dictionary of variables.
    public func process(_ word: String, environment: [String: String]) throws(ExpansionError) -> Expansion {
        try process(word) { environment[$0] }
    }
}

private struct LexState {
    let bytes: [UInt8]
    let lexer: ShellLexer
    let lookup: (String) -> String?
    var index = 0
    var references: [VariableReference] = []

    init(bytes: [UInt8], lexer: ShellLexer, lookup: @escaping (String) -> String?) {
        self.bytes = bytes
        self.lexer = lexer
        self.lookup = lookup
    }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func processStopOn(_ stop: UInt8?, rawEscapes: Bool) throws(ExpansionError) -> [UInt8] {
        var result: [UInt8] = []
        let start = index
        while let byte = peek {
            if let stop, byte == stop {
                index += 1
                return result
            }
            switch byte {
            case UInt8(ascii: "$"):
                result += try processDollar()
            case UInt8(ascii: "'") where !lexer.skipProcessQuotes:
                result += try processSingleQuote()
            case UInt8(ascii: "\"") where !lexer.skipProcessQuotes:
                result += try processDoubleQuote(rawEscapes: rawEscapes)
            default:
                index += 1
                if byte == lexer.escape {
                    if rawEscapes { result.append(byte) }
                    guard let next = peek else { break }  // an escape at the very end is dropped
                    index += 1
                    result.append(next)
                } else {
                    result.append(byte)
                }
            }
        }
        if let stop {
            let what = stop == UInt8(ascii: "}") ? "}" : String(UnicodeScalar(stop))
            throw ExpansionError(message: "unexpected end of statement while looking for matching \(what)",
                                 range: start..<bytes.count)
        }
        return result
    }

    mutating func processSingleQuote() throws(ExpansionError) -> [UInt8] {
        let start = index
        index += 1
        var result: [UInt8] = lexer.rawQuotes ? [UInt8(ascii: "'")] : []
        while let byte = peek {
            index += 1
            if byte == UInt8(ascii: "'") {
                if lexer.rawQuotes { result.append(byte) }
                return result
            }
            result.append(byte)
        }
        throw ExpansionError(message: "unexpected end of statement while looking for matching single-quote",
                             range: start..<bytes.count)
    }

    mutating func processDoubleQuote(rawEscapes: Bool) throws(ExpansionError) -> [UInt8] {
        let start = index
        index += 1
        var result: [UInt8] = lexer.rawQuotes ? [UInt8(ascii: "\"")] : []
        while let byte = peek {
            if byte == UInt8(ascii: "\"") {
                index += 1
                if lexer.rawQuotes { result.append(byte) }
                return result
            }
            if byte == UInt8(ascii: "$") {
                result += try processDollar()
                continue
            }
            index += 1
            if byte == lexer.escape {
                if rawEscapes { result.append(byte) }
                guard let next = peek else { continue }
                if next == UInt8(ascii: "\"") || next == UInt8(ascii: "$") || next == lexer.escape {
                    index += 1
                    result.append(next)
                } else {
                    result.append(byte)  // other escapes stay literal inside double quotes
                }
                continue
            }
            result.append(byte)
        }
        throw ExpansionError(message: "unexpected end of statement while looking for matching double-quote",
                             range: start..<bytes.count)
    }

    mutating func lookUp(_ name: String, from start: Int) -> String? {
        let value = lookup(name)
        references.append(VariableReference(name: name, range: start..<index, isSet: value != nil))
        return value
    }

    mutating func processDollar() throws(ExpansionError) -> [UInt8] {
        let start = index
        index += 1
        guard peek == UInt8(ascii: "{") else {
            let name = processName()
            if name.isEmpty { return [UInt8(ascii: "$")] }
            let value = lookUp(name, from: start)
            if value == nil && lexer.skipUnsetEnv { return Array(("$" + name).utf8) }
            return Array((value ?? "").utf8)
        }
        index += 1
        switch peek {
        case nil:
            throw ExpansionError(message: "syntax error: missing '}'", range: start..<index)
        case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ":"):
            throw ExpansionError(message: "syntax error: bad substitution", range: start..<min(index + 1, bytes.count))
        default:
            break
        }
        let name = processName()
        guard let modifier = peek else {
            throw ExpansionError(message: "syntax error: missing '}'", range: start..<index)
        }
        index += 1
        switch modifier {
        case UInt8(ascii: "}"):
            let value = lookUp(name, from: start)
            if value == nil && lexer.skipUnsetEnv { return Array("${\(name)}".utf8) }
            return Array((value ?? "").utf8)
        case UInt8(ascii: ":"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: "#"),
             UInt8(ascii: "%"):
            return try processModifier(name: name, first: modifier, start: start)
        case UInt8(ascii: "/"):
            return try processReplace(name: name, start: start)
        default:
            throw ExpansionError(message: "unsupported modifier (\(String(UnicodeScalar(modifier)))) in substitution",
                                 range: start..<index)
        }
    }

    mutating func processModifier(name: String, first: UInt8, start: Int) throws(ExpansionError) -> [UInt8] {
        var operation = first
        var spelled = [first]
        let nullIsUnset = first == UInt8(ascii: ":")
        if nullIsUnset {
            guard let next = peek else { throw ExpansionError(message: "syntax error: missing '}'", range: start..<index) }
            index += 1
            operation = next
            spelled.append(next)
        }
        let isPattern = operation == UInt8(ascii: "#") || operation == UInt8(ascii: "%")
        let spelledText = String(decoding: spelled, as: UTF8.self)
        if nullIsUnset && isPattern {
            throw ExpansionError(message: "unsupported modifier (\(spelledText)) in substitution", range: start..<index)
        }
        let word = try processWord(until: UInt8(ascii: "}"), rawEscapes: isPattern, from: start, missing: "syntax error: missing '}'")
        let value = lookUp(name, from: start)
        if value == nil && lexer.skipUnsetEnv {
            return Array("${\(name)\(spelledText)".utf8) + word + [UInt8(ascii: "}")]
        }
        let isEmpty = value == nil || (nullIsUnset && value!.isEmpty)
        switch operation {
        case UInt8(ascii: "-"):
            return isEmpty ? word : Array(value!.utf8)
        case UInt8(ascii: "+"):
            return isEmpty ? [] : word
        case UInt8(ascii: "?"):
            let custom = String(decoding: word, as: UTF8.self)
            if value == nil {
                throw ExpansionError(message: "\(shown(name)): \(custom.isEmpty ? "is not allowed to be unset" : shown(custom))",
                                     range: start..<index)
            }
            if nullIsUnset && value!.isEmpty {
                throw ExpansionError(message: "\(shown(name)): \(custom.isEmpty ? "is not allowed to be empty" : shown(custom))",
                                     range: start..<index)
            }
            return Array(value!.utf8)
        case UInt8(ascii: "#"), UInt8(ascii: "%"):
            var pattern = word
            let greedy = pattern.first == operation
            if greedy { pattern.removeFirst() }
            let glob = try shellPattern(pattern, from: start)
            let subject = Array((value ?? "").unicodeScalars)
            let kept = operation == UInt8(ascii: "#")
                ? glob.trimPrefix(subject, greedy: greedy) : glob.trimSuffix(subject, greedy: greedy)
            var result = String.UnicodeScalarView()
            result.append(contentsOf: kept)
            return Array(String(result).utf8)
        default:
            throw ExpansionError(message: "unsupported modifier (\(spelledText)) in substitution", range: start..<index)
        }
    }

    mutating func processReplace(name: String, start: Int) throws(ExpansionError) -> [UInt8] {
        let replaceAll = peek == UInt8(ascii: "/")
        if replaceAll { index += 1 }
        let pattern = try processWord(until: UInt8(ascii: "/"), rawEscapes: true, from: start, missing: "syntax error: missing '/' in ${}")
        let replacement = try processWord(until: UInt8(ascii: "}"), rawEscapes: true, from: start, missing: "syntax error: missing '}'")
        let value = lookUp(name, from: start)
        if value == nil && lexer.skipUnsetEnv {
            return Array("${\(name)/".utf8) + pattern + [UInt8(ascii: "/")] + replacement + [UInt8(ascii: "}")]
        }
        let glob = try shellPattern(pattern, from: start)
        let subject = Array((value ?? "").unicodeScalars)
        let with = Array(String(decoding: replacement, as: UTF8.self).unicodeScalars)
        var result = String.UnicodeScalarView()
        result.append(contentsOf: glob.replace(in: subject, with: with, all: replaceAll))
        return Array(String(result).utf8)
    }

    /// Processes the word of a `${…}` form up to `stop`; at the end of the input, fails with `missing`.
    mutating func processWord(until stop: UInt8, rawEscapes: Bool, from start: Int, missing: String) throws(ExpansionError) -> [UInt8] {
        do {
            return try processStopOn(stop, rawEscapes: rawEscapes)
        } catch {
            if atEnd { throw ExpansionError(message: missing, range: start..<bytes.count) }
            throw error
        }
    }

    /// The glob of a `${V#p}`, `${V%p}` or `${V/p/r}` form.
    func shellPattern(_ pattern: [UInt8], from start: Int) throws(ExpansionError) -> ShellPattern {
        do {
            return try ShellPattern(pattern)
        } catch {
            throw ExpansionError(message: "invalid pattern (\(shown(String(decoding: pattern, as: UTF8.self)))) in substitution: \(error.message)",
                                 range: start..<index)
        }
    }

    /// Reads a variable name: digits, one special parameter, or letters, digits and `_`.
    mutating func processName() -> String {
        let start = index
        guard let first = peek else { return "" }
        if Bytes.isDigit(first) {
            while let byte = peek, Bytes.isDigit(byte) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
        switch first {
        case UInt8(ascii: "@"), UInt8(ascii: "*"), UInt8(ascii: "#"), UInt8(ascii: "?"), UInt8(ascii: "-"),
             UInt8(ascii: "$"), UInt8(ascii: "!"):
            index += 1
            return String(UnicodeScalar(first))
        default:
            break
        }
        while let byte = peek {
            if Bytes.isNameByte(byte) {
                index += 1
            } else if byte >= 0x80, let (scalar, width) = decodeScalar(at: index), scalar.properties.isAlphabetic {
                index += width
            } else {
                break
            }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    func decodeScalar(at offset: Int) -> (Unicode.Scalar, Int)? {
        let (width, _) = SourceText.scalarWidth(bytes, at: offset, end: bytes.count)
        guard width > 1 else { return nil }
        let scalar = String(decoding: bytes[offset..<offset + width], as: UTF8.self).unicodeScalars.first
        return scalar.map { ($0, width) }
    }
}

/// A shell glob for `${V#p}`, `${V%p}` and `${V/p/r}`: `*`, `?`, and `\` escaping `*`, `?` or `\`.
struct ShellPattern {
    enum Element: Equatable {
        case star, any
        case literal(Unicode.Scalar)
    }

    struct PatternError: Error {
        var message: String
    }

    let elements: [Element]

    init(_ bytes: [UInt8]) throws(PatternError) {
        var elements: [Element] = []
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "*": elements.append(.star)
            case "?": elements.append(.any)
            case "\\":
                // `}` and `/` are escaped only to end the ${} word; the escape is not part of the pattern
                guard index < scalars.count else { elements.append(.literal("\\")); continue }
                let next = scalars[index]
                index += 1
                switch next {
                case "}", "/", "*", "?", "\\": elements.append(.literal(next))
                default: throw PatternError(message: "invalid escape '\\\(next)'")
                }
            default: elements.append(.literal(scalar))
            }
        }
        self.elements = elements
    }

    /// Whether the whole of `subject[range]` matches.
    func matches(_ subject: [Unicode.Scalar], _ range: Range<Int>) -> Bool {
        var s = range.lowerBound
        var p = 0
        var starP = -1
        var starS = 0
        while s < range.upperBound {
            if p < elements.count, elements[p] == .any || elements[p] == .literal(subject[s]) {
                s += 1
                p += 1
            } else if p < elements.count, elements[p] == .star {
                starP = p
                starS = s
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starS += 1
                s = starS
            } else {
                return false
            }
        }
        while p < elements.count && elements[p] == .star { p += 1 }
        return p == elements.count
    }

    func trimPrefix(_ subject: [Unicode.Scalar], greedy: Bool) -> ArraySlice<Unicode.Scalar> {
        let lengths = greedy ? Array((0...subject.count).reversed()) : Array(0...subject.count)
        for length in lengths where matches(subject, 0..<length) { return subject[length...] }
        return subject[...]
    }

    func trimSuffix(_ subject: [Unicode.Scalar], greedy: Bool) -> ArraySlice<Unicode.Scalar> {
        let starts = greedy ? Array(0...subject.count) : Array((0...subject.count).reversed())
        for start in starts where matches(subject, start..<subject.count) { return subject[..<start] }
        return subject[...]
    }

    func replace(in subject: [Unicode.Scalar], with replacement: [Unicode.Scalar], all: Bool) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        var index = 0
        var replaced = false
        while index <= subject.count {
            var matchEnd: Int?
            if !replaced || all {
                for end in stride(from: subject.count, through: index, by: -1) where matches(subject, index..<end) {
                    matchEnd = end
                    break
                }
            }
            if let end = matchEnd {
                result += replacement
                replaced = true
                if end > index {
                    index = end
                    continue
                }
            }
            if index < subject.count { result.append(subject[index]) }
            index += 1
        }
        return result
    }
}
