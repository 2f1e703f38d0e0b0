import BuildEvents
import Systemd

/// Log lines (the language server's, the socket server's) as journal entries: the level becomes `PRIORITY`, the
/// text passes the redactor, and each entry carries `IDPBUILD_COMPONENT` (and `IDPBUILD_SESSION` when given).
public struct JournalLog: Sendable {
    /// Levels of the log, most important first.
    public enum Level: Sendable { case error, warning, info, debug }

    private let component: String
    private let redactor: SecretRedactor
    private let send: @Sendable (JournalEntry) throws(SystemdError) -> Void

    /// Makes a journal log for a component (`lsp`); `send` defaults to journald.
    public init(component: String, redactor: SecretRedactor = SecretRedactor(),
                send: @escaping @Sendable (JournalEntry) throws(SystemdError) -> Void = { entry throws(SystemdError) in try Journal().send(entry) }) {
        self.component = component
        self.redactor = redactor
        self.send = send
    }

    /// The entry for a line.
    public func entry(_ level: Level, _ message: String, session: Int? = nil) -> JournalEntry {
        let priority: JournalPriority = switch level {
        case .error: .error
        case .warning: .warning
        case .info: .info
        case .debug: .debug
        }
        var entry = JournalEntry(message: redactor.redact(message), priority: priority)
        try? entry.add("IDPBUILD_COMPONENT", component)
        if let session { try? entry.add("IDPBUILD_SESSION", String(session)) }
        return entry
    }

    /// Sends a line; returns false when journald refused it (the caller may fall back to standard error).
    @discardableResult
    public func log(_ level: Level, _ message: String, session: Int? = nil) -> Bool {
        do {
            try send(entry(level, message, session: session))
            return true
        } catch {
            return false
        }
    }
}
