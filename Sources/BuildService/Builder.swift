import BuildEngine
import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import ImageStore
import Locking
import OCI
import ResourceLimits
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// What the worker reads from its standard input: one JSON line.
struct WorkerJob: Codable {
    var options: BuildOptions
    /// The reference to push to, or nil.
    var push: String?
    var config: BuilderConfig
}

/// The seed plan's builder: builds a Dockerfile into the local store and pushes it, in a worker process (root of a
/// user namespace when the caller is unprivileged), so a crash or a cancel never takes the caller down. Events stream
/// from the worker as JSON lines; cancelling the calling task stops the worker within two seconds.
public struct Builder: Sendable {
    /// Registry, namespace, TLS, store and worker settings.
    public var config: BuilderConfig

    /// Makes a builder.
    public init(config: BuilderConfig = BuilderConfig()) {
        self.config = config
    }

    /// Builds and pushes to `REGISTRY/NAMESPACE/NAME:TAG`; never throws: a failure is a response with `success: false`.
    public func buildAndPush(_ request: BuildRequest, events: @escaping BuildEventHandler = { _ in }) async -> BuildResponse {
        await build(request, push: true, events: events)
    }

    /// The engine's options for a request (the Dockerfile's `text` instead of the file's when given: an editor's buffer).
    func options(_ request: BuildRequest, text: [UInt8]? = nil) -> BuildOptions {
        BuildOptions(
            dockerfilePath: request.absoluteDockerfilePath, contextDirectory: request.absoluteContextDir, tags: [request.fullTag(config: config)],
            buildArguments: request.buildArgs, target: request.target, platform: request.platform, noCache: request.noCache,
            pull: request.pull, timestamp: config.timestamp, compression: config.compression, secrets: request.secrets.mapValues(Self.absolute),
            entitlements: config.entitlements, dockerfileContents: text.map { Data($0) }, jobs: config.jobs)
    }

    /// Builds (and pushes when `push`), reporting events; a failure is a response with `success: false`. `dockerfile` is
    /// the Dockerfile already parsed (an editor's document: its text is what is built, in the worker too).
    public func build(_ request: BuildRequest, push: Bool, dockerfile: BuildDefinition? = nil,
                      events: @escaping BuildEventHandler = { _ in }) async -> BuildResponse {
        var request = request
        let fullTag = request.fullTag(config: config)
        do { try request.validate() } catch {
            return BuildResponse(fullTag: fullTag, success: false, error: "\(error)")
        }
        let tag = request.fullTag(config: config)
        let options = options(request, text: dockerfile.map { $0.dockerfile.source.bytes })
        var config = self.config
        config.registriesConf = config.registriesConf.map(Self.absolute)
        config.caFile = config.caFile.map(Self.absolute)
        config.storeRoot = config.storeRoot.map(Self.absolute)
        let job = WorkerJob(options: options, push: push ? tag : nil, config: config)
        // Planned here first: a build whose every step is cached runs in this process, from this plan.
        if config.limits.isEmpty, !request.pull, !request.noCache, let plan = try? Self.planHere(options, config: config, dockerfile: dockerfile),
           plan.isFullyCached {
            return await buildHere(job, plan: plan, tag: tag, events: events)
        }
        let group: (any LimitedGroup)?
        do {
            let made = try BuildLimits.makeGroup(for: config.limits, name: "idpbuild-build-\(getpid())-\(Self.nextGroupNumber())",
                                                 description: "idpbuild build \(tag)")
            group = made.group
            if let notice = made.notice { events(.warning(notice)) }
        } catch {
            return BuildResponse(fullTag: tag, success: false, error: error.description)
        }
        defer { group?.remove() }
        do {
            let summary = try await runWorker(job, limits: group, events: events)
            return BuildResponse(imageID: summary.imageID ?? "", fullTag: tag, success: summary.success, error: summary.error,
                                 digest: summary.pushedDigest ?? summary.manifestDigest, durationMs: summary.durationMs,
                                 stepsCached: summary.stepsCached, stepsRun: summary.stepsRun)
        } catch is CancellationError {
            return BuildResponse(fullTag: tag, success: false, error: "the build was cancelled; nothing was pushed")
        } catch {
            return BuildResponse(fullTag: tag, success: false, error: "\(error)")
        }
    }

    /// Plans `options` in this process against the store of `config`: nothing runs, nothing is pulled.
    static func planHere(_ options: BuildOptions, config: BuilderConfig, dockerfile: BuildDefinition?) throws -> BuildPlan {
        let store = try ImageStore(root: config.storeRoot ?? ImageStore.defaultRoot())
        return try BuildEngine(store: store, transfer: nil).plan(options, definition: dockerfile)
    }

    /// A build whose every step is cached runs in this process: the worker would execute nothing of the
    /// Dockerfile's (no RUN, no copy) and only write the image and push it, so its process start (and, rootless,
    /// the user namespace) is saved.
    func buildHere(_ job: WorkerJob, plan: BuildPlan, tag: String, events: @escaping BuildEventHandler) async -> BuildResponse {
        var summary: BuildSummary
        do {
            summary = try await BuildWorker.perform(job, plan: plan, output: EventWriter(handler: events))
        } catch is CancellationError {
            return BuildResponse(fullTag: tag, success: false, error: "the build was cancelled; nothing was pushed")
        } catch {
            summary = BuildSummary(success: false, error: "\(error)")
        }
        events(.finished(summary))
        return BuildResponse(imageID: summary.imageID ?? "", fullTag: tag, success: summary.success, error: summary.error,
                             digest: summary.pushedDigest ?? summary.manifestDigest, durationMs: summary.durationMs,
                             stepsCached: summary.stepsCached, stepsRun: summary.stepsRun)
    }

    /// Numbers the limited groups of one process.
    private static let groupCounter = LockedValue(0)

    static func nextGroupNumber() -> Int { groupCounter.withLock { $0 += 1; return $0 } }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Starts the worker, puts it into the limited group (before it reads its job, so nothing it starts escapes the
    /// limits), feeds it the job, relays its events, and returns its summary.
    func runWorker(_ job: WorkerJob, limits group: (any LimitedGroup)? = nil, events: @escaping BuildEventHandler) async throws -> BuildSummary {
        var encoded = try JSONEncoder().encode(job)
        encoded.append(0x0a)
        let jobLine = encoded
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0, pipe(&errors) == 0 else {
            throw BuildServiceError.worker(detail: "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        for fd in input + output + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let state = WorkerState(stdinWrite: input[1])
        let stdoutReader = LineReader(fd: output[0]) { line in
            guard var event = try? JSONDecoder().decode(BuildEvent.self, from: Data(line.utf8)) else { return }
            // A step the kernel's OOM killer ended looks like any SIGKILL from inside: the group's counter tells.
            if let group, event.kind == .stepFailed || (event.kind == .finished && event.summary?.success == false),
               group.outOfMemoryKills() > 0 {
                if event.kind == .stepFailed {
                    event.message = BuildLimits.outOfMemory(event.message, limits: group.limits)
                    state.recordOutOfMemory(event.message)
                } else {
                    let previous = event.summary?.error
                    event.summary?.error = state.outOfMemoryMessage ?? BuildLimits.outOfMemory(previous, limits: group.limits)
                }
            }
            if event.kind == .finished, let summary = event.summary { state.finish(summary) }
            events(event)
        }
        let stderrReader = LineReader(fd: errors[0]) { line in state.log(line) }
        stdoutReader.start()
        stderrReader.start()
        let termination: Termination
        do {
            termination = try await withTaskCancellationHandler {
                try await UserNamespace.runWorker(
                    executable: config.workerExecutable,
                    // The image it builds, so that `ps` says what each worker is for (the job itself comes on stdin).
                    arguments: [config.workerExecutable, "build-worker", job.options.tags.first ?? ""],
                    environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                    fds: [input[0], output[1], errors[1]], warn: { events(.warning($0)) },
                    started: { pid in
                        // Into the limits first, then the job: the worker does nothing before it has read its job.
                        do throws(ResourceLimitsError) {
                            try group?.add(pid)
                        } catch {
                            state.refuse(error)
                            kill(pid, SIGKILL)
                            return
                        }
                        state.started(pid)
                        if !state.send(jobLine) { kill(pid, SIGKILL) }
                    })
            } onCancel: {
                state.cancel()
            }
        } catch {
            [input[0], output[1], errors[1]].forEach { close($0) }
            state.closeInput()
            stdoutReader.wait()
            stderrReader.wait()
            throw BuildServiceError.worker(detail: "\(error)")
        }
        [input[0], output[1], errors[1]].forEach { close($0) }
        state.closeInput()
        // Cancel and a worker that died leave its children (RUN's supervisor) to the group: end them all.
        if state.wasCancelled || state.summary == nil { group?.killAll() }
        stdoutReader.wait()
        stderrReader.wait()
        if let refusal = state.refusal { throw BuildServiceError.limits(refusal) }
        if state.wasCancelled { throw CancellationError() }
        if let summary = state.summary { return summary }
        if let group, group.outOfMemoryKills() > 0 {
            throw BuildServiceError.worker(detail: BuildLimits.outOfMemory("the build worker", limits: group.limits))
        }
        let tail = state.logTail.suffix(10).joined(separator: "\n")
        throw BuildServiceError.worker(detail: "it ended with \(termination) and no result\(tail.isEmpty ? "" : "; its last messages:\n" + tail)")
    }
}

/// The parent's view of a running worker: its pid, its input (closing it cancels), the result, its log.
final class WorkerState: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var stdinWrite: Int32
    private var cancelled = false
    private(set) var summary: BuildSummary?
    private var lines: [String] = []

    init(stdinWrite: Int32) { self.stdinWrite = stdinWrite }

    func started(_ pid: pid_t) {
        lock.lock()
        self.pid = pid
        let cancelNow = cancelled
        lock.unlock()
        if cancelNow { signalWorker() }
    }

    func finish(_ summary: BuildSummary) { lock.lock(); self.summary = summary; lock.unlock() }

    private(set) var refusal: ResourceLimitsError? {
        get { lock.withLock { storedRefusal } }
        set { lock.withLock { storedRefusal = newValue } }
    }
    private var storedRefusal: ResourceLimitsError?
    private var storedOutOfMemory: String?

    /// The limits refused the worker: it is killed before it gets its job.
    func refuse(_ error: ResourceLimitsError) { refusal = error }

    /// The first out-of-memory step message, reused for the build's error.
    func recordOutOfMemory(_ message: String?) { lock.withLock { if storedOutOfMemory == nil { storedOutOfMemory = message } } }

    var outOfMemoryMessage: String? { lock.withLock { storedOutOfMemory } }

    /// Writes the job line (it fits in the pipe buffer for any sane request); false when the pipe refused it.
    func send(_ line: Data) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard stdinWrite >= 0 else { return false }
        return line.withUnsafeBytes { write(stdinWrite, $0.baseAddress, $0.count) } == line.count
    }

    func log(_ line: String) {
        lock.lock()
        lines.append(line)
        if lines.count > 50 { lines.removeFirst() }
        lock.unlock()
    }

    var logTail: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    var wasCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    func closeInput() {
        lock.lock()
        if stdinWrite >= 0 { close(stdinWrite); stdinWrite = -1 }
        lock.unlock()
    }

    /// Asks the worker to stop (its input closes and it gets SIGTERM), and kills it if it is still there after 1.5 s.
    func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
        closeInput()
        signalWorker()
    }

    private func signalWorker() {
        lock.lock()
        let target = pid
        lock.unlock()
        guard let target else { return }
        kill(target, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + 1.5) { [self] in
            lock.lock()
            let done = summary != nil
            lock.unlock()
            // The worker is our child until we reap it, so the pid cannot have been reused yet.
            if !done { kill(target, SIGKILL) }
        }
    }
}

/// Reads lines from a descriptor on its own thread until EOF, then closes it.
final class LineReader: @unchecked Sendable {
    private let fd: Int32
    private let handler: @Sendable (String) -> Void
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32, handler: @escaping @Sendable (String) -> Void) {
        self.fd = fd
        self.handler = handler
    }

    func start() {
        let thread = Thread { [self] in
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending += buffer[0..<n]
                while let newline = pending.firstIndex(of: 0x0a) {
                    handler(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { handler(String(decoding: pending, as: UTF8.self)) }
            close(fd)
            done.signal()
        }
        thread.start()
    }

    func wait() { done.wait() }
}
