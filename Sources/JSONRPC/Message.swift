import Foundation

/// A request from the other side: it expects exactly one response with the same id.
public struct RequestMessage: Sendable {
    /// The id the response must carry.
    public var id: RequestID
    /// The method name.
    public var method: String
    /// The `params` member.
    public var params: Payload

    /// Creates a request (tests and replays build them; the connection decodes them from the wire).
    public init(id: RequestID, method: String, params: Payload) {
        self.id = id
        self.method = method
        self.params = params
    }
}

/// A notification from the other side: no response is ever sent, not even for an error.
public struct NotificationMessage: Sendable {
    /// The method name.
    public var method: String
    /// The `params` member.
    public var params: Payload

    /// Creates a notification.
    public init(method: String, params: Payload) {
        self.method = method
        self.params = params
    }
}

/// A response to a request this side sent.
public struct ResponseMessage: Sendable {
    /// The id of the request it answers (nil when the other side could not read it).
    public var id: RequestID?
    /// The `result` member, or the `error` object.
    public var outcome: Result<Payload, ResponseError>
}

/// One member (`params` or `result`) of a received message, decoded on demand into the type the handler expects.
///
/// The message's bytes are kept and decoded again for the typed member, so the connection needs no knowledge of
/// any method's types and handlers get their parameters straight from the wire format.
public struct Payload: Sendable {
    /// The whole message body.
    let body: Data
    /// Which member this is.
    let key: String
    /// Whether the member is present in the message.
    public let isPresent: Bool

    init(body: Data, key: String, isPresent: Bool) {
        self.body = body
        self.key = key
        self.isPresent = isPresent
    }

    /// A payload holding `json` as its member, for building messages in tests.
    public init(json: String, key: String = "params") {
        self.init(body: Data("{\(JSONText.quoted(key)):\(json)}".utf8), key: key, isPresent: true)
    }

    /// An absent member.
    public static var absent: Payload { Payload(body: Data("{}".utf8), key: "params", isPresent: false) }

    /// Decodes the member as `type`; a mismatch is an `invalidParams` error naming the path and what was expected.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws(ResponseError) -> T {
        guard isPresent else { throw ResponseError.invalidParams("\(key) are missing: this method needs \(key)") }
        let decoder = JSONDecoder()
        decoder.userInfo[memberKey] = key
        do {
            return try decoder.decode(Member<T>.self, from: body).value
        } catch let error as DecodingError {
            throw ResponseError.invalidParams(Self.describe(error, root: key))
        } catch {
            throw ResponseError.invalidParams("\(key) could not be read: \(error)")
        }
    }

    /// Decodes the member as a `JSONValue` (absent → nil).
    public func json() throws(ResponseError) -> JSONValue? {
        guard isPresent else { return nil }
        return try decode(JSONValue.self)
    }

    /// A sentence for a decoding error: the JSON path and what was wrong there.
    static func describe(_ error: DecodingError, root: String) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = root
            for key in codingPath.dropFirst() {  // the first key is the member itself
                if let index = key.intValue { text += "[\(index)]" } else { text += "." + key.stringValue }
            }
            return text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(root) could not be read: \(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Double.Type, is UInt32.Type, is Int32.Type: return "a number"
        case is Bool.Type: return "a Boolean"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }
}

private let memberKey = CodingUserInfoKey(rawValue: "idpbuild.member")!

/// Decodes one named member of a message object; the member's name comes through `userInfo`.
private struct Member<T: Decodable>: Decodable {
    let value: T

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let name = decoder.userInfo[memberKey] as? String ?? "params"
        value = try container.decode(T.self, forKey: AnyKey(name))
    }
}

/// A coding key for any member name.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// JSON text encoded ahead of time: a result or params that the connection splices into a message.
public struct JSONFragment: Sendable, CustomStringConvertible {
    /// UTF-8 JSON text of one value.
    public let data: Data

    /// Wraps JSON text that the caller guarantees is one valid JSON value.
    public init(rawJSON data: Data) {
        self.data = data
    }

    /// Encodes `value` (an encoding failure, such as a NaN, is an internal error).
    public init<T: Encodable>(encoding value: T) throws(ResponseError) {
        do {
            data = try JSONText.encoder().encode(value)
        } catch {
            throw ResponseError.internalError("the server could not encode its answer: \(error)")
        }
    }

    /// JSON `null`.
    public static let null = JSONFragment(rawJSON: Data("null".utf8))

    /// The JSON text.
    public var description: String { String(decoding: data, as: UTF8.self) }
}

/// Small helpers for writing JSON text.
public enum JSONText {
    /// A JSON encoder configured for the wire (slashes not escaped, so URIs stay readable).
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
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
                    out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
