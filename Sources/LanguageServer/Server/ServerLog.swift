import Foundation

/// The server's log: lines to standard error (never standard output, which carries only messages), filtered by
/// level; warnings and errors also reach the client's log through `window/logMessage` once connected.
public struct ServerLog: Sendable {
    /// How much to log.
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case error, warning, info, debug

        /// Parses `error`, `warning`, `info` or `debug`.
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { "\($0)" == name.lowercased() }) else { return nil }
            self = level
        }

        /// Orders from the most to the least important.
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The most detailed level written.
    public let level: Level
    private let record: @Sendable (Level, String) -> Void

    /// A log writing to standard error.
    public init(level: Level = .info) {
        self.init(level: level) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// A log writing lines (`idpbuild lsp: LEVEL: message`) to `sink` (for tests).
    public init(level: Level, sink: @escaping @Sendable (String) -> Void) {
        self.init(level: level, records: { level, message in sink("idpbuild lsp: \(level): \(message)") })
    }

    /// A log handing each message with its level to `records` (structured destinations such as the journal).
    public init(level: Level, records: @escaping @Sendable (Level, String) -> Void) {
        self.level = level
        record = records
    }

    /// Writes a line at `level` if it passes the filter.
    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level <= self.level else { return }
        record(level, message())
    }
}
