import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The secret a TCP client must present (the `Idpbuild-Token` header of its first message): kept in a 0600 file of
/// the user, so only processes that can read that file can drive the server.
public enum TokenFile {
    /// The header name clients send the token in.
    public static let header = "Idpbuild-Token"

    /// Reads the token, making the file (and its 0700 folder) with a fresh random token when it does not exist.
    public static func loadOrCreate(_ path: String) throws(HostError) -> String {
        if FileManager.default.fileExists(atPath: path) { return try read(path) }
        let folder = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: folder), mkdir(folder, 0o700) != 0, errno != EEXIST {
            throw .tokenFile(path: path, detail: "cannot be made: its folder \(folder) cannot be created (\(String(cString: strerror(errno))))")
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return try read(path) }  // another server made it first
            throw .tokenFile(path: path, detail: "cannot be created: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array((token + "\n").utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            unlink(path)
            throw .tokenFile(path: path, detail: "cannot be written: \(String(cString: strerror(errno)))")
        }
        return token
    }

    /// Reads an existing token file; refuses one that others can read or write, or that holds a short token.
    public static func read(_ path: String) throws(HostError) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .tokenFile(path: path, detail: "cannot be read: \(String(cString: strerror(errno))); the server makes it when it listens on TCP")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw .tokenFile(path: path, detail: "can be read or written by other users (mode \(String(status.st_mode & 0o777, radix: 8))): run chmod 600 \(path)")
        }
        guard status.st_uid == geteuid() else {
            throw .tokenFile(path: path, detail: "belongs to uid \(status.st_uid), not to you (uid \(geteuid()))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .tokenFile(path: path, detail: "cannot be read as text")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.utf8.count >= 32, !token.contains(where: \.isWhitespace) else {
            throw .tokenFile(path: path, detail: "holds a token shorter than 32 characters (or with spaces); delete it and the server makes a new one")
        }
        return token
    }

    /// Compares in time independent of where the strings differ.
    static func matches(_ presented: String, _ expected: String) -> Bool {
        let a = Array(presented.utf8), b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    /// The token in a frame's header section (`Idpbuild-Token: …`, name case-insensitive), if present.
    static func presented(in headerSection: [UInt8]) -> String? {
        let text = String(decoding: headerSection, as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == header.lowercased() {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
