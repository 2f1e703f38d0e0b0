import Foundation

/// Build output for `window/logMessage`, batched: lines of the same type are joined into one message, sent at most
/// every 200 ms (or sooner when 64 KiB pile up), so a chatty RUN costs a few messages a second, not one per line.
/// Every line passes through `SecretRedaction` first.
actor LogBatcher {
    private let client: Client
    private var type: MessageType = .log
    private var lines: [String] = []
    private var size = 0
    private var flushTask: Task<Void, Never>?
    static let interval = Duration.milliseconds(200)
    static let maximumBatch = 64 << 10
    static let maximumLine = 4 << 10

    init(client: Client) { self.client = client }

    /// Queues a line.
    func add(_ line: String, type: MessageType = .log) {
        var line = SecretRedaction.redact(line)
        if line.utf8.count > Self.maximumLine { line = String(decoding: line.utf8.prefix(Self.maximumLine), as: UTF8.self) + " …" }
        if type != self.type && !lines.isEmpty { flush() }
        self.type = type
        lines.append(line)
        size += line.utf8.count + 1
        if size >= Self.maximumBatch || type == .error || type == .warning {
            flush()
        } else if flushTask == nil {
            flushTask = Task { [weak self] in
                guard (try? await Task.sleep(for: Self.interval)) != nil else { return }
                await self?.flush()
            }
        }
    }

    /// Sends what is queued.
    func flush() {
        flushTask?.cancel()
        flushTask = nil
        guard !lines.isEmpty else { return }
        client.logMessage(type, lines.joined(separator: "\n"))
        lines = []
        size = 0
    }
}

/// Removes secrets from text that leaves the server: `Authorization` header values, passwords in URLs, and
/// `password=`/`token=`-style assignments. The worker never prints the registry password; this guards against a RUN
/// or a library echoing one.
enum SecretRedaction {
    private static let patterns: [(NSRegularExpression, String)] = [
        (#"(?i)(authorization:\s*)(\S+\s+)?\S+"#, "$1[redacted]"),
        (#"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"#, "$1[redacted]@"),
        (#"(?i)\b((?:password|passwd|secret|token|access_token|api[_-]?key)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)"#, "$1[redacted]"),
    ].map { (try! NSRegularExpression(pattern: $0.0), $0.1) }

    /// `text` with secrets replaced by `[redacted]`.
    static func redact(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x3A || $0 == 0x3D }) else { return text }  // nothing without ':' or '='
        var result = text
        for (pattern, template) in patterns {
            result = pattern.stringByReplacingMatches(in: result, range: NSRange(result.startIndex..., in: result), withTemplate: template)
        }
        return result
    }
}
