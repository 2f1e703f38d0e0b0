/// Why an HTTP request failed before an answer arrived.
public enum HTTPError: Error, Sendable, CustomStringConvertible {
    /// The URL is not an http(s) URL libcurl accepts.
    case invalidURL(String)
    /// The host could not be resolved.
    case unresolvableHost(String)
    /// Nothing accepted the connection.
    case connectionFailed(host: String, detail: String)
    /// TLS set-up or certificate verification failed.
    case tls(host: String, detail: String)
    /// The connection broke mid-transfer (reset, broken pipe, truncated body); a request body may have arrived in part.
    case interrupted(host: String, detail: String)
    /// A time limit passed.
    case timedOut(host: String, detail: String)
    /// The answer was larger than the in-memory limit.
    case responseTooLarge(host: String, limit: Int)
    /// A request-body file could not be read.
    case unreadableFile(String)
    /// The body sink failed (for example a full disk).
    case sink(String)
    /// Any other libcurl failure.
    case other(host: String, code: Int, detail: String)

    /// True for failures worth retrying (dropped connections, timeouts), false for configuration errors.
    public var isTransient: Bool {
        switch self {
        case .interrupted, .timedOut, .connectionFailed: return true
        default: return false
        }
    }

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case .invalidURL(let url): return "invalid URL \(url); only http:// and https:// URLs are supported"
        case .unresolvableHost(let host): return "cannot resolve host \(host); check the name and your DNS or /etc/hosts"
        case let .connectionFailed(host, detail): return "cannot connect to \(host): \(detail); is the server running and the port right?"
        case let .tls(host, detail):
            return "TLS with \(host) failed: \(detail); trust its CA (certs.d/\(host)/ca.crt or --ca-file) or mark the host insecure if you must"
        case let .interrupted(host, detail): return "the connection to \(host) broke mid-transfer: \(detail)"
        case let .timedOut(host, detail): return "request to \(host) timed out: \(detail)"
        case let .responseTooLarge(host, limit): return "the answer from \(host) is larger than \(limit) bytes, which is more than expected for this request"
        case .unreadableFile(let path): return "cannot read \(path); check that it exists and is readable"
        case .sink(let detail): return "writing the downloaded data failed: \(detail)"
        case let .other(host, code, detail): return "request to \(host) failed (libcurl error \(code)): \(detail)"
        }
    }
}
