#if canImport(Glibc)
import Glibc
#endif

/// One line of a user namespace ID map: `count` IDs starting at `containerID` inside are `hostID...` outside.
public struct IDMapEntry: Sendable, Equatable, Codable {
    /// First ID inside the namespace.
    public var containerID: UInt32
    /// First ID outside the namespace.
    public var hostID: UInt32
    /// Number of consecutive IDs.
    public var count: UInt32

    /// Creates a map entry.
    public init(containerID: UInt32, hostID: UInt32, count: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.count = count
    }
}

/// The uid and gid maps of a sandbox's user namespace (empty when the caller is root and no namespace is made).
public struct IDMapping: Sendable, Equatable, Codable {
    /// The uid map.
    public var uids: [IDMapEntry]
    /// The gid map.
    public var gids: [IDMapEntry]

    /// Creates a mapping.
    public init(uids: [IDMapEntry], gids: [IDMapEntry]) {
        self.uids = uids
        self.gids = gids
    }

    /// No user namespace: container IDs are host IDs.
    public static let identity = IDMapping(uids: [], gids: [])

    /// True when only the caller's own uid is mapped (no subordinate ranges).
    public var isSingleID: Bool { uids.count == 1 && uids[0].count == 1 }

    /// The host uid of a container uid, or `nil` when unmapped.
    public func hostUID(_ id: UInt32) -> UInt32? { Self.translate(id, uids, inside: true) }
    /// The container uid of a host uid, or `nil` when unmapped.
    public func containerUID(_ id: UInt32) -> UInt32? { Self.translate(id, uids, inside: false) }
    /// The host gid of a container gid, or `nil` when unmapped.
    public func hostGID(_ id: UInt32) -> UInt32? { Self.translate(id, gids, inside: true) }
    /// The container gid of a host gid, or `nil` when unmapped.
    public func containerGID(_ id: UInt32) -> UInt32? { Self.translate(id, gids, inside: false) }

    private static func translate(_ id: UInt32, _ map: [IDMapEntry], inside: Bool) -> UInt32? {
        if map.isEmpty { return id }
        for entry in map {
            let from = inside ? entry.containerID : entry.hostID
            let to = inside ? entry.hostID : entry.containerID
            if id >= from && UInt64(id) < UInt64(from) + UInt64(entry.count) { return to + (id - from) }
        }
        return nil
    }
}

/// Where a rootless caller's subordinate ID ranges come from, and whether a single-ID mapping is acceptable.
public struct SubordinateIDPolicy: Sendable {
    /// The subordinate uid file (`/etc/subuid`).
    public var uidFile: String
    /// The subordinate gid file (`/etc/subgid`).
    public var gidFile: String
    /// Fall back to mapping only the caller's own uid and gid (with a warning) when no range exists.
    public var allowSingleIDFallback: Bool

    /// Creates a policy; the defaults are the system files and fallback allowed.
    public init(uidFile: String = "/etc/subuid", gidFile: String = "/etc/subgid", allowSingleIDFallback: Bool = true) {
        self.uidFile = uidFile
        self.gidFile = gidFile
        self.allowSingleIDFallback = allowSingleIDFallback
    }

    /// The mapping for an unprivileged caller: container root is the caller, 1... are its subordinate IDs.
    /// Returns a warning when it had to fall back to a single-ID mapping.
    public func mapping(user: String, uid: UInt32, gid: UInt32) throws -> (IDMapping, warning: String?) {
        let uidRanges = Self.ranges(in: uidFile, user: user, id: uid)
        let gidRanges = Self.ranges(in: gidFile, user: user, id: uid)
        if !uidRanges.isEmpty && !gidRanges.isEmpty {
            return (IDMapping(uids: Self.entries(own: uid, ranges: uidRanges),
                              gids: Self.entries(own: gid, ranges: gidRanges)), nil)
        }
        let file = uidRanges.isEmpty ? uidFile : gidFile
        guard allowSingleIDFallback else { throw SandboxError.noSubordinateRange(user: user, file: file) }
        let warning = "user \(user) has no range in \(file): using a single-ID mapping (only container root exists; " +
            "chown to other IDs will fail). Add a range with `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)`."
        return (IDMapping(uids: [IDMapEntry(containerID: 0, hostID: uid, count: 1)],
                          gids: [IDMapEntry(containerID: 0, hostID: gid, count: 1)]), warning)
    }

    private static func entries(own: UInt32, ranges: [(UInt32, UInt32)]) -> [IDMapEntry] {
        var result = [IDMapEntry(containerID: 0, hostID: own, count: 1)]
        var next: UInt32 = 1
        for (start, count) in ranges {
            result.append(IDMapEntry(containerID: next, hostID: start, count: count))
            next += count
        }
        return result
    }

    /// The `start:count` ranges of `user` (by name or numeric id) in a subuid/subgid file.
    static func ranges(in file: String, user: String, id: UInt32) -> [(UInt32, UInt32)] {
        guard let text = try? readText(file) else { return [] }
        var result: [(UInt32, UInt32)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == user || fields[0] == String(id),
                  let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0 else { continue }
            result.append((start, count))
        }
        return result
    }
}

/// Reads a whole (small) file as UTF-8.
func readText(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SandboxError.system(call: "open \(path)", errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw SandboxError.system(call: "read \(path)", errno: errno) }
        if n == 0 { break }
        bytes.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
