import BuildEvents
import LSPTypes

/// Build output for `window/logMessage`, batched: lines of the same type are joined into one message, sent at most
/// every 200 ms (or sooner when 64 KiB pile up), so a chatty RUN costs a few messages a second, not one per line.
/// Every line passes through `SecretRedactor.server` first.
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
        var line = SecretRedactor.server.redact(line)
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

extension SecretRedactor {
    /// What text leaving the server passes (build output, progress, errors): it knows no secret values, only their
    /// shapes (`Authorization` values, passwords in URLs, `password=`/`token:`-style assignments). The worker never
    /// prints the registry password; this guards against a RUN or a library echoing one.
    static let server = SecretRedactor()
}
