/// Everything that can be wrong with OCI data: references, digests, manifests and configs.
public enum OCIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An image reference does not follow the distribution grammar.
    case invalidReference(String, reason: String)
    /// A digest string is malformed.
    case invalidDigest(String, reason: String)
    /// A digest uses an algorithm this program cannot compute.
    case unsupportedDigestAlgorithm(String)
    /// Content did not hash to the digest it was announced with.
    case digestMismatch(expected: Digest, actual: Digest)
    /// A manifest, index or config could not be decoded.
    case malformedDocument(kind: String, reason: String)
    /// A manifest type this program does not handle (for example Docker schema 1).
    case unsupportedMediaType(String)
    /// No manifest in an index matches the wanted platform.
    case noMatchingPlatform(wanted: String, available: [String])

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .invalidReference(text, reason):
            return "invalid image reference \"\(text)\": \(reason); expected [HOST[:PORT]/]NAME[:TAG][@sha256:HEX], e.g. docker.io/library/alpine:3.19"
        case let .invalidDigest(text, reason):
            return "invalid digest \"\(text)\": \(reason); expected ALGORITHM:HEX such as sha256:<64 lowercase hex digits>"
        case let .unsupportedDigestAlgorithm(algorithm):
            return "digest algorithm \"\(algorithm)\" is not supported; only sha256 content can be verified"
        case let .digestMismatch(expected, actual):
            return "content digest mismatch: expected \(expected) but the content hashes to \(actual); the data was corrupted or truncated in transit, nothing was stored"
        case let .malformedDocument(kind, reason):
            return "malformed \(kind): \(reason)"
        case let .unsupportedMediaType(type):
            return "unsupported manifest media type \"\(type)\"; supported are OCI image manifest/index and Docker schema 2 manifest/manifest list"
        case let .noMatchingPlatform(wanted, available):
            return "no manifest for platform \(wanted) in the image index; available: \(available.isEmpty ? "none" : available.joined(separator: ", ")); pick one with --platform"
        }
    }
}
