/// Progress of a pull or push, for progress bars and `--json` lines.
public struct TransferEvent: Sendable, Codable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Codable {
        /// Trying a source (a mirror or the registry itself).
        case resolving
        /// A manifest was fetched or pushed.
        case manifest
        /// A blob transfer started.
        case blobStarted
        /// Bytes moved for a blob.
        case blobProgress
        /// A blob finished.
        case blobDone
        /// A blob was already there (skipped).
        case blobSkipped
        /// A blob was mounted from another repository.
        case blobMounted
        /// The image was tagged (pull) or its manifest pushed (push).
        case done
        /// Something worth knowing that did not stop the transfer (e.g. a mirror failed).
        case warning
    }

    /// `pull` or `push`.
    public var phase: String
    /// What happened.
    public var kind: Kind
    /// The image reference concerned.
    public var reference: String
    /// The blob or manifest digest, if any.
    public var digest: String?
    /// Bytes done so far.
    public var bytes: Int64?
    /// Total bytes, when known.
    public var total: Int64?
    /// A human message.
    public var message: String?

    /// Makes an event.
    public init(phase: String, kind: Kind, reference: String, digest: String? = nil, bytes: Int64? = nil, total: Int64? = nil,
                message: String? = nil) {
        self.phase = phase
        self.kind = kind
        self.reference = reference
        self.digest = digest
        self.bytes = bytes
        self.total = total
        self.message = message
    }
}

/// Receives transfer events; called from transfer threads, so it must be cheap and thread-safe.
public typealias TransferEventHandler = @Sendable (TransferEvent) -> Void
