import DockerfileSyntax

/// What a build would do for one instruction.
public struct StepCacheState: Sendable, Codable, Hashable {
    /// What the step would do.
    public enum State: String, Sendable, Codable {
        /// Its result is in the cache.
        case cached
        /// It would run (no cache record, or an earlier step will run).
        case willRun
        /// It only changes the image config (no file system work, nothing to cache).
        case metadata
    }
    /// The instruction's index in the Dockerfile.
    public var instructionIndex: Int
    /// Its range.
    public var range: SourceRange
    /// The verdict.
    public var state: State
    /// Why it would run (the first input that changed, `--no-cache`, no record), for `willRun`.
    public var reason: String?

    /// Makes a state.
    public init(instructionIndex: Int, range: SourceRange, state: State, reason: String? = nil) {
        self.instructionIndex = instructionIndex
        self.range = range
        self.state = state
        self.reason = reason
    }
}
