/// One `WWW-Authenticate` challenge: a scheme and its parameters (RFC 7235).
public struct AuthChallenge: Sendable, Hashable {
    /// The scheme, lowercased (`basic`, `bearer`).
    public var scheme: String
    /// Parameters by lowercased name (`realm`, `service`, `scope`, `error`).
    public var parameters: [String: String]

    /// Makes a challenge.
    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    /// Parses every challenge in a `WWW-Authenticate` value, e.g. `Bearer realm="https://h/v2/token",service="s",scope="*"`.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var result = [AuthChallenge]()
        let bytes = Array(header.utf8)
        var i = 0
        func skipSpace() { while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 } }
        func token() -> String {
            let start = i
            while i < bytes.count && bytes[i] != 0x20 && bytes[i] != 0x09 && bytes[i] != 0x3d && bytes[i] != 0x2c { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
        while i < bytes.count {
            skipSpace()
            while i < bytes.count && bytes[i] == 0x2c { i += 1; skipSpace() }
            let scheme = token()
            guard !scheme.isEmpty else { break }
            var params = [String: String]()
            while true {
                skipSpace()
                let save = i
                let name = token()
                skipSpace()
                guard !name.isEmpty, i < bytes.count, bytes[i] == 0x3d else { i = save; break }
                i += 1
                skipSpace()
                var value = [UInt8]()
                if i < bytes.count && bytes[i] == 0x22 {
                    i += 1
                    while i < bytes.count && bytes[i] != 0x22 {
                        if bytes[i] == 0x5c && i + 1 < bytes.count { i += 1 }
                        value.append(bytes[i]); i += 1
                    }
                    i += 1
                } else {
                    while i < bytes.count && bytes[i] != 0x2c && bytes[i] != 0x20 { value.append(bytes[i]); i += 1 }
                }
                params[name.lowercased()] = String(decoding: value, as: UTF8.self)
                skipSpace()
                if i < bytes.count && bytes[i] == 0x2c { i += 1 } else { break }
            }
            result.append(AuthChallenge(scheme: scheme, parameters: params))
        }
        return result
    }
}
