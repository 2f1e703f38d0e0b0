/// Why credentials or trust settings could not be read.
public enum CredentialsError: Error, Sendable, CustomStringConvertible {
    /// A credentials file exists but is not valid.
    case malformedFile(path: String, detail: String)
    /// A docker credential helper failed.
    case helperFailed(helper: String, host: String, detail: String)
    /// The Kubernetes API could not be used.
    case kubernetes(server: String, detail: String)
    /// A kubeconfig could not be used.
    case kubeconfig(path: String, detail: String)

    /// A sentence a person can act on (never containing a secret).
    public var description: String {
        switch self {
        case let .malformedFile(path, detail): return "cannot read credentials from \(path): \(detail); fix or remove the file"
        case let .helperFailed(helper, host, detail): return "credential helper docker-credential-\(helper) failed for \(host): \(detail)"
        case let .kubernetes(server, detail): return "Kubernetes API \(server): \(detail)"
        case let .kubeconfig(path, detail): return "kubeconfig \(path): \(detail)"
        }
    }
}
