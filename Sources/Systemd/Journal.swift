import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// syslog priorities as journald stores them in `PRIORITY`.
public enum JournalPriority: Int, Sendable, Hashable, CaseIterable {
    case emergency = 0, alert, critical, error, warning, notice, info, debug
}

/// One journal entry: `MESSAGE`, `PRIORITY` and further fields, sent in order.
public struct JournalEntry: Sendable, Hashable {
    /// The human-readable message (`MESSAGE`).
    public var message: String
    /// Its priority (`PRIORITY`).
    public var priority: JournalPriority
    /// Further fields in the order they are sent; a name may repeat (journald keeps every value).
    public private(set) var fields: [Field]

    /// A `NAME=value` pair.
    public struct Field: Sendable, Hashable {
        /// The field name (upper case, digits and `_`).
        public var name: String
        /// The value (any bytes; newlines allowed).
        public var value: String
    }

    /// Makes an entry.
    public init(message: String, priority: JournalPriority = .info) {
        self.message = message
        self.priority = priority
        fields = []
    }

    /// Adds a field; throws for a name journald would drop (lower case, a leading `_` or digit, longer than 64).
    public mutating func add(_ name: String, _ value: String) throws(SystemdError) {
        guard Self.isValidFieldName(name) else { throw .invalidFieldName(name) }
        fields.append(Field(name: name, value: value))
    }

    /// The first value of a field (`MESSAGE` and `PRIORITY` included).
    public subscript(name: String) -> String? {
        switch name {
        case "MESSAGE": return message
        case "PRIORITY": return String(priority.rawValue)
        default: return fields.first { $0.name == name }?.value
        }
    }

    /// Whether journald accepts `name` from a client: 1–64 of `A-Z0-9_`, starting with a letter (a leading `_` is
    /// reserved for fields journald itself adds).
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, (0x41...0x5A).contains(first) else { return false }
        return bytes.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
    }

    /// Every assignment as sent: `MESSAGE=…`, `PRIORITY=…`, then the fields.
    public var assignments: [String] {
        ["MESSAGE=" + message, "PRIORITY=\(priority.rawValue)"] + fields.map { $0.name + "=" + $0.value }
    }
}

/// Writes entries to journald through `sd_journal_sendv` (its native protocol on `/run/systemd/journal/socket`).
public struct Journal: Sendable {
    /// `SYSLOG_IDENTIFIER` of every entry (what `journalctl -t` matches).
    public let identifier: String

    /// Makes a journal writer.
    public init(identifier: String = "idpbuild") {
        self.identifier = identifier
    }

    /// journald's socket for the native protocol.
    public static let socketPath = "/run/systemd/journal/socket"

    /// Whether journald's socket exists (libsystemd drops entries silently when it does not).
    public static var isAvailable: Bool {
        var status = stat()
        return stat(socketPath, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Sends an entry; throws when journald refuses it. Without journald (no socket) libsystemd drops the entry
    /// without an error: check `isAvailable` first where that matters.
    public func send(_ entry: JournalEntry) throws(SystemdError) {
        var assignments = entry.assignments
        assignments.append("SYSLOG_IDENTIFIER=" + identifier)
        // One buffer holds every assignment; the iovecs point into it while sd_journal_sendv copies them out.
        var buffer: [UInt8] = []
        var spans: [(Int, Int)] = []
        for text in assignments {
            spans.append((buffer.count, text.utf8.count))
            buffer.append(contentsOf: text.utf8)
        }
        let result = buffer.withUnsafeMutableBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return -EINVAL }  // never empty: PRIORITY is always there
            let vectors = spans.map { iovec(iov_base: base + $0.0, iov_len: $0.1) }
            return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
        if result < 0 { throw .journalUnavailable(errno: -result) }
    }

    /// Whether standard error is connected to the journal: `JOURNAL_STREAM` (`DEVICE:INODE`, set by systemd for a
    /// service whose output goes to the journal) names the same file as descriptor `descriptor`. A service whose
    /// output was redirected elsewhere keeps the variable but fails this check, as systemd.exec(5) says.
    public static func isConnected(descriptor: Int32 = STDERR_FILENO, environment: [String: String]) -> Bool {
        guard let (device, inode) = parseStream(environment["JOURNAL_STREAM"]) else { return false }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// `DEVICE:INODE` in decimal, as systemd writes it.
    static func parseStream(_ text: String?) -> (UInt64, UInt64)? {
        guard let parts = text?.split(separator: ":", omittingEmptySubsequences: false), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return (device, inode)
    }
}
