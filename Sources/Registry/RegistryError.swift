import HTTP
import OCI

/// Why a registry operation failed; messages name the registry, the credential source, and never a secret.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// The registry refused our credentials (or wanted some and we had none).
    case unauthorized(host: String, credentialSource: String?, detail: String)
    /// The credentials were accepted but lack permission for the repository.
    case denied(host: String, repository: String, credentialSource: String?, detail: String)
    /// The manifest (tag or digest) does not exist.
    case manifestUnknown(host: String, repository: String, reference: String)
    /// The repository or blob does not exist.
    case notFound(host: String, what: String)
    /// The registry answered something we did not expect.
    case unexpectedStatus(host: String, operation: String, status: Int, detail: String)
    /// Content did not match its digest; nothing was stored.
    case digestMismatch(host: String, what: String, expected: Digest, actual: Digest)
    /// Content had the wrong size; nothing was stored.
    case sizeMismatch(host: String, what: String, expected: Int64, actual: Int64)
    /// We refused to send credentials somewhere (another host, plain HTTP, a redirect).
    case refusedToSendCredentials(to: String, reason: String)
    /// The registry could not be reached or the transfer broke, even after retries.
    case transport(host: String, attempts: Int, underlying: HTTPError)
    /// An answer could not be understood.
    case badResponse(host: String, detail: String)
    /// A rule of the target registry was broken (e.g. Gitea's owner namespace).
    case invalidTarget(String)
    /// A local file could not be used.
    case localFile(path: String, detail: String)

    /// A sentence a person can act on.
    public var description: String {
        func source(_ s: String?) -> String { s.map { "credentials from \($0)" } ?? "no credentials" }
        switch self {
        case let .unauthorized(host, credentialSource, detail):
            return "registry \(host) answered 401 Unauthorized using \(source(credentialSource))\(detail.isEmpty ? "" : " (\(detail))"); check the username and password (or log in) and try again"
        case let .denied(host, repository, credentialSource, detail):
            return "registry \(host) denied access to \(repository) using \(source(credentialSource))\(detail.isEmpty ? "" : " (\(detail))"); the user may lack push rights or the namespace may be wrong"
        case let .manifestUnknown(host, repository, reference):
            return "\(host)/\(repository):\(reference) was not found (no such tag or digest); check the name and tag"
        case let .notFound(host, what):
            return "\(what) was not found on \(host)"
        case let .unexpectedStatus(host, operation, status, detail):
            return "registry \(host) answered \(status) to \(operation)\(detail.isEmpty ? "" : ": \(detail)")"
        case let .digestMismatch(host, what, expected, actual):
            return "\(what) from \(host) hashes to \(actual), not \(expected); the transfer was corrupted or the registry is lying; nothing was stored"
        case let .sizeMismatch(host, what, expected, actual):
            return "\(what) from \(host) has \(actual) bytes, not \(expected); nothing was stored"
        case let .refusedToSendCredentials(target, reason):
            return "refused to send credentials to \(target): \(reason)"
        case let .transport(host, attempts, underlying):
            return "\(underlying) (after \(attempts) attempt\(attempts == 1 ? "" : "s") with registry \(host))"
        case let .badResponse(host, detail):
            return "registry \(host) sent an answer that could not be understood: \(detail)"
        case .invalidTarget(let detail):
            return detail
        case let .localFile(path, detail):
            return "cannot use \(path): \(detail)"
        }
    }
}
