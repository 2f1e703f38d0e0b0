import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// Where logs and build output go (`--log`).
public enum LogDestination: String, Sendable, CaseIterable, Hashable {
    /// The journal when running under systemd with standard error connected to it (`JOURNAL_STREAM`), else stderr.
    case auto
    /// Plain lines on standard error.
    case stderr
    /// Structured entries in the journal (`sd_journal_sendv`).
    case journald

    /// Resolves `auto`: the journal when `JOURNAL_STREAM` names standard error (systemd.exec(5)), else standard
    /// error. `stderr` and `journald` stay as they are.
    public func resolved(environment: [String: String], standardError: Int32 = STDERR_FILENO) -> LogDestination {
        guard self == .auto else { return self }
        return Journal.isConnected(descriptor: standardError, environment: environment) ? .journald : .stderr
    }

    /// Why an explicit `journald` will lose entries here (no journald socket), for a warning; nil when fine.
    public static func journaldProblem() -> String? {
        Journal.isAvailable ? nil
            : "--log journald: journald's socket \(Journal.socketPath) does not exist, so log entries are dropped; use --log stderr"
    }
}
