/// A group of processes held to `ResourceLimits`: a cgroup the engine made, or a systemd transient scope. The
/// build service makes one per build, adds the worker before it starts work (its children follow), asks it after a
/// failure whether the kernel killed something for lack of memory, kills what is left on cancel, and removes it.
public protocol LimitedGroup: AnyObject, Sendable {
    /// Which mechanism enforces the limits, for messages and `idpbuild info`.
    var mechanism: LimitMechanism { get }
    /// Where the group is (a cgroup directory, a unit name), for messages.
    var location: String { get }
    /// The limits it enforces.
    var limits: ResourceLimits { get }
    /// Moves a process (and its future children) into the group.
    func add(_ pid: Int32) throws(ResourceLimitsError)
    /// How many processes of the group the kernel's OOM killer has killed so far.
    func outOfMemoryKills() -> Int
    /// Kills every process still in the group (SIGKILL) and waits a little for them to go.
    func killAll()
    /// Removes the group (after its processes are gone).
    func remove()
}

/// How limits are enforced on this machine, from the most to the least capable.
public enum LimitMechanism: Sendable, Hashable, CustomStringConvertible {
    /// A transient scope (`Delegate=yes`) of a systemd manager over D-Bus: the user's, or the system's for root.
    case systemdScope(manager: String)
    /// A cgroup the engine makes itself (as root), in these hierarchies.
    case cgroup(versions: [Int])
    /// No limits: why not.
    case unavailable(reason: String)

    /// A phrase for people.
    public var description: String {
        switch self {
        case .systemdScope(let manager): return "a transient scope of the systemd \(manager) manager"
        case .cgroup(let versions):
            return "a cgroup made by idpbuild (cgroup " + versions.map { "v\($0)" }.joined(separator: " and ") + ")"
        case .unavailable(let reason): return "none (\(reason))"
        }
    }
}
