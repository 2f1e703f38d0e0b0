import Foundation

/// What a message body turned out to be.
enum IncomingMessage: Sendable {
    case request(RequestMessage)
    case notification(NotificationMessage)
    case response(ResponseMessage)
    /// Not a valid message: answer with this error (and this id, when it could be read).
    case invalid(RequestID?, ResponseError)
}

/// The members that say what kind of message a body is; `params` and `result` are decoded later, typed.
private struct Envelope: Decodable {
    var jsonrpc: String?
    var id: RequestID?
    var idProblem: String?
    var method: String?
    var methodIsString = true
    var hasParams = false
    var hasResult = false
    var error: ResponseError?
    var errorIsValid = true

    enum Keys: String, CodingKey { case jsonrpc, id, method, params, result, error }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        jsonrpc = try? container.decodeIfPresent(String.self, forKey: .jsonrpc)
        if container.contains(.id) {
            if (try? container.decodeNil(forKey: .id)) == true {
                idProblem = "null"
            } else if let id = try? container.decode(RequestID.self, forKey: .id) {
                self.id = id
            } else {
                idProblem = "not a whole number or a string"
            }
        }
        if container.contains(.method) {
            method = try? container.decode(String.self, forKey: .method)
            methodIsString = method != nil
        }
        hasParams = container.contains(.params)
        hasResult = container.contains(.result)
        if container.contains(.error) {
            error = try? container.decode(ResponseError.self, forKey: .error)
            errorIsValid = error != nil
        }
    }
}

enum MessageDecoding {
    /// Classifies a message body (JSON-RPC 2.0 §4–§5: request, notification, response; batches are not used by LSP).
    static func decode(_ body: Data) -> IncomingMessage {
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: body)
        } catch DecodingError.typeMismatch {
            let what = body.first(where: { !Self.isSpace($0) }) == UInt8(ascii: "[") ? "a batch (array)" : "not an object"
            return .invalid(nil, .invalidRequest("the message is \(what): send one JSON-RPC object per message"))
        } catch {
            return .invalid(nil, .parseError("the message body is not valid JSON (\(body.count) bytes): check the Content-Length and the encoding (UTF-8)"))
        }
        guard envelope.jsonrpc == "2.0" else {
            return .invalid(envelope.id, .invalidRequest("the message lacks \"jsonrpc\": \"2.0\""))
        }
        if let problem = envelope.idProblem, envelope.method != nil || !(envelope.hasResult || envelope.error != nil) {
            return .invalid(nil, .invalidRequest("the id is \(problem): use a whole number or a string"))
        }
        guard envelope.methodIsString else {
            return .invalid(envelope.id, .invalidRequest("\"method\" must be a string"))
        }
        if let method = envelope.method {
            let params = Payload(body: body, key: "params", isPresent: envelope.hasParams)
            if let id = envelope.id {
                return .request(RequestMessage(id: id, method: method, params: params))
            }
            return .notification(NotificationMessage(method: method, params: params))
        }
        if envelope.hasResult && envelope.error == nil {
            return .response(ResponseMessage(id: envelope.id, outcome: .success(Payload(body: body, key: "result", isPresent: true))))
        }
        if let error = envelope.error, !envelope.hasResult {
            return .response(ResponseMessage(id: envelope.id, outcome: .failure(error)))
        }
        if !envelope.errorIsValid {
            return .invalid(nil, .invalidRequest("the response's \"error\" is not an object with a code and a message"))
        }
        return .invalid(envelope.id, .invalidRequest("the message has neither \"method\" nor exactly one of \"result\" and \"error\""))
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
}

/// Finds the top-level `"id"` and `"method"` of a JSON object as its bytes stream past, in constant memory: used
/// for messages too large to read, so their error can still name the request wherever its id is.
struct EnvelopeScanner: Sendable {
    private(set) var id: RequestID?
    private(set) var method: String?
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var inScalar = false
    private var buffer: [UInt8] = []
    private var expectingKey = false
    private var pendingKey: String?
    private static let bufferLimit = 1_024

    /// Feeds the next bytes.
    mutating func feed(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { feed(byte) }
    }

    private mutating func feed(_ byte: UInt8) {
        if inString {
            if escaped {
                escaped = false
                append(byte == UInt8(ascii: "n") ? 0x0A : byte)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
                finishString()
            } else {
                append(byte)
            }
            return
        }
        if inScalar && (MessageDecoding.isSpace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")) {
            finishScalar()
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            buffer = []
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if depth == 1 { pendingKey = nil }  // a structured value: not the id or the method
            depth += 1
            expectingKey = depth == 1 && byte == UInt8(ascii: "{")
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
        case UInt8(ascii: ","):
            expectingKey = depth == 1
        case UInt8(ascii: ":"):
            break
        default:
            if MessageDecoding.isSpace(byte) { break }
            if !inScalar {
                inScalar = true
                buffer = []
            }
            append(byte)
        }
    }

    private mutating func append(_ byte: UInt8) {
        if buffer.count < Self.bufferLimit { buffer.append(byte) }
    }

    private mutating func finishString() {
        guard depth == 1 else { return }
        let text = String(decoding: buffer, as: UTF8.self)
        if expectingKey {
            pendingKey = text
            expectingKey = false
        } else if let key = pendingKey {
            if key == "id" && id == nil { id = .string(text) }
            if key == "method" && method == nil { method = text }
            pendingKey = nil
        }
    }

    private mutating func finishScalar() {
        inScalar = false
        guard depth == 1 else { return }
        if pendingKey == "id", id == nil, let number = Int(String(decoding: buffer, as: UTF8.self)) { id = .number(number) }
        pendingKey = nil
    }
}

enum EnvelopeSniffer {
    /// The top-level id and method in `bytes`.
    static func sniff(_ bytes: [UInt8]) -> (id: RequestID?, method: String?) {
        var scanner = EnvelopeScanner()
        scanner.feed(bytes)
        scanner.feed([UInt8(ascii: " ")])
        return (scanner.id, scanner.method)
    }
}
