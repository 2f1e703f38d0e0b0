#if canImport(Glibc)
import Glibc
#endif

/// Why the shared server or the bridge could not listen, connect or authenticate; each says what to try.
public enum HostError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--listen`/`--connect` got an address it does not understand.
    case invalidAddress(String, detail: String)
    /// TCP was asked for on an address other than loopback.
    case notLoopback(String)
    /// A unix socket path does not fit `sun_path`.
    case pathTooLong(String)
    /// Another server already answers on the socket.
    case alreadyServing(path: String, pid: Int32?)
    /// A system call failed on an address.
    case socketFailed(operation: String, address: String, errno: Int32)
    /// Nothing listens on the address (for the bridge).
    case nobodyListening(address: String, errno: Int32)
    /// The token file is missing, unreadable, too weak or readable by others.
    case tokenFile(path: String, detail: String)
    /// `$XDG_RUNTIME_DIR` is needed for the default socket but not set.
    case noRuntimeDirectory
    /// A passed socket cannot be served (not a stream socket, or TCP not on loopback).
    case unusablePassedSocket(name: String, detail: String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .invalidAddress(text, detail):
            return "\(text) is not an address idpbuild lsp understands (\(detail)); use unix:PATH, tcp:127.0.0.1:PORT or auto"
        case .notLoopback(let text):
            return "\(text): idpbuild lsp serves TCP on loopback only (127.0.0.1, ::1 or localhost), so other machines cannot drive your builds; use unix:PATH or tcp:127.0.0.1:PORT"
        case .pathTooLong(let path):
            return "the socket path \(path) is longer than the 107 bytes a unix socket address holds; choose a shorter path"
        case let .alreadyServing(path, pid):
            let who = pid.map { " (pid \($0))" } ?? ""
            return "another idpbuild lsp already serves \(path)\(who): connect to it (idpbuild lsp --connect unix:\(path)) or stop it first"
        case let .socketFailed(operation, address, code):
            return "\(operation) \(address) failed: \(String(cString: strerror(code)))"
        case let .nobodyListening(address, code):
            return "nothing listens on \(address) (\(String(cString: strerror(code)))): start the server with `systemctl --user start idpbuild.socket` "
                + "or `idpbuild lsp --listen \(address)`"
        case let .tokenFile(path, detail):
            return "the token file \(path) \(detail)"
        case .noRuntimeDirectory:
            return "XDG_RUNTIME_DIR is not set, so there is no private place for the socket: set it (a 0700 folder of yours) or give --listen unix:PATH"
        case let .unusablePassedSocket(name, detail):
            return "the socket passed by systemd (\(name)) cannot be served: \(detail); check ListenStream= in idpbuild.socket"
        }
    }
}
