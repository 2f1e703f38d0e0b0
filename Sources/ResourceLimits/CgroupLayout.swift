import Foundation

/// Where this process's cgroups are, as mounted: v1 hierarchies (one per controller group), the v2 (unified)
/// hierarchy, or both (the "hybrid" layout of older systemd machines). Read from `/proc/self/mountinfo` and
/// `/proc/self/cgroup`.
public struct CgroupLayout: Sendable, Hashable {
    /// A mounted cgroup hierarchy.
    public struct Hierarchy: Sendable, Hashable {
        /// 1 or 2.
        public var version: Int
        /// Where it is mounted.
        public var mountPoint: String
        /// The cgroup shown at the mount point (not `/` inside a cgroup namespace or a bind mount).
        public var root: String
        /// The v1 controllers bound to it (empty for v2, whose controllers are listed per cgroup).
        public var controllers: [String]
    }

    /// The mounted hierarchies.
    public var hierarchies: [Hierarchy]
    /// This process's cgroup per hierarchy: v1 by controller, v2 under the key "".
    public var membership: [String: String]

    /// The layout of the calling process.
    public static func current() -> CgroupLayout {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let cgroup = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        return parse(mountinfo: mountinfo, cgroup: cgroup)
    }

    /// Parses the two files' texts.
    public static func parse(mountinfo: String, cgroup: String) -> CgroupLayout {
        var hierarchies: [Hierarchy] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4 else { continue }
            let type = fields[dash + 1]
            let root = unescape(fields[3]), mountPoint = unescape(fields[4])
            if type == "cgroup2" {
                hierarchies.append(Hierarchy(version: 2, mountPoint: mountPoint, root: root, controllers: []))
            } else if type == "cgroup" {
                let options = fields[dash + 3].split(separator: ",").map(String.init)
                let controllers = options.filter { !["rw", "ro"].contains($0) && !$0.contains("=") && !$0.hasPrefix("no") && $0 != "xattr" && $0 != "clone_children" }
                hierarchies.append(Hierarchy(version: 1, mountPoint: mountPoint, root: root, controllers: controllers))
            }
        }
        var membership: [String: String] = [:]
        for line in cgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                membership[""] = parts[2]
            } else {
                for controller in parts[1].split(separator: ",") where !controller.hasPrefix("name=") {
                    membership[String(controller)] = parts[2]
                }
            }
        }
        return CgroupLayout(hierarchies: hierarchies, membership: membership)
    }

    /// Octal escapes of mountinfo (`\040` for a space).
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == 0x5C, index + 3 < source.count,
               let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The v1 hierarchy a controller is bound to, if any.
    public func v1Hierarchy(for controller: String) -> Hierarchy? {
        hierarchies.first { $0.version == 1 && $0.controllers.contains(controller) }
    }

    /// The v2 hierarchy, if mounted.
    public var unified: Hierarchy? { hierarchies.first { $0.version == 2 } }

    /// This process's cgroup directory in a hierarchy (nil when it is outside what the mount shows).
    public func directory(in hierarchy: Hierarchy) -> String? {
        let key = hierarchy.version == 2 ? "" : (hierarchy.controllers.first ?? "")
        guard let path = membership[key] else { return nil }
        let root = hierarchy.root == "/" ? "" : hierarchy.root
        guard root.isEmpty || path == root || path.hasPrefix(root + "/") else { return nil }
        let relative = String(path.dropFirst(root.count))
        return hierarchy.mountPoint + (relative == "/" ? "" : relative)
    }

    /// The controllers the v2 cgroup of this process offers to its children (`cgroup.controllers`).
    public func unifiedControllers() -> [String] {
        guard let unified, let directory = directory(in: unified),
              let text = try? String(contentsOfFile: directory + "/cgroup.controllers", encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// The controllers a set of limits needs.
    public static func controllers(for limits: ResourceLimits) -> [String] {
        var needed: [String] = []
        if limits.memoryBytes != nil { needed.append("memory") }
        if limits.cpus != nil { needed.append("cpu") }
        if limits.pids != nil { needed.append("pids") }
        return needed
    }

    /// Where each controller of `limits` would be used: its v1 hierarchy, else the v2 hierarchy when this process's
    /// cgroup offers it. Nil (with the controllers missing) when one is available nowhere.
    public func placement(for limits: ResourceLimits) -> (placement: [String: Hierarchy], missing: [String]) {
        var placement: [String: Hierarchy] = [:]
        var missing: [String] = []
        let offered = unifiedControllers()
        for controller in Self.controllers(for: limits) {
            if let v1 = v1Hierarchy(for: controller), directory(in: v1) != nil {
                placement[controller] = v1
            } else if let unified, offered.contains(controller), directory(in: unified) != nil {
                placement[controller] = unified
            } else {
                missing.append(controller)
            }
        }
        return (placement, missing)
    }

    /// A short account for people: `v1 (memory, cpu, pids) + v2 (unified, no controllers)`.
    public var summary: String {
        var parts: [String] = []
        let v1 = hierarchies.filter { $0.version == 1 }.flatMap(\.controllers)
        if !v1.isEmpty { parts.append("v1 (\(v1.joined(separator: ", ")))") }
        if unified != nil {
            let offered = unifiedControllers()
            parts.append("v2 (\(offered.isEmpty ? "no controllers" : offered.joined(separator: ", ")))")
        }
        return parts.isEmpty ? "no cgroup hierarchy mounted" : parts.joined(separator: " + ")
    }
}
