#if canImport(Glibc)
import Glibc
#endif

/// Why limits could not be parsed or put in place; each description names the limit and what to try.
public enum ResourceLimitsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A limit's value is malformed or out of range.
    case invalidValue(option: String, value: String, detail: String)
    /// The kernel refused to set a limit (a write to a cgroup file failed).
    case kernelRefused(option: String, value: String, file: String, errno: Int32)
    /// A cgroup directory could not be made or a controller not enabled.
    case cgroupUnavailable(path: String, detail: String)
    /// A process could not be moved into the limited group.
    case cannotPlace(pid: Int32, location: String, detail: String)
    /// The service manager refused the transient scope or one of its limits.
    case managerRefused(detail: String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .invalidValue(option, value, detail):
            return "\(option) \(value): \(detail)"
        case let .kernelRefused(option, value, file, code):
            var hint = ""
            if option == "--cpus" { hint = "; CPU quotas must be at least 0.01 CPUs" }
            if option == "--memory" && code == EBUSY { hint = "; the group already uses more than that" }
            return "the kernel refused the limit \(option) \(value) (writing \(file): \(String(cString: strerror(code))))\(hint)"
        case let .cgroupUnavailable(path, detail):
            return "cannot make the build's cgroup \(path): \(detail)"
        case let .cannotPlace(pid, location, detail):
            return "cannot put the build worker (pid \(pid)) into \(location): \(detail)"
        case .managerRefused(let detail):
            return detail
        }
    }
}
