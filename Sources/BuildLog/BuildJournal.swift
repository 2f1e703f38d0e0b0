import BuildEvents
import Foundation
import Systemd

/// Build events as journal entries, with the fields that let `journalctl IDPBUILD_BUILD_ID=…` (or `IDPBUILD_IMAGE=…`)
/// replay one build and point at the Dockerfile line: `IDPBUILD_BUILD_ID`, `IDPBUILD_IMAGE`, `IDPBUILD_STEP`,
/// `IDPBUILD_EVENT`, `IDPBUILD_STREAM`, `IDPBUILD_LINES`, `IDPBUILD_EXIT_CODE`, `CODE_FILE` (the Dockerfile) and
/// `CODE_LINE` (its instruction's first line), `PRIORITY`. Every text passes the redactor first. Byte counts are not
/// logged (they change many times a second).
///
/// Each step event is one entry. A RUN's output lines are gathered into one entry (one line per `MESSAGE` line)
/// until the step or stream changes, another event comes, 16 KiB are pending or `flushDelay` passes: one datagram
/// per line would cost a build with 10,000 output lines a third of its time (docs/SYSTEMD.md has the figures).
public final class BuildJournal: @unchecked Sendable {
    /// The build's identifier in `IDPBUILD_BUILD_ID`.
    public let buildID: String
    private let image: String
    private let dockerfile: String
    private let redactor: SecretRedactor
    private let send: @Sendable (JournalEntry) throws(SystemdError) -> Void
    /// Held while an entry is built and sent, so entries leave in the order their events came.
    private let lock = NSLock()
    /// Each step's Dockerfile line (1-based), behind its own lock: entries are made under `lock`.
    private let linesLock = NSLock()
    private var lines: [Int: Int] = [:]
    private var failures = 0
    private var firstFailure: SystemdError?
    private var pending: (event: BuildEvent, lines: [String], bytes: Int, since: Date)?
    private var timerArmed = false
    /// The most output gathered into one entry.
    public static let batchBytes = 16 << 10
    /// How long an output line may wait for more before it is sent.
    public let flushDelay: Double

    /// Makes a journal for one build; `send` defaults to journald.
    public init(buildID: String = BuildJournal.newBuildID(), image: String, dockerfile: String, redactor: SecretRedactor = SecretRedactor(),
                flushDelay: Double = 0.1,
                send: @escaping @Sendable (JournalEntry) throws(SystemdError) -> Void = { entry throws(SystemdError) in try Journal().send(entry) }) {
        self.flushDelay = flushDelay
        self.buildID = buildID
        self.image = image
        self.dockerfile = dockerfile
        self.redactor = redactor
        self.send = send
    }

    /// A fresh random build identifier (32 hex digits, like journald's own IDs).
    public static func newBuildID() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// Logs one event (thread-safe); a failed send is counted and reported by `sendFailure`.
    public func record(_ event: BuildEvent) {
        if event.kind == .output {
            let line = redactor.redact((event.step.map { "#\($0) " } ?? "") + (event.line ?? ""))
            lock.withLock {
                if let batch = pending, batch.event.step == event.step, batch.event.stream == event.stream,
                   batch.bytes + line.utf8.count <= Self.batchBytes {
                    pending?.lines.append(line)
                    pending?.bytes += line.utf8.count + 1
                } else {
                    sendPending()
                    pending = (event, [line], line.utf8.count, Date())
                }
                armTimer()
            }
            return
        }
        lock.withLock {
            sendPending()
            if let entry = entry(for: event) { deliver(entry) }
        }
    }

    /// Sends the output lines still waiting (the front end calls it when the build ends).
    public func flush() {
        lock.withLock { sendPending() }
    }

    /// Under the lock: the waiting output lines as one entry.
    private func sendPending() {
        guard let batch = pending else { return }
        pending = nil
        var entry = JournalEntry(message: batch.lines.joined(separator: "\n"), priority: batch.event.stream == "stderr" ? .notice : .info)
        addFields(to: &entry, for: batch.event)
        try? entry.add("IDPBUILD_LINES", String(batch.lines.count))
        deliver(entry)
    }

    /// Under the lock: a timer that sends output lines that waited `flushDelay` (a RUN that prints a line and then
    /// works for a minute still shows it at once).
    private func armTimer() {
        guard !timerArmed else { return }
        timerArmed = true
        DispatchQueue.global().asyncAfter(deadline: .now() + flushDelay) { [weak self] in
            guard let self else { return }
            lock.withLock {
                timerArmed = false
                guard let batch = pending else { return }
                if Date().timeIntervalSince(batch.since) >= flushDelay * 0.9 { sendPending() } else { armTimer() }
            }
        }
    }

    /// Under the lock: sends, counting failures.
    private func deliver(_ entry: JournalEntry) {
        do {
            try send(entry)
        } catch {
            failures += 1
            if firstFailure == nil { firstFailure = error }
        }
    }

    /// How many entries could not be sent, and the first reason (pending output is sent first).
    public var sendFailure: (count: Int, error: SystemdError)? {
        flush()
        return
lock.withLock { firstFailure.map { (failures, $0) } }
    }

    /// The entry an event becomes, or nil for events not logged.
    public func entry(for event: BuildEvent) -> JournalEntry? {
        let prefix = event.step.map { "#\($0) " } ?? ""
        let message: String
        var priority = JournalPriority.info
        switch event.kind {
        case .stepStarted:
            if let step = event.step, let line = event.range?.start.line { linesLock.withLock { lines[step] = line + 1 } }
            message = "\(prefix)[\(event.stage ?? "")] \(event.instruction ?? "")"
        case .stepCached:
            message = "\(prefix)CACHED"
        case .stepDone:
            message = "\(prefix)DONE \(String(format: "%.1f", Double(event.durationMs ?? 0) / 1000))s"
        case .output:
            message = prefix + (event.line ?? "")
            if event.stream == "stderr" { priority = .notice }
        case .stepFailed:
            message = event.message ?? "\(prefix)failed"
            priority = .error
        case .warning:
            message = "warning: \(event.message ?? "")"
            priority = .warning
        case .finished:
            guard let summary = event.summary else { return nil }
            if summary.success {
                let reference = summary.pushedReference ?? summary.tags.first ?? image
                message = "built \(reference) \(summary.pushedDigest ?? summary.manifestDigest ?? "") (\(summary.stepsCached) cached, \(summary.stepsRun) run)"
            } else {
                message = "build failed: \(summary.error ?? "unknown error")"
                priority = .error
            }
        case .bytes:
            return nil
        }
        var entry = JournalEntry(message: redactor.redact(message), priority: priority)
        addFields(to: &entry, for: event)
        return entry
    }

    /// The build's fields and the event's step, line, stream and exit code.
    private func addFields(to entry: inout JournalEntry, for event: BuildEvent) {
        // Field names are constants that pass validation; adding cannot throw.
        try? entry.add("IDPBUILD_BUILD_ID", buildID)
        try? entry.add("IDPBUILD_IMAGE", image)
        try? entry.add("IDPBUILD_EVENT", event.kind.rawValue)
        try? entry.add("CODE_FILE", dockerfile)
        if let step = event.step {
            try? entry.add("IDPBUILD_STEP", String(step))
            let line = event.range.map { $0.start.line + 1 } ?? linesLock.withLock { lines[step] }
            if let line { try? entry.add("CODE_LINE", String(line)) }
        } else if let range = event.range {
            try? entry.add("CODE_LINE", String(range.start.line + 1))
        }
        if let stream = event.stream { try? entry.add("IDPBUILD_STREAM", stream) }
        if let exitCode = event.exitCode { try? entry.add("IDPBUILD_EXIT_CODE", String(exitCode)) }
    }
}
