#if canImport(Glibc)
import Glibc
#endif

/// Removes secrets from text bound for a log or an editor: the values it was given (build secrets, a password read
/// from standard input) wherever they appear; what follows `Authorization:` and `Bearer`; `password=`/`token:`-style
/// assignments; and the password of a URL's `user:password@`. Works on bytes with `memchr`, so a line without any of
/// them costs a few scans (build output is logged and sent to the editor line by line).
public struct SecretRedactor: Sendable {
    /// What replaces a secret.
    public static let mask = "[redacted]"
    /// Values shorter than this are not searched for: they would mask ordinary words (and guessing them is trivial).
    public static let minimumValueLength = 4
    private let values: [[UInt8]]
    private static let keywords: [(word: [UInt8], kind: Kind)] = {
        let table: [(String, Kind)] = [
            ("authorization", .restOfLine), ("bearer ", .nextWord), ("password", .assignment), ("passwd", .assignment),
            ("token", .assignment), ("secret", .assignment), ("api_key", .assignment), ("apikey", .assignment),
            ("access_token", .wordAssignment), ("api-key", .wordAssignment),
        ]
        return table.map { (Array($0.0.utf8), $0.1) }
    }()

    /// What a keyword masks.
    private enum Kind {
        /// `Authorization: …`: everything after the separator.
        case restOfLine
        /// `Bearer …`: the next word.
        case nextWord
        /// `…password…=`, `"token": …`: the value after `=` or `:`, as a `wordAssignment` too.
        case assignment
        /// Only the keyword as a word of its own right before `=` or `:` (`api-key: "a b"`): the quoted value whole, or
        /// the value up to a blank or `,`.
        case wordAssignment
    }

    /// A redactor for these secret values (each line of a multi-line value counts on its own as well).
    public init(secrets: [String] = []) {
        var found = Set<[UInt8]>()
        for secret in secrets {
            for candidate in [secret] + secret.split(whereSeparator: \.isNewline).map(String.init) {
                let trimmed = candidate.trimmingWhitespace()
                if trimmed.utf8.count >= Self.minimumValueLength { found.insert(Array(trimmed.utf8)) }
            }
        }
        // Longer values first, so a value that contains another is masked whole.
        values = found.sorted { $0.count > $1.count }
    }

    /// The text with every secret replaced by `[redacted]`.
    public func redact(_ text: String) -> String {
        var bytes = Array(text.utf8)
        var changed = false
        for value in values {
            var start = 0
            while let offset = Self.find(value, in: bytes, from: start) {
                bytes.replaceSubrange(offset..<(offset + value.count), with: Self.mask.utf8)
                start = offset + Self.mask.utf8.count
                changed = true
            }
        }
        let lowered = bytes.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        var spans: [Range<Int>] = []
        for (word, kind) in Self.keywords {
            var start = 0
            while let offset = Self.find(word, in: lowered, from: start) {
                start = offset + word.count
                if kind != .wordAssignment, let span = Self.secretSpan(after: start, kind: kind, in: bytes) { spans.append(span) }
                if kind == .assignment || kind == .wordAssignment,
                   let span = Self.wordAssignmentSpan(keyword: offset..<start, in: bytes) { spans.append(span) }
            }
        }
        spans += Self.urlPasswordSpans(in: bytes)
        guard !spans.isEmpty else { return changed ? String(decoding: bytes, as: UTF8.self) : text }
        // Overlapping spans (`Authorization: Bearer x`) merge into one; replaced from the end so offsets hold.
        var merged: [Range<Int>] = []
        for span in spans.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, span.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, span.upperBound)
            } else {
                merged.append(span)
            }
        }
        for span in merged.reversed() where !bytes[span].elementsEqual(Self.mask.utf8) {
            bytes.replaceSubrange(span, with: Self.mask.utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes to mask after a keyword ending at `index`, or nil when what follows is not a secret's value.
    private static func secretSpan(after index: Int, kind: Kind, in bytes: [UInt8]) -> Range<Int>? {
        var cursor = index
        let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        switch kind {
        case .restOfLine, .assignment, .wordAssignment:
            // `password=x`, `"token": "x"`, `secret_key: x`, `Authorization: Basic x`; a keyword not followed by a
            // separator (`token expired`, `passwords differ`) is left alone.
            if kind != .restOfLine {
                while cursor < bytes.count, bytes[cursor] == 0x5F || isWordByte(bytes[cursor]) { cursor += 1 }
            }
            while cursor < bytes.count, space(bytes[cursor]) || isQuote(bytes[cursor]) { cursor += 1 }
            guard cursor < bytes.count, bytes[cursor] == 0x3D || bytes[cursor] == 0x3A else { return nil }
            let header = cursor == index && bytes[cursor] == 0x3A
            cursor += 1
            while cursor < bytes.count, space(bytes[cursor]) { cursor += 1 }
            let valueStart = cursor
            while cursor < bytes.count, space(bytes[cursor]) || isQuote(bytes[cursor]) { cursor += 1 }
            if kind == .restOfLine {
                var end = bytes.count
                while end > valueStart, space(bytes[end - 1]) || bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
                // `Authorization:` followed by nothing but quotes: those are the value.
                if cursor >= end && header { cursor = valueStart }
                return cursor < end ? cursor..<end : nil
            }
        case .nextWord:
            while cursor < bytes.count, space(bytes[cursor]) { cursor += 1 }
        }
        var end = cursor
        while end < bytes.count, !space(bytes[end]), !isQuote(bytes[end]), bytes[end] != 0x2C, bytes[end] != 0x7D, bytes[end] != 0x0A { end += 1 }
        return cursor < end ? cursor..<end : nil
    }

    /// For a keyword that starts a word and is followed by blanks and `=` or `:` (`token: "a b"`, `password = x`): a
    /// quoted value with its quotes, else the value up to a blank or `,`; nil for anything else.
    private static func wordAssignmentSpan(keyword: Range<Int>, in bytes: [UInt8]) -> Range<Int>? {
        if keyword.lowerBound > 0 {
            let before = bytes[keyword.lowerBound - 1]
            guard before != 0x5F, !isWordByte(before), before < 0x80 else { return nil }  // (a letter like é counts as word)
        }
        var cursor = keyword.upperBound
        while cursor < bytes.count, isBlank(bytes[cursor]) { cursor += 1 }
        guard cursor < bytes.count, bytes[cursor] == 0x3D || bytes[cursor] == 0x3A else { return nil }
        cursor += 1
        while cursor < bytes.count, isBlank(bytes[cursor]) { cursor += 1 }
        guard cursor < bytes.count else { return nil }
        if isQuote(bytes[cursor]), let close = bytes[(cursor + 1)...].firstIndex(of: bytes[cursor]) { return cursor..<(close + 1) }
        var end = cursor
        while end < bytes.count, !isBlank(bytes[end]), bytes[end] != 0x2C { end += 1 }
        return cursor < end ? cursor..<end : nil
    }

    private static let schemeSeparator = Array("://".utf8)

    /// The passwords of `scheme://user:password@` in the text.
    private static func urlPasswordSpans(in bytes: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var start = 0
        while let separator = find(schemeSeparator, in: bytes, from: start) {
            start = separator + 3
            guard hasScheme(endingAt: separator, in: bytes) else { continue }
            var colon = start
            while colon < bytes.count, !isBlank(bytes[colon]), bytes[colon] != 0x2F, bytes[colon] != 0x3A, bytes[colon] != 0x40 { colon += 1 }
            guard colon > start, colon < bytes.count, bytes[colon] == 0x3A else { continue }
            var at = colon + 1
            while at < bytes.count, !isBlank(bytes[at]), bytes[at] != 0x2F, bytes[at] != 0x40 { at += 1 }
            guard at > colon + 1, at < bytes.count, bytes[at] == 0x40 else { continue }
            spans.append((colon + 1)..<at)
            start = at + 1
        }
        return spans
    }

    /// Whether a URL scheme (a letter at the start of a word, then letters, digits, `+`, `.` or `-`) ends at `end`.
    private static func hasScheme(endingAt end: Int, in bytes: [UInt8]) -> Bool {
        var index = end
        while index > 0 {
            let byte = bytes[index - 1]
            guard isWordByte(byte) || byte == 0x2B || byte == 0x2E || byte == 0x2D else { break }
            index -= 1
            let isLetter = (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A
            if isLetter, index == 0 || !(isWordByte(bytes[index - 1]) || bytes[index - 1] == 0x5F || bytes[index - 1] >= 0x80) { return true }
        }
        return false
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    private static func isQuote(_ byte: UInt8) -> Bool { byte == 0x22 || byte == 0x27 }

    /// Space, tab, line feed, vertical tab, form feed, carriage return.
    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard start < haystack.count, !needle.isEmpty, needle.count <= haystack.count - start else { return nil }
        return haystack.withUnsafeBytes { hay -> Int? in
            let base = hay.baseAddress!
            let last = hay.count - needle.count
            var index = start
            while index <= last {
                guard let hit = memchr(base + index, Int32(needle[0]), last - index + 1) else { return nil }
                let offset = base.distance(to: UnsafeRawPointer(hit))
                if needle.withUnsafeBytes({ memcmp(base + offset, $0.baseAddress!, needle.count) }) == 0 { return offset }
                index = offset + 1
            }
            return nil
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
