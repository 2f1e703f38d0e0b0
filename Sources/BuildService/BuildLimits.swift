import Foundation
import ResourceLimits
import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// How a build's resource limits are enforced here: a transient scope when a systemd user manager answers on
/// D-Bus, a cgroup the engine makes when running as root, otherwise none (the build runs unlimited, and says so).
public enum BuildLimits {
    /// The mechanism limits would use on this machine for this user, found without making anything.
    public static func mechanism(for limits: ResourceLimits = ResourceLimits(memoryBytes: minimumProbe, cpus: 1, pids: 1),
                                 layout: CgroupLayout = .current()) -> LimitMechanism {
        switch userManager() {
        case .success: return .systemdScope
        case .failure(let error): return cgroupMechanism(for: limits, layout: layout, userManagerProblem: error)
        }
    }

    /// Limits whose every controller is probed (memory, cpu and pids).
    public static let minimumProbe = ResourceLimits.minimumMemory

    /// Whether the systemd user manager answers on D-Bus (and why not).
    public static func userManagerStatus() -> Result<Void, SystemdError> { userManager().map { _ in () } }

    static func userManager() -> Result<UserManager, SystemdError> {
        do {
            return .success(try UserManager.connect())
        } catch {
            return .failure(error)
        }
    }

    static func cgroupMechanism(for limits: ResourceLimits, layout: CgroupLayout, userManagerProblem: SystemdError) -> LimitMechanism {
        let noManager = "no systemd user manager answers on D-Bus"
        guard geteuid() == 0 else {
            return .unavailable(reason: "\(noManager), and idpbuild is not root, so it cannot make a cgroup itself")
        }
        let (placement, missing) = layout.placement(for: limits)
        guard missing.isEmpty else {
            return .unavailable(reason: "\(noManager), and the \(missing.joined(separator: ", ")) controller is in no cgroup hierarchy (\(layout.summary))")
        }
        return .cgroup(versions: Array(Set(placement.values.map(\.version))).sorted())
    }

    /// The group one build runs in, or nil with a sentence saying why the limits are not enforced. Throws when a
    /// mechanism exists but refuses a limit (the error names it).
    public static func makeGroup(for limits: ResourceLimits, name: String, description: String,
                                 layout: CgroupLayout = .current()) throws(ResourceLimitsError) -> (group: (any LimitedGroup)?, notice: String?) {
        guard !limits.isEmpty else { return (nil, nil) }
        switch userManager() {
        case .success(let manager):
            return (ScopeGroup(name: name, description: description, limits: limits, manager: manager), nil)
        case .failure(let problem):
            switch cgroupMechanism(for: limits, layout: layout, userManagerProblem: problem) {
            case .cgroup:
                return (try CgroupGroup(name: name, limits: limits, layout: layout), nil)
            case .unavailable(let reason):
                return (nil, "the build runs without the limits asked for (\(limits.summary)): \(reason)")
            case .systemdScope:
                return (nil, nil)  // not reached: the manager was unreachable
            }
        }
    }

    /// The sentence for a step the kernel killed for lack of memory.
    static func outOfMemory(_ message: String?, limits: ResourceLimits) -> String {
        let limit = limits.memoryBytes.map { "the build's --memory limit of \(ResourceLimits.size($0))" } ?? "the memory limit"
        let what = message.map { $0.components(separatedBy: " failed with exit code").first ?? $0 } ?? "a step"
        return "\(what) ran out of memory: the kernel killed it at \(limit); raise --memory or make the step use less"
    }
}
