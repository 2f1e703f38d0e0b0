import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The socket calls of the shared server and the bridge: listening with stale-socket recovery, connecting, and
/// reading who is on the other end.
enum Sockets {
    /// The peer of a unix socket (`SO_PEERCRED`).
    struct Credentials { var pid: Int32, uid: UInt32, gid: UInt32 }

    static let stream = Int32(SOCK_STREAM.rawValue)

    /// Listens on `address`: a unix socket becomes 0600 in a 0700 folder made when missing; a socket file nobody
    /// answers on (left by a killed server) is replaced; one a server answers on is an error. Returns the
    /// descriptor and the address bound (with the kernel's port for `tcp:…:0`).
    static func listen(_ address: ListenAddress, log: (String) -> Void) throws(HostError) -> (Int32, ListenAddress) {
        switch address {
        case .unix(let path):
            let folder = (path as NSString).deletingLastPathComponent
            if !FileManager.default.fileExists(atPath: folder) {
                guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
                    throw .socketFailed(operation: "making the folder", address: folder, errno: errno)
                }
            }
            let fd = try socket(AF_UNIX, address)
            var result = bindUnix(fd, path)
            if result != 0 && errno == EADDRINUSE {
                // A live server answers; a stale file refuses. Only the stale one is removed.
                if let other = try? connect(address) {
                    let pid = peerCredentials(other)?.pid
                    close(other)
                    close(fd)
                    throw .alreadyServing(path: path, pid: pid)
                }
                log("removed the stale socket file \(path) (no server answered on it)")
                unlink(path)
                result = bindUnix(fd, path)
            }
            guard result == 0 else {
                let code = errno
                close(fd)
                throw .socketFailed(operation: "binding", address: address.description, errno: code)
            }
            chmod(path, 0o600)
            try startListening(fd, address)
            return (fd, address)
        case let .tcp(host, port):
            let family = host.contains(":") ? AF_INET6 : AF_INET
            let fd = try socket(family, address)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let result = withInetAddress(host: host, port: port) { bind(fd, $0, $1) }
            guard result == 0 else {
                let code = errno
                close(fd)
                throw .socketFailed(operation: "binding", address: address.description, errno: code)
            }
            try startListening(fd, address)
            return (fd, .tcp(host: host, port: localPort(fd) ?? port))
        }
    }

    /// Connects to a listening server.
    static func connect(_ address: ListenAddress) throws(HostError) -> Int32 {
        let fd: Int32
        let result: Int32
        switch address {
        case .unix(let path):
            fd = try socket(AF_UNIX, address)
            var storage = sockaddr_un()
            fill(&storage, path)
            result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        case let .tcp(host, port):
            fd = try socket(host.contains(":") ? AF_INET6 : AF_INET, address)
            result = withInetAddress(host: host, port: port) { Glibc.connect(fd, $0, $1) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            if [ENOENT, ECONNREFUSED].contains(code) { throw .nobodyListening(address: address.description, errno: code) }
            throw .socketFailed(operation: "connecting to", address: address.description, errno: code)
        }
        return fd
    }

    /// Accepts a connection (close-on-exec); nil when none is pending or the call failed.
    static func accept(_ listener: Int32) -> Int32? {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// The peer process of a unix socket.
    static func peerCredentials(_ fd: Int32) -> Credentials? {
        var raw = (Int32(0), UInt32(0), UInt32(0))  // struct ucred: pid, uid, gid
        var length = socklen_t(MemoryLayout.size(ofValue: raw))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &raw, &length) == 0 else { return nil }
        return Credentials(pid: raw.0, uid: raw.1, gid: raw.2)
    }

    /// What a (passed) listening socket is: its family, whether TCP is on loopback, and an address for logs.
    static func describe(_ fd: Int32) -> (family: Int32, stream: Bool, loopback: Bool, text: String)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { return nil }
        var type: Int32 = 0
        var typeLength = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength)
        let family = Int32(storage.ss_family)
        switch family {
        case AF_UNIX:
            let path = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                }
            }
            return (family, type == stream, true, "unix:" + path)
        case AF_INET:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee } }
            let host = UInt32(bigEndian: address.sin_addr.s_addr)
            let text = "\(host >> 24).\((host >> 16) & 255).\((host >> 8) & 255).\(host & 255)"
            return (family, type == stream, host >> 24 == 127, "tcp:\(text):\(UInt16(bigEndian: address.sin_port))")
        case AF_INET6:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee } }
            var loopbackAddress = in6addr_loopback
            let loopback = memcmp(withUnsafePointer(to: address.sin6_addr) { UnsafeRawPointer($0) },
                                  withUnsafePointer(to: &loopbackAddress) { UnsafeRawPointer($0) }, 16) == 0
            var buffer = [CChar](repeating: 0, count: 64)
            var addr = address.sin6_addr
            inet_ntop(AF_INET6, &addr, &buffer, 64)
            let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return (family, type == stream, loopback, "tcp:[\(host)]:\(UInt16(bigEndian: address.sin6_port))")
        default:
            return (family, type == stream, false, "a socket of family \(family)")
        }
    }

    private static func socket(_ family: Int32, _ address: ListenAddress) throws(HostError) -> Int32 {
        let fd = Glibc.socket(family, stream | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socketFailed(operation: "creating a socket for", address: address.description, errno: errno) }
        return fd
    }

    private static func startListening(_ fd: Int32, _ address: ListenAddress) throws(HostError) {
        guard Glibc.listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw .socketFailed(operation: "listening on", address: address.description, errno: code)
        }
    }

    private static func fill(_ storage: inout sockaddr_un, _ path: String) {
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    private static func bindUnix(_ fd: Int32, _ path: String) -> Int32 {
        var storage = sockaddr_un()
        fill(&storage, path)
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func withInetAddress(host: String, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }

    private static func localPort(_ fd: Int32) -> UInt16? {
        guard let text = describe(fd)?.text, let colon = text.lastIndex(of: ":") else { return nil }
        return UInt16(text[text.index(after: colon)...])
    }
}

/// Whether a server answers on a unix socket (for `idpbuild info`).
public enum SocketProbe {
    /// Connects to `path`; the caller closes the descriptor.
    public static func connect(_ path: String) throws(HostError) -> Int32 { try Sockets.connect(.unix(path)) }
}
