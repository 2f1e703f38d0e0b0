import Foundation

/// The LSP base protocol's framing: `Content-Length: N\r\n` (and optionally `Content-Type`), an empty line, then
/// N bytes of UTF-8 JSON.
public enum Framing {
    /// The header and body of one message.
    public static func frame(_ body: Data) -> Data {
        var data = Data("Content-Length: \(body.count)\r\n\r\n".utf8)
        data.append(body)
        return data
    }

    /// The longest header section accepted before its empty line.
    public static let maximumHeaderBytes = 8_192
}

/// Splits a byte stream into message bodies, recovering from bad input instead of stopping.
///
/// A header section without a valid `Content-Length` is reported and skipped: the decoder then looks for the next
/// `Content-Length` header, so one garbled message costs one error. A body larger than the limit is skipped without
/// being held in memory; its first bytes are kept so the error can name the request's id.
public struct FrameDecoder: Sendable {
    /// What the decoder found next in the stream.
    public enum Event: Sendable, Equatable {
        /// A complete message body.
        case message(Data)
        /// Header bytes that could not be read, with a sentence saying why (answered with -32700).
        case malformed(String)
        /// A body over the size limit that was skipped, with the top-level id and method found in it.
        case oversized(length: Int, id: RequestID?, method: String?)
        /// A body in a character set other than UTF-8 that was skipped, with its top-level id.
        case unsupportedCharset(String, id: RequestID?)
    }

    private enum State: Sendable {
        case header
        case body(Int)
        case discard(remaining: Int, length: Int, scanner: EnvelopeScanner, charset: String?)
    }

    /// The largest body accepted.
    public let maximumMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var state = State.header
    private var resynchronizing = false

    /// Creates a decoder with a body size limit.
    public init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Whether the stream is between messages (nothing but blank lines buffered).
    public var isBetweenMessages: Bool {
        guard case .header = state, !resynchronizing else { return false }
        return buffer[start...].allSatisfy { $0 == 0x0D || $0 == 0x0A }
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if case .discard(let remaining, let length, var scanner, let charset) = state, buffer.count == start {
            // Skipped bodies are consumed here, so they never accumulate in the buffer.
            let take = min(remaining, bytes.count)
            scanner.feed(bytes.prefix(take))
            state = .discard(remaining: remaining - take, length: length, scanner: scanner, charset: charset)
            if take < bytes.count { buffer.append(contentsOf: bytes[take...]) }
            return
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next event, or nil when more bytes are needed.
    public mutating func next() -> Event? {
        defer { compact() }
        while true {
            switch state {
            case .discard(let remaining, let length, var scanner, let charset):
                let available = buffer.count - start
                let take = min(remaining, available)
                scanner.feed(buffer[start..<start + take])
                start += take
                if remaining - take > 0 {
                    state = .discard(remaining: remaining - take, length: length, scanner: scanner, charset: charset)
                    return nil
                }
                state = .header
                scanner.feed([UInt8(ascii: " ")])  // ends a trailing number
                if let charset { return .unsupportedCharset(charset, id: scanner.id) }
                return .oversized(length: length, id: scanner.id, method: scanner.method)
            case .body(let length):
                guard buffer.count - start >= length else { return nil }
                let body = Data(buffer[start..<start + length])
                start += length
                state = .header
                return .message(body)
            case .header:
                if resynchronizing {
                    guard let found = Self.find(Array("content-length".utf8), in: buffer, from: start, ignoringCase: true) else {
                        // Keep only a tail that could hold the start of the word.
                        start = max(start, buffer.count - 13)
                        return nil
                    }
                    start = found
                    resynchronizing = false
                }
                while start < buffer.count && (buffer[start] == 0x0D || buffer[start] == 0x0A) { start += 1 }
                guard start < buffer.count else { return nil }
                guard let (end, next) = headerEnd() else {
                    if buffer.count - start > Framing.maximumHeaderBytes {
                        resynchronizing = true
                        start += 1
                        return .malformed("a header section longer than \(Framing.maximumHeaderBytes) bytes has no empty line after it; each message needs \"Content-Length: N\" and an empty line (\\r\\n\\r\\n)")
                    }
                    return nil
                }
                switch parseHeaders(buffer[start..<end]) {
                case .failure(let problem):
                    start = next
                    resynchronizing = true
                    return .malformed(problem.message)
                case .success(let (length, charset)):
                    start = next
                    if let charset {
                        state = .discard(remaining: length, length: length, scanner: EnvelopeScanner(), charset: charset)
                    } else if length > maximumMessageSize {
                        state = .discard(remaining: length, length: length, scanner: EnvelopeScanner(), charset: nil)
                    } else {
                        state = .body(length)
                    }
                }
            }
        }
    }

    /// The end of the header section (the offset of its empty line) and where the body starts.
    private func headerEnd() -> (Int, Int)? {
        var index = start
        while index < buffer.count {
            if buffer[index] == 0x0A {
                // "\n\n" or "\n\r\n": the empty line.
                if index + 1 < buffer.count && buffer[index + 1] == 0x0A { return (index, index + 2) }
                if index + 2 < buffer.count && buffer[index + 1] == 0x0D && buffer[index + 2] == 0x0A { return (index, index + 3) }
            }
            index += 1
        }
        return nil
    }

    private func parseHeaders(_ bytes: ArraySlice<UInt8>) -> Result<(Int, String?), FramingProblem> {
        var length: Int?
        var charset: String?
        for rawLine in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(FramingProblem("a header line is not \"Name: value\": \(JSONText.quoted(ResponseError.shortened(text))); each message needs \"Content-Length: N\" and an empty line (\\r\\n\\r\\n)"))
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length":
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), value.utf8.count <= 15, let number = Int(value) else {
                    return .failure(FramingProblem("Content-Length is not a byte count: \(JSONText.quoted(ResponseError.shortened(value)))"))
                }
                if let length, length != number {
                    return .failure(FramingProblem("two different Content-Length headers (\(length) and \(number))"))
                }
                length = number
            case "content-type":
                for parameter in value.split(separator: ";").dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    if pair.count == 2 && pair[0].lowercased() == "charset" {
                        let name = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
                        if name != "utf-8" && name != "utf8" { charset = name }
                    }
                }
            default:
                continue  // other headers are allowed and ignored
            }
        }
        guard let length else {
            return .failure(FramingProblem("a header section has no Content-Length; each message needs \"Content-Length: N\" and an empty line (\\r\\n\\r\\n)"))
        }
        return .success((length, charset))
    }

    private mutating func compact() {
        if start > 65_536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        } else if start == buffer.count && start > 0 {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int, ignoringCase: Bool) -> Int? {
        guard haystack.count - from >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            var matched = true
            for offset in 0..<needle.count {
                let byte = haystack[index + offset]
                if (ignoringCase ? byte | 0x20 : byte) != needle[offset] {
                    matched = false
                    break
                }
            }
            if matched { return index }
            index += 1
        }
        return nil
    }
}

private struct FramingProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
