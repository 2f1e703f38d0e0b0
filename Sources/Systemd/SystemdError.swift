#if canImport(Glibc)
import Glibc
#endif

/// Why a call into libsystemd failed; each description says what failed and what to try.
public enum SystemdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `sd_notify` could not reach the socket in `NOTIFY_SOCKET`.
    case notifyFailed(socket: String, errno: Int32)
    /// `sd_listen_fds_with_names` refused the passed descriptors (`LISTEN_FDS` malformed, or a descriptor is invalid).
    case listenFDsInvalid(errno: Int32)
    /// `sd_journal_sendv` could not deliver an entry to journald.
    case journalUnavailable(errno: Int32)
    /// A journal field name that journald would drop.
    case invalidFieldName(String)
    /// No systemd manager (`user` or `system`) answered on its bus.
    case managerUnreachable(manager: String, detail: String)
    /// The user manager refused a call (its D-Bus error name and message).
    case managerRefused(call: String, unit: String, name: String, message: String)
    /// A transient unit did not become active before the deadline.
    case unitNotActive(unit: String, state: String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .notifyFailed(socket, code):
            return "cannot notify the service manager on \(socket): \(Self.text(code)); check NOTIFY_SOCKET and NotifyAccess= of the unit"
        case .listenFDsInvalid(let code):
            return "the sockets passed by socket activation (LISTEN_FDS) are unusable: \(Self.text(code)); check the .socket unit"
        case .journalUnavailable(let code):
            return "cannot write to the journal (/run/systemd/journal/socket): \(Self.text(code)); is systemd-journald running? Use --log stderr instead"
        case .invalidFieldName(let name):
            return "\"\(name)\" is not a valid journal field name: use up to 64 characters A-Z, 0-9 and _, starting with a letter"
        case let .managerUnreachable(manager, detail):
            let hint = manager == "user" ? "limits need `systemctl --user` to work, or run as root so the engine can make a cgroup itself"
                : "as root without it, the engine makes a cgroup itself"
            return "no systemd \(manager) manager is reachable over D-Bus (\(detail)); \(hint)"
        case let .managerRefused(call, unit, name, message):
            return "the systemd manager refused \(call) for \(unit): \(message) (\(name))"
        case let .unitNotActive(unit, state):
            return "the transient unit \(unit) did not become active (its state is \(state)); see `systemctl --user status \(unit)` (or `systemctl status` for root's)"
        }
    }

    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}
