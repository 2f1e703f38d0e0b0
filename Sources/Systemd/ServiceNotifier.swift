import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// One assignment in a `sd_notify` message (systemd's sd_notify(3) names).
public enum NotifyState: Sendable, Hashable {
    /// `READY=1`: start-up is finished.
    case ready
    /// `STATUS=…`: a one-line status shown by `systemctl status`.
    case status(String)
    /// `STOPPING=1`: the service is shutting down.
    case stopping
    /// `WATCHDOG=1`: a keep-alive ping.
    case watchdog
    /// `MAINPID=…`: the service's main process.
    case mainPID(Int32)

    /// The `KEY=value` text; a status loses its line breaks (the protocol is one assignment per line).
    public var assignment: String {
        switch self {
        case .ready: return "READY=1"
        case .status(let text):
            return "STATUS=" + String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        case .stopping: return "STOPPING=1"
        case .watchdog: return "WATCHDOG=1"
        case .mainPID(let pid): return "MAINPID=\(pid)"
        }
    }
}

/// Tells the service manager about the service's state through `sd_notify`: readiness, status, stopping, watchdog
/// pings. Without `NOTIFY_SOCKET` (not started by systemd, or `Type=simple`) every call is a no-op.
public struct ServiceNotifier: Sendable {
    /// Makes a notifier; it reads `NOTIFY_SOCKET` at each call, as libsystemd does.
    public init() {}

    /// Whether a service manager listens: `NOTIFY_SOCKET` is set in `environment`.
    public static func isExpected(environment: [String: String]) -> Bool {
        !(environment["NOTIFY_SOCKET"] ?? "").isEmpty
    }

    /// The message for a group of states: one assignment per line.
    public static func message(_ states: [NotifyState]) -> String {
        states.map(\.assignment).joined(separator: "\n")
    }

    /// Sends states in one datagram; returns false when no manager listens, throws when the socket refuses it.
    @discardableResult
    public func notify(_ states: [NotifyState]) throws(SystemdError) -> Bool {
        let result = sd_notify(0, Self.message(states))
        if result < 0 {
            let socket = getenv("NOTIFY_SOCKET").map { String(cString: $0) } ?? "NOTIFY_SOCKET"
            throw .notifyFailed(socket: socket, errno: -result)
        }
        return result > 0
    }

    /// The watchdog period the manager expects pings within (`WATCHDOG_USEC`, for this process per
    /// `WATCHDOG_PID`), or nil when no watchdog is enabled; ping at least twice per period.
    public static func watchdogPeriod() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    /// How often to ping for a watchdog period: half of it, as sd_watchdog_enabled(3) recommends.
    public static func pingInterval(for period: Duration) -> Duration { period / 2 }
}
