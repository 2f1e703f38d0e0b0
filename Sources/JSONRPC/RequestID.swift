/// A request's `id`: JSON-RPC allows a number or a string.
public enum RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A numeric id.
    case number(Int)
    /// A string id.
    case string(String)

    /// Decodes a number or a string; anything else is not an id.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else {
            throw DecodingError.typeMismatch(RequestID.self, DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "an id is a whole number or a string"))
        }
    }

    /// Encodes the number or the string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        }
    }

    /// The id as it appears in JSON.
    public var description: String {
        switch self {
        case .number(let number): return String(number)
        case .string(let string): return JSONText.quoted(string)
        }
    }
}
