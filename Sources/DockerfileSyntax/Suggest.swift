/// "Did you mean …?" suggestions by edit distance (optimal string alignment, so a swap of two letters counts once).
public enum Suggest {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    public static func closest(to word: String, in candidates: some Sequence<String>, caseSensitive: Bool = false) -> String? {
        let target = Array((caseSensitive ? word : word.lowercased()).unicodeScalars)
        guard !target.isEmpty else { return nil }
        let limit = max(1, target.count / 4)
        var best: (String, Int)?
        for candidate in candidates {
            let other = Array((caseSensitive ? candidate : candidate.lowercased()).unicodeScalars)
            guard abs(other.count - target.count) <= limit else { continue }
            let distance = Self.distance(target, other)
            guard candidate != word, distance <= limit else { continue }
            if best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        return best?.0
    }

    /// Optimal string alignment distance between two scalar arrays.
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    value = min(value, previous2[j - 2] + 1)
                }
                current[j] = value
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}

/// Go's `time.ParseDuration`, which HEALTHCHECK's duration flags use.
public enum GoDuration {
    /// The duration in seconds, or Go's error message.
    public static func parse(_ text: String) -> Result<Double, DurationError> {
        let bytes = Array(text.utf8)
        var index = 0
        var negative = false
        if index < bytes.count && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        if bytes.count - index == 1 && bytes[index] == UInt8(ascii: "0") { return .success(0) }
        guard index < bytes.count else { return .failure(DurationError(message: "time: invalid duration \"\(shown(text))\"")) }
        var total = 0.0
        while index < bytes.count {
            let numberStart = index
            var sawDigits = false
            while index < bytes.count && Bytes.isDigit(bytes[index]) { index += 1; sawDigits = true }
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                while index < bytes.count && Bytes.isDigit(bytes[index]) { index += 1; sawDigits = true }
            }
            guard sawDigits else { return .failure(DurationError(message: "time: invalid duration \"\(shown(text))\"")) }
            let number = Double(String(decoding: bytes[numberStart..<index], as: UTF8.self)) ?? 0
            let unitStart = index
            while index < bytes.count && bytes[index] != UInt8(ascii: ".") && !Bytes.isDigit(bytes[index]) { index += 1 }
            let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
            guard !unit.isEmpty else {
                return .failure(DurationError(message: "time: missing unit in duration \"\(shown(text))\""))
            }
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs", "μs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default:
                return .failure(DurationError(message: "time: unknown unit \"\(shown(unit))\" in duration \"\(shown(text))\""))
            }
            total += number * scale
        }
        return .success(negative ? -total : total)
    }

    /// A duration that Go would not parse.
    public struct DurationError: Error, Sendable, Hashable {
        /// Go's message, e.g. `time: missing unit in duration "5"`.
        public var message: String
    }
}

/// Text from a Dockerfile made safe to put in a message: control characters escaped, and cut to `limit`
/// characters so a 10 MB line cannot become a 10 MB message.
public func shown(_ text: String, limit: Int = 60) -> String {
    var result = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count >= limit {
            result += "…"
            break
        }
        if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
            result += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            result.unicodeScalars.append(scalar)
        }
        count += 1
    }
    return result
}
