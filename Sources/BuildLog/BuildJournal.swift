import BuildEngine
import Foundation
import Systemd

/// Build events as journal entries: one entry per step line and per output line, with the fields that let
/// `journalctl IDPBUILD_BUILD_ID=…` (or `IDPBUILD_IMAGE=…`) replay one build and point at the Dockerfile line:
/// `IDPBUILD_BUILD_ID`, `IDPBUILD_IMAGE`, `IDPBUILD_STEP`, `IDPBUILD_EVENT`, `IDPBUILD_STREAM`, `IDPBUILD_EXIT_CODE`,
/// `CODE_FILE` (the Dockerfile) and `CODE_LINE` (its instruction's first line), `PRIORITY`. Every text passes the
/// redactor first. Byte counts are not logged (they change many times a second).
public final class BuildJournal: @unchecked Sendable {
    /// The build's identifier in `IDPBUILD_BUILD_ID`.
    public let buildID: String
    private let image: String
    private let dockerfile: String
    private let redactor: SecretRedactor
    private let send: @Sendable (JournalEntry) throws(SystemdError) -> Void
    private let lock = NSLock()
    private var lines: [Int: Int] = [:]
    private var failures = 0
    private var firstFailure: SystemdError?

    /// Makes a journal for one build; `send` defaults to journald.
    public init(buildID: String = BuildJournal.newBuildID(), image: String, dockerfile: String, redactor: SecretRedactor = SecretRedactor(),
                send: @escaping @Sendable (JournalEntry) throws(SystemdError) -> Void = { entry throws(SystemdError) in try Journal().send(entry) }) {
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
        guard let entry = entry(for: event) else { return }
        do {
            try send(entry)
        } catch {
            lock.withLock {
                failures += 1
                if firstFailure == nil { firstFailure = error }
            }
        }
    }

    /// How many entries could not be sent, and the first reason.
    public var sendFailure: (count: Int, error: SystemdError)? {
        lock.withLock { firstFailure.map { (failures, $0) } }
    }

    /// The entry an event becomes, or nil for events not logged.
    public func entry(for event: BuildEvent) -> JournalEntry? {
        let prefix = event.step.map { "#\($0) " } ?? ""
        let message: String
        var priority = JournalPriority.info
        switch event.kind {
        case .stepStarted:
            if let step = event.step, let line = event.range?.start.line { lock.withLock { lines[step] = line + 1 } }
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
        // Field names are constants that pass validation; adding cannot throw.
        try? entry.add("IDPBUILD_BUILD_ID", buildID)
        try? entry.add("IDPBUILD_IMAGE", image)
        try? entry.add("IDPBUILD_EVENT", event.kind.rawValue)
        try? entry.add("CODE_FILE", dockerfile)
        if let step = event.step {
            try? entry.add("IDPBUILD_STEP", String(step))
            let line = event.range.map { $0.start.line + 1 } ?? lock.withLock { lines[step] }
            if let line { try? entry.add("CODE_LINE", String(line)) }
        } else if let range = event.range {
            try? entry.add("CODE_LINE", String(range.start.line + 1))
        }
        if let stream = event.stream { try? entry.add("IDPBUILD_STREAM", stream) }
        if let exitCode = event.exitCode { try? entry.add("IDPBUILD_EXIT_CODE", String(exitCode)) }
        return entry
    }
}
