import Foundation
import ResourceLimits
#if canImport(Glibc)
import Glibc
#endif

/// Limits through a transient scope of a systemd manager (`Delegate=yes`, `MemoryMax`, `CPUQuota`, `TasksMax`) —
/// the user's, or the system's for root: the same interface as the engine's own cgroup. The scope starts around the first process added; the
/// manager removes it when its last process is gone. (No manager runs on the test machines: SystemdTests drive
/// this path against a stand-in on a real dbus-daemon.)
public final class ScopeGroup: LimitedGroup, @unchecked Sendable {
    /// The limits it enforces.
    public let limits: ResourceLimits
    private let manager: ServiceManager
    private let name: String
    private let description: String
    private let lock = NSLock()
    private var attempted = false
    private var started = false
    private var controlGroup: String?

    /// Prepares a scope `NAME.scope`; nothing is asked of the manager until a process is added.
    public init(name: String, description: String, limits: ResourceLimits, manager: ServiceManager) {
        self.limits = limits
        self.manager = manager
        self.name = name.hasSuffix(".scope") ? name : name + ".scope"
        self.description = description
    }

    /// Which mechanism enforces the limits.
    public var mechanism: LimitMechanism { .systemdScope(manager: manager.kind) }

    /// The unit's name.
    public var location: String { name }

    /// The transient-unit request for a scope `name` (`.scope` added when missing) around a first process.
    public static func request(name: String, description: String, limits: ResourceLimits, pid: Int32) -> TransientScope {
        TransientScope(name: name.hasSuffix(".scope") ? name : name + ".scope", description: description, pids: [UInt32(pid)],
                       memoryMax: limits.memoryBytes, cpuQuotaPerSecond: limits.cpus.map { UInt64(($0 * 1_000_000).rounded()) },
                       tasksMax: limits.pids.map { UInt64($0) })
    }

    /// Starts the scope around `pid` (later processes are moved by the manager's `AttachProcessesToUnit`, which the
    /// build never needs: the worker's children inherit its cgroup).
    public func add(_ pid: Int32) throws(ResourceLimitsError) {
        let first = lock.withLock { () -> Bool in
            defer { attempted = true }
            return !attempted
        }
        guard first else {
            throw .cannotPlace(pid: pid, location: name, detail: "the scope already runs; its processes' children join it by themselves")
        }
        do {
            try manager.startTransientScope(Self.request(name: name, description: description, limits: limits, pid: pid))
            let group = try? manager.unitProperty(name, "ControlGroup")
            lock.withLock {
                started = true
                controlGroup = group
            }
        } catch {
            throw .managerRefused(detail: error.description + Self.hint(error, limits: limits))
        }
    }

    /// Names the limit a refusal is about, when the manager's message does.
    static func hint(_ error: SystemdError, limits: ResourceLimits) -> String {
        guard case let .managerRefused(_, _, _, message) = error else { return "" }
        if message.contains("MemoryMax"), let bytes = limits.memoryBytes { return " (--memory \(ResourceLimits.size(bytes)))" }
        if message.contains("CPUQuota"), let cpus = limits.cpus { return " (--cpus \(cpus))" }
        if message.contains("TasksMax"), let pids = limits.pids { return " (--pids-limit \(pids))" }
        return ""
    }

    /// OOM kills in the scope's cgroup (`memory.events` under the unified hierarchy).
    public func outOfMemoryKills() -> Int {
        guard let group = lock.withLock({ controlGroup }), let unified = CgroupLayout.current().unified else { return 0 }
        let text = (try? String(contentsOfFile: unified.mountPoint + group + "/memory.events", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 && parts[0] == "oom_kill" { return Int(parts[1]) ?? 0 }
        }
        return 0
    }

    /// Kills every process of the scope through the manager.
    public func killAll() {
        guard lock.withLock({ started }) else { return }
        try? manager.killUnit(name, signal: SIGKILL)
    }

    /// Nothing to do: the manager removes a transient scope once it is empty.
    public func remove() {}
}
