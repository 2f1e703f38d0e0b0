/// The outcome of reading an instruction's arguments as a JSON array (exec form).
enum JSONArrayResult {
    /// A valid JSON array of strings: each decoded value with the range of its quoted literal.
    case strings([(value: String, range: Range<Int>)])
    /// Valid JSON, but an element is not a string (Docker rejects this rather than falling back to shell form).
    case notStrings(Range<Int>)
    /// Not valid JSON: Docker falls back to shell form. The message says why, at a byte offset.
    case invalid(String, Int)
    /// Does not start with `[`.
    case notArray
}

/// A strict JSON reader (RFC 8259, as Go's encoding/json accepts it) for exec-form arguments.
struct JSONArrayReader {
    private let bytes: [UInt8]
    private let end: Int
    private var index: Int

    /// Deepest nesting accepted, like Go's decoder; deeper input is invalid rather than a stack overflow.
    private static let maxDepth = 10_000

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.index = range.lowerBound
        self.end = range.upperBound
    }

    /// Reads `range` of `bytes` as a JSON array of strings.
    static func read(_ bytes: [UInt8], _ range: Range<Int>) -> JSONArrayResult {
        var reader = JSONArrayReader(bytes: bytes, range: range)
        return reader.readArray()
    }

    private mutating func skipWhitespace() {
        while index < end {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return }
            index += 1
        }
    }

    private mutating func readArray() -> JSONArrayResult {
        while index < end && Bytes.isSpace(bytes[index]) { index += 1 }
        guard index < end, bytes[index] == UInt8(ascii: "[") else { return .notArray }
        index += 1
        var elements: [(value: String, range: Range<Int>)] = []
        var firstNonString: Range<Int>?
        skipWhitespace()
        if index < end && bytes[index] == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard index < end else { return .invalid("unexpected end of JSON input", index) }
                let start = index
                if bytes[index] == UInt8(ascii: "\"") {
                    switch readString() {
                    case .success(let value): elements.append((value, start..<index))
                    case .failure(let error): return .invalid(error.message, error.offset)
                    }
                } else {
                    if let error = skipValue() { return .invalid(error.message, error.offset) }
                    if firstNonString == nil { firstNonString = start..<index }
                }
                skipWhitespace()
                guard index < end else { return .invalid("unexpected end of JSON input", index) }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; break }
                return .invalid("invalid character '\(Self.describe(bytes[index]))' after array element", index)
            }
        }
        skipWhitespace()
        if index < end {
            return .invalid("invalid character '\(Self.describe(bytes[index]))' after top-level value", index)
        }
        if let firstNonString { return .notStrings(firstNonString) }
        return .strings(elements)
    }

    struct ReadError: Error {
        var message: String
        var offset: Int
    }

    /// Reads a string literal at `index` (which holds `"`), decoding escapes.
    private mutating func readString() -> Result<String, ReadError> {
        index += 1
        var runStart = index
        var decoded = ""
        func flushRun(_ upTo: Int) {
            if upTo > runStart { decoded += String(decoding: bytes[runStart..<upTo], as: UTF8.self) }
        }
        // Fast path: no escape before the closing quote, one String straight from the bytes.
        var scan = index
        while scan < end && bytes[scan] != UInt8(ascii: "\"") && bytes[scan] != UInt8(ascii: "\\") && bytes[scan] >= 0x20 {
            scan += 1
        }
        if scan < end && bytes[scan] == UInt8(ascii: "\"") {
            let value = String(decoding: bytes[index..<scan], as: UTF8.self)
            index = scan + 1
            return .success(value)
        }
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                flushRun(index)
                index += 1
                return .success(decoded)
            }
            if byte < 0x20 {
                return .failure(ReadError(message: "invalid control character in string literal", offset: index))
            }
            if byte == UInt8(ascii: "\\") {
                flushRun(index)
                index += 1
                guard index < end else { break }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""): decoded += "\""
                case UInt8(ascii: "\\"): decoded += "\\"
                case UInt8(ascii: "/"): decoded += "/"
                case UInt8(ascii: "b"): decoded += "\u{08}"
                case UInt8(ascii: "f"): decoded += "\u{0C}"
                case UInt8(ascii: "n"): decoded += "\n"
                case UInt8(ascii: "r"): decoded += "\r"
                case UInt8(ascii: "t"): decoded += "\t"
                case UInt8(ascii: "u"):
                    guard let unit = readHex4() else {
                        return .failure(ReadError(message: "invalid \\u escape in string literal", offset: index - 2))
                    }
                    if (0xD800..<0xDC00).contains(unit), index + 6 <= end,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        let saved = index
                        index += 2
                        if let low = readHex4(), (0xDC00..<0xE000).contains(low) {
                            let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            decoded.unicodeScalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                        } else {
                            index = saved
                            decoded += "\u{FFFD}"
                        }
                    } else {
                        decoded.unicodeScalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
                    }
                default:
                    return .failure(ReadError(
                        message: "invalid character '\(Self.describe(escaped))' in string escape code", offset: index - 1))
                }
                runStart = index
                continue
            }
            index += 1
        }
        return .failure(ReadError(message: "unexpected end of JSON input: unterminated string", offset: end))
    }

    private mutating func readHex4() -> UInt32? {
        guard index + 4 <= end else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    /// Skips any JSON value at `index` (iteratively, so deep nesting cannot overflow the stack).
    private mutating func skipValue() -> ReadError? {
        var stack: [UInt8] = []  // expected closers
        var expectValue = true
        while true {
            skipWhitespace()
            guard index < end else { return ReadError(message: "unexpected end of JSON input", offset: index) }
            let byte = bytes[index]
            if expectValue {
                switch byte {
                case UInt8(ascii: "\""):
                    if case .failure(let error) = readString() { return error }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    guard stack.count < Self.maxDepth else {
                        return ReadError(message: "exceeded max depth", offset: index)
                    }
                    let isObject = byte == UInt8(ascii: "{")
                    stack.append(isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
                    index += 1
                    skipWhitespace()
                    if index < end && bytes[index] == stack.last! {
                        index += 1
                        stack.removeLast()
                    } else if isObject {
                        if let error = readObjectKey() { return error }
                        continue
                    } else {
                        continue
                    }
                case UInt8(ascii: "t"): if let error = expectLiteral("true") { return error }
                case UInt8(ascii: "f"): if let error = expectLiteral("false") { return error }
                case UInt8(ascii: "n"): if let error = expectLiteral("null") { return error }
                case UInt8(ascii: "-"), 0x30...0x39: if let error = skipNumber() { return error }
                default:
                    return ReadError(message: "invalid character '\(Self.describe(byte))' looking for beginning of value",
                                     offset: index)
                }
                expectValue = false
            } else {
                guard let closer = stack.last else { return nil }
                if byte == UInt8(ascii: ",") {
                    index += 1
                    if closer == UInt8(ascii: "}") {
                        if let error = readObjectKey() { return error }
                    }
                    expectValue = true
                } else if byte == closer {
                    index += 1
                    stack.removeLast()
                    if stack.isEmpty { return nil }
                } else {
                    return ReadError(message: "invalid character '\(Self.describe(byte))' after value", offset: index)
                }
            }
            if !expectValue && stack.isEmpty { return nil }
        }
    }

    /// Reads `"key":` inside an object, leaving `index` at the value.
    private mutating func readObjectKey() -> ReadError? {
        skipWhitespace()
        guard index < end, bytes[index] == UInt8(ascii: "\"") else {
            return ReadError(message: "invalid character looking for beginning of object key string", offset: index)
        }
        if case .failure(let error) = readString() { return error }
        skipWhitespace()
        guard index < end, bytes[index] == UInt8(ascii: ":") else {
            return ReadError(message: "invalid character after object key", offset: index)
        }
        index += 1
        return nil
    }

    private mutating func expectLiteral(_ literal: String) -> ReadError? {
        let expected = Array(literal.utf8)
        let count = expected.count
        guard index + count <= end else { return ReadError(message: "unexpected end of JSON input", offset: end) }
        guard bytes[index..<index + count].elementsEqual(expected) else {
            return ReadError(message: "invalid literal", offset: index)
        }
        index += count
        return nil
    }

    private mutating func skipNumber() -> ReadError? {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end, Bytes.isDigit(bytes[index]) else {
            return ReadError(message: "invalid number", offset: start)
        }
        if bytes[index] == 0x30 { index += 1 } else { while index < end && Bytes.isDigit(bytes[index]) { index += 1 } }
        if index < end && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < end, Bytes.isDigit(bytes[index]) else { return ReadError(message: "invalid number", offset: start) }
            while index < end && Bytes.isDigit(bytes[index]) { index += 1 }
        }
        if index < end && (bytes[index] | 0x20) == UInt8(ascii: "e") {
            index += 1
            if index < end && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < end, Bytes.isDigit(bytes[index]) else { return ReadError(message: "invalid number", offset: start) }
            while index < end && Bytes.isDigit(bytes[index]) { index += 1 }
        }
        return nil
    }

    private static func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
