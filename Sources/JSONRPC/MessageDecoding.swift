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

/// Finds the top-level `"id"` and `"method"` of a JSON object from its first bytes, without decoding it all:
/// used for messages too large to read, so their error can still name the request.
enum EnvelopeSniffer {
    static func sniff(_ bytes: [UInt8]) -> (id: RequestID?, method: String?) {
        var index = 0
        var depth = 0
        var id: RequestID?
        var method: String?
        var pendingKey: String?
        var expectingKey = false
        func skipSpace() { while index < bytes.count && MessageDecoding.isSpace(bytes[index]) { index += 1 } }
        func readString() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            var raw: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < bytes.count else { return nil }
                    raw.append(bytes[index + 1] == UInt8(ascii: "n") ? 0x0A : bytes[index + 1])
                    index += 2
                    continue
                }
                index += 1
                if byte == UInt8(ascii: "\"") { return String(decoding: raw, as: UTF8.self) }
                raw.append(byte)
            }
            return nil
        }
        while index < bytes.count {
            skipSpace()
            guard index < bytes.count else { break }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                depth += 1
                index += 1
                expectingKey = depth == 1
            case UInt8(ascii: "["):
                depth += 1
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
                if depth == 0 { return (id, method) }
            case UInt8(ascii: ","):
                index += 1
                expectingKey = depth == 1
            case UInt8(ascii: ":"):
                index += 1
            case UInt8(ascii: "\""):
                guard let text = readString() else { return (id, method) }
                if depth == 1 && expectingKey {
                    pendingKey = text
                    expectingKey = false
                } else if depth == 1, let key = pendingKey {
                    if key == "id" { id = .string(text) }
                    if key == "method" { method = text }
                    pendingKey = nil
                }
            default:
                let start = index
                while index < bytes.count, !MessageDecoding.isSpace(bytes[index]),
                      ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[index]) {
                    index += 1
                }
                if depth == 1, pendingKey == "id", let number = Int(String(decoding: bytes[start..<index], as: UTF8.self)) {
                    id = .number(number)
                }
                if depth == 1 { pendingKey = nil }
            }
            if id != nil && method != nil { break }
        }
        return (id, method)
    }
}
