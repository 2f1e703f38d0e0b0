import Foundation

/// Where the shared server listens or the bridge connects: a unix socket path, or a loopback TCP port.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A unix stream socket at this path.
    case unix(String)
    /// TCP on a loopback host (`127.0.0.1`, `::1`); port 0 lets the kernel choose.
    case tcp(host: String, port: UInt16)

    /// Parses `unix:PATH`, `tcp:HOST:PORT` or `tcp:[::1]:PORT`; `auto` is the default unix socket.
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(HostError) {
        if text == "auto" {
            self = try Self.defaultUnix(environment: environment)
            return
        }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .invalidAddress(text, detail: "the path is empty") }
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            guard absolute.utf8.count < 108 else { throw .pathTooLong(absolute) }
            self = .unix(absolute)
            return
        }
        guard text.hasPrefix("tcp:") else { throw .invalidAddress(text, detail: "it starts with neither unix: nor tcp:") }
        let rest = text.dropFirst(4)
        let host: String, portText: Substring
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            guard rest[rest.index(after: close)...].hasPrefix(":") else { throw .invalidAddress(text, detail: "the port is missing") }
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw .invalidAddress(text, detail: "the port is missing") }
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        }
        guard let port = UInt16(portText) else { throw .invalidAddress(text, detail: "\"\(portText)\" is not a port number") }
        switch host {
        case "localhost", "127.0.0.1": self = .tcp(host: "127.0.0.1", port: port)
        case "::1": self = .tcp(host: "::1", port: port)
        default:
            // Any 127.x.y.z is loopback too.
            let parts = host.split(separator: ".")
            guard parts.count == 4, parts[0] == "127", parts.allSatisfy({ UInt8($0) != nil }) else { throw .notLoopback(text) }
            self = .tcp(host: host, port: port)
        }
    }

    /// `$XDG_RUNTIME_DIR/idpbuild/lsp.sock`: private to the user (systemd makes the runtime folder 0700).
    public static func defaultUnix(environment: [String: String]) throws(HostError) -> ListenAddress {
        guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { throw .noRuntimeDirectory }
        return .unix(runtime + "/idpbuild/lsp.sock")
    }

    /// The default token file next to the default socket: `$XDG_RUNTIME_DIR/idpbuild/lsp.token`.
    public static func defaultTokenFile(environment: [String: String]) throws(HostError) -> String {
        guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { throw .noRuntimeDirectory }
        return runtime + "/idpbuild/lsp.token"
    }

    /// `unix:PATH` or `tcp:HOST:PORT`, as the command line takes it.
    public var description: String {
        switch self {
        case .unix(let path): return "unix:" + path
        case let .tcp(host, port): return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        }
    }
}
