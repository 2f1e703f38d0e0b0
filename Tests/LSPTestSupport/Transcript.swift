import Foundation
import JSONRPC

/// A session written down in protocol/transcripts: `-->` lines are sent as written, `<--` lines must arrive (in any
/// order) before the next `-->` line is sent, `<~~` lines may arrive any number of times anywhere (progress reports
/// and build output, whose count depends on timing). Nothing else may arrive.
///
/// In expected lines the string `"*"` matches any value and a string with `*` in it matches strings with anything in
/// place of each `*` (digests, durations). `${NAME}` is replaced by the replayer's variables everywhere (a registry's
/// port, a temporary folder).
public struct Transcript: Sendable {
    /// One client line and the server lines that must follow it.
    public struct Step: Sendable {
        /// The body sent.
        public var send: String
        /// The messages that must arrive.
        public var expect: [JSONValue]
    }

    /// The steps, in order.
    public var steps: [Step] = []
    /// Messages that may arrive any number of times.
    public var optional: [JSONValue] = []

    /// Parses a transcript's text, substituting `variables`; `normalize` is applied to every expected message.
    public init(_ text: String, variables: [String: String] = [:], normalize: (JSONValue) -> JSONValue = { $0 }) throws {
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            for (name, value) in variables { line = line.replacingOccurrences(of: "${\(name)}", with: value) }
            if line.hasPrefix("--> ") {
                steps.append(Step(send: String(line.dropFirst(4)), expect: []))
            } else if line.hasPrefix("<-- ") || line.hasPrefix("<~~ ") {
                let message = normalize(try JSONDecoder().decode(JSONValue.self, from: Data(line.dropFirst(4).utf8)))
                if line.hasPrefix("<~~ ") {
                    optional.append(message)
                } else {
                    guard !steps.isEmpty else { throw TestClientError("a server line before any client line: \(line)") }
                    steps[steps.count - 1].expect.append(message)
                }
            }
        }
    }

    /// Whether `actual` matches the `expected` pattern (see the type's description).
    public static func matches(_ expected: JSONValue, _ actual: JSONValue) -> Bool {
        switch (expected, actual) {
        case (.string("*"), _):
            return true
        case (.string(let pattern), .string(let text)) where pattern.contains("*"):
            return glob(Array(pattern.utf8), Array(text.utf8))
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { matches(value, $0) } ?? false }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { matches($0, $1) }
        default:
            return expected == actual
        }
    }

    private static func glob(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
        // `*` matches any run of bytes; everything else matches itself.
        let parts = pattern.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.starts(with: parts[0]), text.count >= parts[0].count + parts.last!.count,
              text.reversed().starts(with: parts.last!.reversed()) else { return false }
        var index = parts[0].count
        let end = text.count - parts.last!.count
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = find(part, in: text, from: index, before: end) else { return false }
            index = found + part.count
        }
        return index <= end
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, before end: Int) -> Int? {
        guard needle.count <= end - start else { return nil }
        for index in start...(end - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        return nil
    }

    /// Sends each step through `client` and checks what arrives; `normalize` is applied to every message received
    /// (e.g. to blank the server's version). Returns the problems found (empty when the session matched).
    public func replay(on client: TestClient, name: String, timeout: Double = 60,
                       normalize: (JSONValue) -> JSONValue = { $0 }) async throws -> [String] {
        for (index, step) in steps.enumerated() {
            client.sendText(step.send)
            var remaining = step.expect
            while !remaining.isEmpty {
                let message = normalize(try await client.next(timeout: timeout))
                if let found = remaining.firstIndex(where: { Self.matches($0, message) }) {
                    remaining.remove(at: found)
                } else if !optional.contains(where: { Self.matches($0, message) }) {
                    return ["\(name), after client line \(index + 1): unexpected \(message.jsonText)\nexpected one of:\n"
                            + remaining.map(\.jsonText).joined(separator: "\n")]
                }
            }
        }
        return []
    }

    /// Messages that arrived after the last step and match no optional line.
    public func unexpected(_ messages: [JSONValue], normalize: (JSONValue) -> JSONValue = { $0 }) -> [JSONValue] {
        messages.map(normalize).filter { message in !optional.contains { Self.matches($0, message) } }
    }
}
