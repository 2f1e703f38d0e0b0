#if canImport(Glibc)
import Glibc
#endif

/// The numeric identity a `USER` value resolves to inside a root filesystem.
public struct ResolvedUser: Sendable, Equatable {
    /// The uid.
    public var uid: UInt32
    /// The primary gid.
    public var gid: UInt32
    /// Supplementary gids (membership in /etc/group), when no group was given explicitly.
    public var supplementaryGroups: [UInt32]
    /// The home directory from /etc/passwd, or `/`.
    public var home: String

    /// Creates a resolved identity.
    public init(uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32], home: String) {
        self.uid = uid
        self.gid = gid
        self.supplementaryGroups = supplementaryGroups
        self.home = home
    }
}

/// Resolves `USER` values (`name`, `uid`, `name:group`, `uid:gid`) the way Docker does, reading /etc/passwd
/// and /etc/group from the layered root filesystem (topmost layer that has the file wins).
public struct UserResolver: Sendable {
    /// Layer directories, topmost first.
    public var layersTopFirst: [String]

    /// Creates a resolver over layers given topmost first.
    public init(layersTopFirst: [String]) {
        self.layersTopFirst = layersTopFirst
    }

    /// Resolves a `USER` value; `nil` or empty is root.
    public func resolve(_ spec: String?) throws -> ResolvedUser {
        guard let spec, !spec.isEmpty else {
            let home = (try? passwd().1.first { $0.uid == 0 }?.home) ?? nil
            return ResolvedUser(uid: 0, gid: 0, supplementaryGroups: [], home: home ?? "/root")
        }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else { throw SandboxError.invalidUser(spec) }
        let (passwdPath, users) = try passwd()
        var uid: UInt32
        var gid: UInt32 = 0
        var home = "/"
        var name: String?
        if let number = UInt32(parts[0]) {
            uid = number
            if let entry = users.first(where: { $0.uid == number }) {
                gid = entry.gid; home = entry.home; name = entry.name
            }
        } else {
            guard let entry = users.first(where: { $0.name == parts[0] }) else {
                throw SandboxError.unknownUser(user: parts[0], passwd: passwdPath)
            }
            uid = entry.uid; gid = entry.gid; home = entry.home; name = entry.name
        }
        var supplementary: [UInt32] = []
        let (groupPath, groups) = try group()
        if parts.count == 2 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else {
                guard let entry = groups.first(where: { $0.name == parts[1] }) else {
                    throw SandboxError.unknownGroup(group: parts[1], groupFile: groupPath)
                }
                gid = entry.gid
            }
        } else if let name {
            supplementary = groups.filter { $0.members.contains(name) && $0.gid != gid }.map(\.gid)
        }
        return ResolvedUser(uid: uid, gid: gid, supplementaryGroups: supplementary, home: home)
    }

    struct PasswdEntry { var name: String; var uid: UInt32; var gid: UInt32; var home: String }
    struct GroupEntry { var name: String; var gid: UInt32; var members: [String] }

    private func passwd() throws -> (String?, [PasswdEntry]) {
        guard let (path, text) = try find("etc/passwd") else { return (nil, []) }
        let entries: [PasswdEntry] = text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f[5].isEmpty ? "/" : String(f[5]))
        }
        return (path, entries)
    }

    private func group() throws -> (String?, [GroupEntry]) {
        guard let (path, text) = try find("etc/group") else { return (nil, []) }
        let entries: [GroupEntry] = text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, let gid = UInt32(f[2]) else { return nil }
            return GroupEntry(name: String(f[0]), gid: gid, members: f[3].split(separator: ",").map(String.init))
        }
        return (path, entries)
    }

    /// The topmost layer's copy of `relative`; a whiteout (`.wh.name` or an overlay 0/0 device) hides lower ones.
    private func find(_ relative: String) throws -> (String, String)? {
        let dir = relative.split(separator: "/").dropLast().joined(separator: "/")
        let base = relative.split(separator: "/").last.map(String.init) ?? relative
        for layer in layersTopFirst {
            let path = layer + "/" + relative
            var st = stat()
            if lstat(path, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFREG { return (path, try readText(path)) }
                return nil
            }
            if lstat(layer + "/" + dir + "/.wh." + base, &st) == 0 { return nil }
        }
        return nil
    }
}
