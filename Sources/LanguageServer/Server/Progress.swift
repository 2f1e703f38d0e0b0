import Foundation
import JSONRPC
import LSPTypes

/// Work-done progress for one piece of work (`$/progress` begin, report, end).
///
/// Uses the request's `workDoneToken` when the client sent one; otherwise, when the client declared
/// `window.workDoneProgress`, creates a token with `window/workDoneProgress/create`; otherwise reports nothing (the
/// work still runs). Reports are limited to ten a second: a report arriving sooner is held and sent when the interval
/// passes, replaced by any newer one. `window/workDoneProgress/cancel` for the token cancels the task that began it.
public actor ProgressReporter {
    /// The token, or nil when the client gets no progress.
    public nonisolated let token: ProgressToken?
    private let client: Client
    private var lastReport: ContinuousClock.Instant?
    private var pending: WorkDoneProgress?
    private var flushTask: Task<Void, Never>?
    private var ended = false
    static let minimumInterval = Duration.milliseconds(100)

    init(token: ProgressToken?, client: Client) {
        self.token = token
        self.client = client
    }

    /// Reports a step (`message`, `percentage` 0–100).
    public func report(message: String?, percentage: Int? = nil) {
        guard let token, !ended else { return }
        let value = WorkDoneProgress.report(message: message, percentage: percentage.map { min(100, max(0, $0)) })
        let now = ContinuousClock.now
        if let lastReport, now - lastReport < Self.minimumInterval {
            pending = value
            if flushTask == nil {
                let wait = Self.minimumInterval - (now - lastReport)
                flushTask = Task { [weak self] in
                    guard (try? await Task.sleep(for: wait)) != nil else { return }  // cancelled: superseded
                    await self?.flush()
                }
            }
            return
        }
        // A held report is older than this one: drop it, or it would arrive after this one.
        pending = nil
        flushTask?.cancel()
        flushTask = nil
        lastReport = now
        client.send(WorkDoneProgressNotification(token: token, value: value))
    }

    private func flush() {
        flushTask = nil
        guard let token, !ended, let value = pending else { return }
        pending = nil
        lastReport = ContinuousClock.now
        client.send(WorkDoneProgressNotification(token: token, value: value))
    }

    /// Ends the progress with a final message; later reports are ignored.
    public func end(message: String?) {
        guard let token, !ended else { return }
        ended = true
        flushTask?.cancel()
        flushTask = nil
        pending = nil
        client.send(WorkDoneProgressNotification(token: token, value: .end(message: message)))
    }

    func begin(title: String, cancellable: Bool, message: String?) {
        guard let token else { return }
        lastReport = ContinuousClock.now
        client.send(WorkDoneProgressNotification(token: token, value: .begin(title: title, cancellable: cancellable, message: message, percentage: 0)))
    }
}

/// The progress tokens in use and how to cancel the work behind each.
actor ProgressRegistry {
    private var cancellers: [ProgressToken: @Sendable () -> Void] = [:]
    private var created = 0

    /// A fresh token for `window/workDoneProgress/create`.
    func newToken() -> ProgressToken {
        created += 1
        return .string("idpbuild-progress-\(created)")
    }

    func register(_ token: ProgressToken, cancel: @escaping @Sendable () -> Void) {
        cancellers[token] = cancel
    }

    func unregister(_ token: ProgressToken) {
        cancellers.removeValue(forKey: token)
    }

    /// Cancels the work behind `token`; false when the token is unknown.
    func cancel(_ token: ProgressToken) -> Bool {
        guard let cancel = cancellers[token] else { return false }
        cancel()
        return true
    }
}
