import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A cgroup the engine makes for one build (as root, without a service manager): a child of this process's own
/// cgroup in each hierarchy that carries a needed controller (v1, v2, or both on a hybrid machine), with the limits
/// written before any process joins. The outer cgroup's limits still apply above it.
public final class CgroupGroup: LimitedGroup, @unchecked Sendable {
    /// One directory of the group: a cgroup in one hierarchy and the controllers used there.
    struct Member {
        var path: String
        var version: Int
        var controllers: [String]
    }

    /// The limits it enforces.
    public let limits: ResourceLimits
    let members: [Member]
    /// The CFS period used for `--cpus` (100 ms, the kernel's default).
    static let cpuPeriod = 100_000

    /// Makes the group `name` under this process's cgroups with `limits` written; throws naming the limit the kernel
    /// refused, or the controller that is missing.
    public init(name: String, limits: ResourceLimits, layout: CgroupLayout = .current()) throws(ResourceLimitsError) {
        self.limits = limits
        let (placement, missing) = layout.placement(for: limits)
        if !missing.isEmpty {
            throw .cgroupUnavailable(path: name, detail: "the \(missing.joined(separator: ", ")) controller\(missing.count == 1 ? " is" : "s are") "
                + "available in no cgroup hierarchy this process can reach (\(layout.summary))")
        }
        var members: [Member] = []
        for (controller, hierarchy) in placement.sorted(by: { $0.key < $1.key }) {
            guard let parent = layout.directory(in: hierarchy) else { continue }
            let path = parent + "/" + name
            if let index = members.firstIndex(where: { $0.path == path }) {
                members[index].controllers.append(controller)
            } else {
                members.append(Member(path: path, version: hierarchy.version, controllers: [controller]))
            }
        }
        var made: [String] = []
        do throws(ResourceLimitsError) {
            for member in members {
                let parent = (member.path as NSString).deletingLastPathComponent
                if member.version == 2 {
                    // cgroup v2: a child gets a controller only when its parent lists it in cgroup.subtree_control.
                    let wanted = member.controllers.map { "+" + $0 }.joined(separator: " ")
                    if let code = Self.write(wanted, to: parent + "/cgroup.subtree_control") {
                        let hint = code == EBUSY
                            ? "this process's cgroup holds processes, so cgroup v2 cannot hand controllers to a child (the no-internal-processes rule); start idpbuild from a delegated cgroup or under a systemd user manager"
                            : String(cString: strerror(code))
                        throw ResourceLimitsError.cgroupUnavailable(path: member.path, detail: "cannot enable \(member.controllers.joined(separator: ", ")) in \(parent)/cgroup.subtree_control: \(hint)")
                    }
                }
                if mkdir(member.path, 0o755) != 0 {
                    let code = errno
                    // A group of the same name left by a killed build: reuse it only if nothing runs in it.
                    guard code == EEXIST, rmdir(member.path) == 0, mkdir(member.path, 0o755) == 0 else {
                        throw ResourceLimitsError.cgroupUnavailable(path: member.path, detail: String(cString: strerror(code == EEXIST ? errno : code)))
                    }
                }
                made.append(member.path)
                try Self.apply(limits, to: member)
            }
        } catch {
            for path in made.reversed() { rmdir(path) }
            throw error
        }
        self.members = members
    }

    /// Which mechanism enforces the limits.
    public var mechanism: LimitMechanism { .cgroup(versions: Array(Set(members.map(\.version))).sorted()) }

    /// The group's directories.
    public var location: String { members.map(\.path).joined(separator: " and ") }

    /// The directories, one per hierarchy used.
    public var directories: [String] { members.map(\.path) }

    /// Writes each limit into its controller's files.
    static func apply(_ limits: ResourceLimits, to member: Member) throws(ResourceLimitsError) {
        for controller in member.controllers {
            switch (controller, member.version) {
            case ("memory", let version):
                guard let bytes = limits.memoryBytes else { continue }
                let file = version == 1 ? "memory.limit_in_bytes" : "memory.max"
                try set(String(bytes), file, in: member.path, option: "--memory", shown: ResourceLimits.size(bytes))
                // Swap must not stretch the limit: v1 bounds memory+swap to the same value, v2 allows no swap.
                if version == 1 {
                    if FileManager.default.fileExists(atPath: member.path + "/memory.memsw.limit_in_bytes") {
                        try set(String(bytes), "memory.memsw.limit_in_bytes", in: member.path, option: "--memory", shown: ResourceLimits.size(bytes))
                    }
                } else if FileManager.default.fileExists(atPath: member.path + "/memory.swap.max") {
                    try set("0", "memory.swap.max", in: member.path, option: "--memory", shown: ResourceLimits.size(bytes))
                }
            case ("cpu", let version):
                guard let quota = limits.cpuQuota(period: cpuPeriod), let cpus = limits.cpus else { continue }
                if version == 1 {
                    try set(String(cpuPeriod), "cpu.cfs_period_us", in: member.path, option: "--cpus", shown: ResourceLimits.number(cpus))
                    try set(String(quota), "cpu.cfs_quota_us", in: member.path, option: "--cpus", shown: ResourceLimits.number(cpus))
                } else {
                    try set("\(quota) \(cpuPeriod)", "cpu.max", in: member.path, option: "--cpus", shown: ResourceLimits.number(cpus))
                }
            case ("pids", _):
                guard let pids = limits.pids else { continue }
                try set(String(pids), "pids.max", in: member.path, option: "--pids-limit", shown: String(pids))
            default:
                continue
            }
        }
    }

    private static func set(_ value: String, _ file: String, in directory: String, option: String, shown: String) throws(ResourceLimitsError) {
        if let code = write(value, to: directory + "/" + file) {
            throw .kernelRefused(option: option, value: shown, file: directory + "/" + file, errno: code)
        }
    }

    /// Writes a cgroup file in one `write` (the kernel parses each write on its own); returns errno on failure.
    static func write(_ value: String, to path: String) -> Int32? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        return written == bytes.count ? nil : (written < 0 ? errno : EIO)
    }

    /// Moves a process into every directory of the group.
    public func add(_ pid: Int32) throws(ResourceLimitsError) {
        for member in members {
            if let code = Self.write(String(pid), to: member.path + "/cgroup.procs") {
                throw .cannotPlace(pid: pid, location: member.path, detail: String(cString: strerror(code)))
            }
        }
    }

    /// The processes in the group now.
    public func processes() -> [Int32] {
        var found = Set<Int32>()
        for member in members {
            let text = (try? String(contentsOfFile: member.path + "/cgroup.procs", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") { if let pid = Int32(line) { found.insert(pid) } }
        }
        return found.sorted()
    }

    /// OOM kills counted by the memory controller (v1 `memory.oom_control`, v2 `memory.events`).
    public func outOfMemoryKills() -> Int {
        guard let member = members.first(where: { $0.controllers.contains("memory") }) else { return 0 }
        let file = member.version == 1 ? "/memory.oom_control" : "/memory.events"
        let text = (try? String(contentsOfFile: member.path + file, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 && parts[0] == "oom_kill" { return Int(parts[1]) ?? 0 }
        }
        return 0
    }

    /// SIGKILLs everything in the group (v2's `cgroup.kill` when the kernel has it) until it is empty, for at most
    /// two seconds.
    public func killAll() {
        for member in members where member.version == 2 {
            _ = Self.write("1", to: member.path + "/cgroup.kill")
        }
        let deadline = Date().addingTimeInterval(2)
        while true {
            let left = processes()
            if left.isEmpty || Date() > deadline { return }
            for pid in left { kill(pid, SIGKILL) }
            usleep(5_000)
        }
    }

    /// Removes the directories; processes still inside are killed first.
    public func remove() {
        let deadline = Date().addingTimeInterval(2)
        for member in members.reversed() {
            while rmdir(member.path) != 0 && errno == EBUSY && Date() < deadline {
                killAll()
                usleep(5_000)
            }
        }
    }
}
