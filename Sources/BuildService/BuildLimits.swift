import Foundation
import ResourceLimits
import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// How a build's resource limits are enforced here: a transient scope when a systemd manager answers on D-Bus (the
/// user's; for root also the system's), a cgroup the engine makes when running as root without one, otherwise none
/// (the build runs unlimited, and says so).
public enum BuildLimits {
    /// The mechanism limits would use on this machine for this user, found without making anything.
    public static func mechanism(for limits: ResourceLimits = ResourceLimits(memoryBytes: minimumProbe, cpus: 1, pids: 1),
                                 layout: CgroupLayout = .current()) -> LimitMechanism {
        switch manager() {
        case .success(let manager): return .systemdScope(manager: manager.kind)
        case .failure: return cgroupMechanism(for: limits, layout: layout)
        }
    }

    /// Limits whose every controller is probed (memory, cpu and pids).
    public static let minimumProbe = ResourceLimits.minimumMemory

    /// The manager that would hold build scopes: the user's; for root, the system's when the user's is not there.
    static func manager() -> Result<ServiceManager, SystemdError> {
        do {
            return .success(try ServiceManager.connectUser())
        } catch let userProblem {
            guard geteuid() == 0 else { return .failure(userProblem) }
            do {
                return .success(try ServiceManager.connectSystem())
            } catch {
                return .failure(userProblem)
            }
        }
    }

    static func cgroupMechanism(for limits: ResourceLimits, layout: CgroupLayout) -> LimitMechanism {
        guard geteuid() == 0 else {
            return .unavailable(reason: "no systemd user manager answers on D-Bus, and idpbuild is not root, so it cannot make a cgroup itself")
        }
        let (placement, missing) = layout.placement(for: limits)
        guard missing.isEmpty else {
            return .unavailable(reason: "no systemd manager answers on D-Bus, and the \(missing.joined(separator: ", ")) controller is in no cgroup hierarchy (\(layout.summary))")
        }
        return .cgroup(versions: Array(Set(placement.values.map(\.version))).sorted())
    }

    /// The group one build runs in, or nil with a sentence saying why the limits are not enforced. Throws when a
    /// mechanism exists but refuses a limit (the error names it).
    public static func makeGroup(for limits: ResourceLimits, name: String, description: String,
                                 layout: CgroupLayout = .current()) throws(ResourceLimitsError) -> (group: (any LimitedGroup)?, notice: String?) {
        guard !limits.isEmpty else { return (nil, nil) }
        if case .success(let manager) = manager() {
            return (ScopeGroup(name: name, description: description, limits: limits, manager: manager), nil)
        }
        return try localGroup(for: limits, name: name, layout: layout)
    }

    /// Without a manager: the engine's own cgroup (as root), or nil and the notice.
    static func localGroup(for limits: ResourceLimits, name: String, layout: CgroupLayout) throws(ResourceLimitsError)
        -> (group: (any LimitedGroup)?, notice: String?) {
        switch cgroupMechanism(for: limits, layout: layout) {
        case .unavailable(let reason):
            return (nil, "the build runs without the limits asked for (\(limits.summary)): \(reason)")
        default:
            return (try CgroupGroup(name: name, limits: limits, layout: layout), nil)
        }
    }

    /// The sentence for a step the kernel killed for lack of memory.
    static func outOfMemory(_ message: String?, limits: ResourceLimits) -> String {
        let limit = limits.memoryBytes.map { "the build's --memory limit of \(ResourceLimits.size($0))" } ?? "the memory limit"
        let what = message.map { $0.components(separatedBy: " failed with exit code").first ?? $0 } ?? "a step"
        return "\(what)\(outOfMemoryPhrase)\(limit); raise --memory or make the step use less"
    }

    private static let outOfMemoryPhrase = " ran out of memory: the kernel killed it at "

    /// Whether a failed step's message is the out-of-memory sentence (its exit code, 137, says less).
    public static func isOutOfMemory(_ message: String?) -> Bool { message?.contains(outOfMemoryPhrase) ?? false }
}
