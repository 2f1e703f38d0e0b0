import JSONRPC

/// A minimal JSON object writer for the CLI's `--json` lines (one object per line, keys sorted).
enum JSONLine {
    /// A JSON value.
    enum Value: ExpressibleByStringLiteral {
        case string(String), int(Int), bool(Bool)

        init(stringLiteral value: String) { self = .string(value) }

        var encoded: String {
            switch self {
            case .string(let text): return JSONText.quoted(text)
            case .int(let number): return String(number)
            case .bool(let flag): return flag ? "true" : "false"
            }
        }
    }

    static func object(_ fields: [String: Value]) -> String {
        "{" + fields.keys.sorted().map { JSONText.quoted($0) + ":" + fields[$0]!.encoded }.joined(separator: ",") + "}"
    }

    static func object(_ fields: [String: String]) -> String {
        object(fields.mapValues { Value.string($0) })
    }
}
