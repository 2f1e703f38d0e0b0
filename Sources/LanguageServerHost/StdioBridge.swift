import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild lsp --connect`: joins standard input and output to a shared server's socket, for editors that can
/// only start a process. On TCP it adds the `Idpbuild-Token` header to the first message.
public enum StdioBridge {
    /// Connects and copies both ways until the server closes the connection; returns the exit status (0 when the
    /// server ended the session, 1 when the connection broke). Blocks the calling thread (and SIGPIPE on it: a
    /// vanished editor fails the write instead of killing the process).
    public static func run(_ address: ListenAddress, token: String?, input: Int32 = STDIN_FILENO,
                           output: Int32 = STDOUT_FILENO) throws(HostError) -> Int32 {
        let socket = try Sockets.connect(address)
        // The upstream thread owns the descriptor's close: it may still be waiting for input when the server ends.
        defer { shutdown(socket, Int32(SHUT_RDWR)) }
        blockBrokenPipeSignal()
        let upstream = Thread {
            blockBrokenPipeSignal()
            copyRequests(from: input, to: socket, token: token)
            // The editor is gone or done: the server sees the end of input and ends the session.
            shutdown(socket, Int32(SHUT_WR))
            close(socket)
        }
        upstream.name = "idpbuild-bridge-up"
        upstream.start()
        return copy(from: socket, to: output) ? 0 : 1
    }

    private static func blockBrokenPipeSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Copies until either side ends; true when the source ended cleanly.
    @discardableResult
    static func copy(from source: Int32, to destination: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count == 0 { return true }
            if count < 0 { return false }
            guard writeAll(destination, buffer[0..<count]) else { return false }
        }
    }

    /// Copies the client's messages, inserting the token header into the first one's header section.
    static func copyRequests(from source: Int32, to socket: Int32, token: String?) {
        guard let token else {
            copy(from: source, to: socket)
            return
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                _ = writeAll(socket, pending[...])
                return
            }
            pending += buffer[0..<count]
            if let end = SessionHost.headerEnd(pending) {
                let blank = pending[end - 2] == 0x0A && pending[end - 1] == 0x0A ? end - 1 : end - 2
                let line = Array("\(TokenFile.header): \(token)\r\n".utf8)
                pending.insert(contentsOf: line, at: blank)
                guard writeAll(socket, pending[...]) else { return }
                copy(from: source, to: socket)
                return
            }
            if pending.count > 8_192 {
                _ = writeAll(socket, pending[...])  // not LSP framing; the server answers with its error
                copy(from: source, to: socket)
                return
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == ENOTSOCK {
                let plain = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if plain <= 0 { return errno == EINTR ? true : false }
                offset += plain
                continue
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}
