import BuildEvents
import BuildPlanner
import BuildService
import DockerfileSyntax
import Foundation
import JSONRPC
import LSPTypes

/// One build started from the editor: work-done progress (begin with the reference, a report per step with cache
/// hits and pull/push bytes, end with the pushed reference and digest or why it failed), build output batched into
/// `window/logMessage`, a `window/showMessage` at the end, and a failing step as a diagnostic on its instruction.
struct EditorBuild: Sendable {
    let features: BuildFeatures
    let resolved: BuildFeatures.ResolvedBuild
    let push: Bool
    let context: CommandContext
    let id: Int

    func run() async -> BuildResponse {
        let reference = resolved.reference
        let title = push ? "Build and push \(reference)" : "Build \(reference)"
        let reporter = await context.beginProgress(title: title, cancellable: true, message: "starting")
        let logs = LogBatcher(client: context.client)
        let source = resolved.version.map { "the editor's text (version \($0))" } ?? "the file on disk"
        await logs.add("idpbuild: \(push ? "building and pushing" : "building") \(reference) from \(source) of \(resolved.path), context \(resolved.request.contextDir)",
                       type: .info)
        let request = resolved.request
        let (stream, continuation) = AsyncStream<BuildEvent>.makeStream()
        let progress = BuildProgress(push: push, reference: reference)
        let consumer = Task { [features, resolved, id] in
            var progress = progress
            for await event in stream {
                let update = progress.apply(event)
                for (line, type) in update.log { await logs.add(line, type: type) }
                if let message = update.report { await reporter.report(message: SecretRedactor.server.redact(message), percentage: progress.percentage) }
                if update.stepChanged {
                    await features.coordinator.progressed(resolved.path, id: id, step: progress.step, totalSteps: progress.totalSteps,
                                                          instruction: progress.instruction)
                }
            }
            return progress
        }
        let builder = Builder(config: resolved.config)
        // The document's own parse is planned, and its text travels to the worker with the job.
        var response = await builder.build(request, push: push, dockerfile: resolved.analysis.definition, events: { continuation.yield($0) })
        continuation.finish()
        let final = await consumer.value
        let cancelled = Task.isCancelled
        response.error = response.error.map { SecretRedactor.server.redact($0) }
        if cancelled && !response.success {
            response.error = "the build was cancelled; nothing was pushed"
        }
        await logs.flush()

        // Diagnostics: a failed step marks its instruction; success clears; a cancel leaves the last result alone.
        if !cancelled {
            var anchored: [AnchoredDiagnostic] = []
            if !response.success, let failure = final.failure, let range = failure.range {
                let diagnostic = LSPTypes.Diagnostic(range: LSPRange(start: LSPTypes.Position(line: range.start.line, character: 0),
                                                                     end: LSPTypes.Position(line: range.end.line, character: 0)),
                                                     severity: .error, code: failure.exitCode == nil ? "BuildStepFailed" : "RunFailed",
                                                     codeDescription: nil, source: BuildFeatures.diagnosticSource,
                                                     message: SecretRedactor.server.redact(Self.message(failure)), tags: nil)
                if let anchor = AnchoredDiagnostic.anchor(at: range, in: resolved.analysis.dockerfile, diagnostic: diagnostic) {
                    anchored.append(anchor)
                }
            }
            await features.setBuildDiagnostics(resolved.uri, anchored)
        }

        let seconds = String(format: "%.1f s", Double(response.durationMs) / 1000)
        let counts = "\(response.stepsCached) cached, \(response.stepsRun) run"
        let end: String
        if cancelled && !response.success {
            end = "cancelled: nothing was pushed"
            context.client.showMessage(.warning, "idpbuild: the build of \(reference) was cancelled")
        } else if response.success {
            let digest = response.digest ?? response.imageID
            end = push ? "pushed \(reference)@\(digest) (\(seconds); \(counts))" : "built \(reference) \(response.imageID) (\(seconds); \(counts))"
            context.client.showMessage(.info, "idpbuild: " + (push ? "pushed \(reference)@\(digest)" : "built \(reference) (\(response.imageID))"))
        } else {
            end = "failed: \(response.error ?? "unknown error")"
            context.client.showMessage(.error, "idpbuild: \(push ? "build and push" : "build") of \(reference) failed: \(response.error ?? "unknown error")")
        }
        await logs.add("idpbuild: \(end)", type: response.success ? .info : (cancelled ? .warning : .error))
        await logs.flush()
        await reporter.end(message: end)
        await context.finishProgress(reporter)
        return response
    }

    /// A failed step's diagnostic message: the exit code and the last output lines of a RUN, else the engine's sentence
    /// (also for a RUN the kernel killed at the build's memory limit).
    static func message(_ failure: BuildEvent) -> String {
        if let code = failure.exitCode, !BuildLimits.isOutOfMemory(failure.message) {
            var text = "this RUN failed with exit code \(code)"
            if let tail = failure.tail, !tail.isEmpty {
                text += "; its last output:\n" + tail.suffix(10).joined(separator: "\n")
            }
            return text
        }
        return failure.message ?? "this step failed"
    }
}

/// What a stream of build events means for the editor: the step, the cache hits, bytes pulled and pushed, the
/// progress message and percentage, the log lines, and the failed step.
struct BuildProgress: Sendable {
    let push: Bool
    let reference: String
    private(set) var step: Int?
    private(set) var totalSteps: Int?
    private(set) var instruction: String?
    private(set) var cachedSteps = 0
    private(set) var failure: BuildEvent?
    private var pulled: [String: (done: Int64, total: Int64)] = [:]
    private var pushed: [String: (done: Int64, total: Int64)] = [:]
    private var stepStarted: [Int: Date] = [:]

    init(push: Bool, reference: String) {
        self.push = push
        self.reference = reference
    }

    /// What an event changes.
    struct Update {
        var report: String?
        var log: [(String, MessageType)] = []
        var stepChanged = false
    }

    /// 0–100: the steps take the whole bar, or 80 % of it when the image is pushed afterwards.
    var percentage: Int {
        let stepShare = push ? 80.0 : 100.0
        var value = 0.0
        if let step, let totalSteps, totalSteps > 0 { value = stepShare * Double(step - 1) / Double(totalSteps) }
        let (done, total) = Self.sum(pushed)
        if push, total > 0 { value = stepShare + (100 - stepShare) * Double(done) / Double(total) }
        return max(0, min(100, Int(value)))
    }

    static func sum(_ blobs: [String: (done: Int64, total: Int64)]) -> (Int64, Int64) {
        blobs.values.reduce((0, 0)) { ($0.0 + min($1.done, $1.total), $0.1 + $1.total) }
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }

    private var stepLabel: String {
        guard let step, let totalSteps else { return "" }
        return "step \(step)/\(totalSteps)"
    }

    mutating func apply(_ event: BuildEvent) -> Update {
        var update = Update()
        let number = event.step.map { "#\($0) " } ?? ""
        switch event.kind {
        case .stepStarted:
            step = event.step
            totalSteps = event.totalSteps ?? totalSteps
            instruction = event.instruction
            if let step = event.step { stepStarted[step] = Date() }
            update.stepChanged = true
            update.report = "\(stepLabel): \(event.instruction ?? "")"
            update.log.append(("\(number)[\(event.stage ?? "")] \(event.instruction ?? "")", .log))
        case .stepCached:
            cachedSteps += 1
            update.report = "\(stepLabel): \(event.instruction ?? "") (cached)"
            update.log.append(("\(number)CACHED", .log))
        case .stepDone:
            let seconds = event.durationMs.map { String(format: "%.1fs", Double($0) / 1000) } ?? ""
            update.log.append(("\(number)DONE \(seconds)", .log))
        case .output:
            update.log.append(("\(number)\(event.line ?? "")", .log))
        case .bytes:
            let blob = event.message ?? "?"
            let entry = (done: event.bytes ?? 0, total: max(event.totalBytes ?? 0, event.bytes ?? 0))
            if event.phase == "push" {
                pushed[blob] = entry
                let (done, total) = Self.sum(pushed)
                update.report = "pushing \(reference): \(Self.megabytes(done)) of \(Self.megabytes(total)) (\(pushed.count) blob\(pushed.count == 1 ? "" : "s"))"
            } else {
                pulled[blob] = entry
                let (done, total) = Self.sum(pulled)
                let prefix = stepLabel.isEmpty ? "" : "\(stepLabel): "
                update.report = "\(prefix)pulling the base image: \(Self.megabytes(done)) of \(Self.megabytes(total))"
            }
        case .stepFailed:
            failure = event
            update.log.append(("\(number)ERROR \(event.message ?? "the step failed")", .error))
        case .warning:
            update.log.append(("warning: \(event.message ?? "")", .warning))
        case .finished:
            break
        }
        return update
    }
}
