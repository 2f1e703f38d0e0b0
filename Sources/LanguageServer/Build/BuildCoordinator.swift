import BuildService
import Foundation

/// The builds of one server process, shared by all its sessions (one `LanguageServer` per connection): at most one
/// build per Dockerfile, cancel by Dockerfile, by session or all, the state code lenses show, and observers told when
/// that state changes. Create one per process and pass it to every session's `LanguageServer.Options(builds:)`.
public actor BuildCoordinator {
    /// A running build as lenses and other sessions see it.
    public struct Status: Sendable, Hashable {
        /// The Dockerfile's absolute path (the key: one build per Dockerfile).
        public var dockerfilePath: String
        /// The image reference it builds.
        public var reference: String
        /// Whether it pushes.
        public var push: Bool
        /// The step running (from 1), once the first step started.
        public var step: Int?
        /// How many steps the build has.
        public var totalSteps: Int?
        /// The instruction of the step running.
        public var instruction: String?
        /// When it started.
        public var startedAt: Date
        /// The session it belongs to: the one that started it, or one that watched it when that one ended.
        public var session: Int
    }

    /// What changed, for observers.
    public enum Change: Sendable, Hashable {
        /// A build of the Dockerfile at this path started.
        case started(String)
        /// It moved to another step.
        case progressed(String)
        /// It ended (built, failed or cancelled); the store may hold new cache records.
        case finished(String)
    }

    private struct Entry {
        var id: Int
        var status: Status
        var task: Task<BuildResponse, Never>
    }

    /// The process-wide builder settings (store, registries.conf, worker, credentials); registry, namespace, insecure
    /// registries and CA file come from each session's settings.
    public nonisolated let config: BuilderConfig
    private var entries: [String: Entry] = [:]
    private var observers: [Int: @Sendable (Change) -> Void] = [:]
    private var watchers: [Int: @Sendable (String) async -> Bool] = [:]
    private var nextID = 0
    private var nextSession = 0
    /// Bumped when a build ends: cache states computed before are stale.
    public private(set) var cacheEpoch = 0

    /// Where the private copies of the built Dockerfiles go (each build's own folder, removed when it ends).
    public nonisolated let temporaryDirectory: String

    /// Makes a coordinator for builds with `config`; `temporaryDirectory` defaults to `TMPDIR` (or /tmp).
    public init(config: BuilderConfig = BuilderConfig(), temporaryDirectory: String = NSTemporaryDirectory()) {
        self.config = config
        self.temporaryDirectory = temporaryDirectory
    }

    /// A new session number (each `LanguageServer` takes one); `watches` says whether the session shows a Dockerfile
    /// (has it open), so a build another session started outlives that session while this one watches it.
    public func newSession(watches: @escaping @Sendable (_ dockerfilePath: String) async -> Bool = { _ in false }) -> Int {
        nextSession += 1
        watchers[nextSession] = watches
        return nextSession
    }

    /// The running build of a Dockerfile, if any.
    public func status(dockerfilePath: String) -> Status? { entries[dockerfilePath]?.status }

    /// Every running build, oldest first.
    public var running: [Status] { entries.values.map(\.status).sorted { $0.startedAt < $1.startedAt } }

    /// Starts `operation` as the build of `dockerfilePath` unless one is running; the entry is removed before the
    /// returned task's value is available, so the next build of the same file can start as soon as it is.
    func start(dockerfilePath: String, reference: String, push: Bool, session: Int,
               operation: @escaping @Sendable (_ id: Int) async -> BuildResponse) throws(LanguageServerError) -> Task<BuildResponse, Never> {
        if let running = entries[dockerfilePath]?.status {
            throw .buildAlreadyRunning(dockerfilePath: dockerfilePath, reference: running.reference, startedAt: running.startedAt,
                                       sameSession: running.session == session)
        }
        nextID += 1
        let id = nextID
        let task = Task { [self] in
            let response = await operation(id)
            finished(dockerfilePath, id: id)
            return response
        }
        entries[dockerfilePath] = Entry(id: id, status: Status(dockerfilePath: dockerfilePath, reference: reference, push: push,
                                                               startedAt: Date(), session: session), task: task)
        notify(.started(dockerfilePath))
        return task
    }

    /// Records the step a build is at.
    func progressed(_ dockerfilePath: String, id: Int, step: Int?, totalSteps: Int?, instruction: String?) {
        guard var entry = entries[dockerfilePath], entry.id == id else { return }
        guard entry.status.step != step || entry.status.totalSteps != totalSteps else { return }
        entry.status.step = step
        entry.status.totalSteps = totalSteps
        entry.status.instruction = instruction
        entries[dockerfilePath] = entry
        notify(.progressed(dockerfilePath))
    }

    private func finished(_ dockerfilePath: String, id: Int) {
        guard entries[dockerfilePath]?.id == id else { return }
        entries[dockerfilePath] = nil
        cacheEpoch += 1
        notify(.finished(dockerfilePath))
    }

    /// Cancels the build of a Dockerfile; false when none runs.
    @discardableResult
    public func cancel(dockerfilePath: String) -> Bool {
        guard let entry = entries[dockerfilePath] else { return false }
        entry.task.cancel()
        return true
    }

    /// Cancels every build; returns how many.
    @discardableResult
    public func cancelAll() -> Int {
        entries.values.forEach { $0.task.cancel() }
        return entries.count
    }

    /// Ends a session (it shuts down or its client went away): each build it started is handed to another session
    /// that watches its Dockerfile, or cancelled when none does. Returns how many were cancelled, and the Dockerfiles of
    /// those handed over.
    @discardableResult
    public func endSession(_ session: Int) async -> (cancelled: Int, handedOver: [String]) {
        watchers[session] = nil
        var cancelled = 0
        var handedOver: [String] = []
        for (path, entry) in entries where entry.status.session == session {
            var heir: Int?
            for (other, watches) in watchers.sorted(by: { $0.key < $1.key }) where await watches(path) {
                heir = other
                break
            }
            // The actor was free while asking: the build may have ended, or another may have taken its place.
            guard var current = entries[path], current.id == entry.id else { continue }
            if let heir {
                current.status.session = heir
                entries[path] = current
                handedOver.append(path)
            } else {
                current.task.cancel()
                cancelled += 1
            }
        }
        return (cancelled, handedOver)
    }

    /// Calls `handler` (on the coordinator, so it must be quick) after every change; returns the token for
    /// `removeObserver`.
    public func addObserver(_ handler: @escaping @Sendable (Change) -> Void) -> Int {
        nextID += 1
        observers[nextID] = handler
        return nextID
    }

    /// Stops calling an observer.
    public func removeObserver(_ token: Int) {
        observers[token] = nil
    }

    private func notify(_ change: Change) {
        for observer in observers.values { observer(change) }
    }
}
