import DockerfileSyntax

/// What a finished build produced (or why it failed): the engine's half of the seed's `BuildResponse`.
public struct BuildSummary: Sendable, Codable, Hashable {
    /// Whether the image was built (and pushed, when asked).
    public var success: Bool
    /// The image ID: the config blob's digest.
    public var imageID: String?
    /// The manifest digest in the local store.
    public var manifestDigest: String?
    /// The references the image was tagged as in the store.
    public var tags: [String]
    /// The reference it was pushed to, if pushed.
    public var pushedReference: String?
    /// The manifest digest the registry answered, if pushed.
    public var pushedDigest: String?
    /// Steps answered from the cache.
    public var stepsCached: Int
    /// Steps that did work (RUN, COPY, ADD, WORKDIR that made a directory).
    public var stepsRun: Int
    /// Wall-clock duration.
    public var durationMs: Int
    /// A sentence a person can act on, when the build failed.
    public var error: String?

    /// Makes a summary.
    public init(success: Bool, imageID: String? = nil, manifestDigest: String? = nil, tags: [String] = [],
                pushedReference: String? = nil, pushedDigest: String? = nil, stepsCached: Int = 0, stepsRun: Int = 0,
                durationMs: Int = 0, error: String? = nil) {
        self.success = success
        self.imageID = imageID
        self.manifestDigest = manifestDigest
        self.tags = tags
        self.pushedReference = pushedReference
        self.pushedDigest = pushedDigest
        self.stepsCached = stepsCached
        self.stepsRun = stepsRun
        self.durationMs = durationMs
        self.error = error
    }
}

/// One thing that happened during a build; every front end (CLI progress, `--json` lines, the language server's
/// `$/progress`, diagnostics) renders the same events. One flat, `Codable` shape, so it travels as a JSON line
/// from the build worker; the fields a kind uses are listed with each kind.
public struct BuildEvent: Sendable, Codable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Codable, Hashable {
        /// A step began: `step`, `totalSteps`, `stage`, `instruction`, `range`, and `reason` when it will run.
        case stepStarted
        /// The step was answered from the cache: `step`, `instruction`, `range`.
        case stepCached
        /// The step did its work: `step`, `instruction`, `range`, `durationMs`.
        case stepDone
        /// A line a RUN step wrote: `step`, `line`, `stream` (`stdout`/`stderr`).
        case output
        /// Bytes moved: `phase` (`pull`, `push`), `bytes`, `totalBytes`, `message` (the blob or reference).
        case bytes
        /// A step failed: `step`, `instruction`, `range`, `exitCode` (RUN), `tail` (its last output lines), `message`.
        case stepFailed
        /// Something worth knowing that did not stop the build: `message`.
        case warning
        /// The build ended: `summary`.
        case finished
    }

    /// What happened.
    public var kind: Kind
    /// The step's number, from 1.
    public var step: Int?
    /// How many steps the build has.
    public var totalSteps: Int?
    /// The stage's name (or its index) the step belongs to.
    public var stage: String?
    /// The instruction as written (first line).
    public var instruction: String?
    /// The instruction's range in the Dockerfile.
    public var range: SourceRange?
    /// An output line.
    public var line: String?
    /// `stdout` or `stderr`.
    public var stream: String?
    /// `pull` or `push` for byte counts.
    public var phase: String?
    /// Bytes done.
    public var bytes: Int64?
    /// Bytes expected, when known.
    public var totalBytes: Int64?
    /// The failing command's exit status.
    public var exitCode: Int32?
    /// The failing command's last output lines.
    public var tail: [String]?
    /// A message for people.
    public var message: String?
    /// How long the step took.
    public var durationMs: Int?
    /// The outcome, for `finished`.
    public var summary: BuildSummary?
    /// Why a started step runs (the first input that changed since it was last built, `--no-cache`, …).
    public var reason: String?

    /// Makes an event of a kind; set the fields that kind uses.
    public init(_ kind: Kind) { self.kind = kind }

    /// A warning event.
    public static func warning(_ message: String) -> BuildEvent {
        var event = BuildEvent(.warning)
        event.message = message
        return event
    }

    /// The `finished` event.
    public static func finished(_ summary: BuildSummary) -> BuildEvent {
        var event = BuildEvent(.finished)
        event.summary = summary
        return event
    }
}

/// Receives build events; called from the build's task, so it must be cheap and thread-safe.
public typealias BuildEventHandler = @Sendable (BuildEvent) -> Void
