/// A minimal JSON object writer for the CLI's `--json` lines (one object per line, keys sorted).
enum JSONLine {
    /// A JSON value.
    enum Value: ExpressibleByStringLiteral {
        case string(String), int(Int), bool(Bool)

        init(stringLiteral value: String) { self = .string(value) }

        var encoded: String {
            switch self {
            case .string(let text): return JSONLine.quote(text)
            case .int(let number): return String(number)
            case .bool(let flag): return flag ? "true" : "false"
            }
        }
    }

    static func object(_ fields: [String: Value]) -> String {
        "{" + fields.keys.sorted().map { quote($0) + ":" + fields[$0]!.encoded }.joined(separator: ",") + "}"
    }

    static func object(_ fields: [String: String]) -> String {
        object(fields.mapValues { Value.string($0) })
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
