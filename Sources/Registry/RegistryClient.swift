import Foundation
import HTTP
import OCI

/// A manifest as fetched: its bytes (exactly as served), media type, digest and decoded form.
public struct FetchedManifest: Sendable {
    /// The exact bytes, which the digest covers.
    public var bytes: [UInt8]
    /// The media type the registry served it as.
    public var mediaType: String
    /// The sha256 digest of `bytes`.
    public var digest: Digest
    /// The decoded manifest or index.
    public var document: ManifestDocument

    /// A descriptor for this manifest.
    public var descriptor: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)) }
}

/// How a blob reached the registry.
public enum UploadOutcome: String, Sendable {
    /// It was there already (HEAD answered 200).
    case existed
    /// It was mounted from another repository.
    case mounted
    /// Its bytes were uploaded.
    case uploaded
}

/// A client for one registry speaking the OCI distribution protocol, with Basic and Bearer-token auth.
public actor RegistryClient {
    /// The endpoint this client talks to.
    public nonisolated let endpoint: RegistryEndpoint
    private let credential: RegistryCredential?
    private let http: HTTPClient
    private let retry: RetryPolicy
    /// Upload in `PATCH` chunks of this size; nil uploads each blob in one `PUT`.
    private let chunkSize: Int64?

    private var baseURL: String?
    private var challenge: AuthChallenge?
    private var tokens: [String: (token: String, expires: Date)] = [:]
    /// Token requests in flight, so parallel blob transfers share one instead of each asking the token server.
    private var pendingTokens: [String: Task<String, any Error>] = [:]

    /// Makes a client; `chunkSize` switches blob uploads to chunked `PATCH` requests.
    public init(endpoint: RegistryEndpoint, credential: RegistryCredential? = nil, http: HTTPClient = HTTPClient(),
                retry: RetryPolicy = RetryPolicy(), chunkSize: Int64? = nil) {
        self.endpoint = endpoint
        self.credential = credential
        self.http = http
        self.retry = retry
        self.chunkSize = chunkSize
    }

    private var host: String { endpoint.host }

    // MARK: ping and auth

    /// Checks that the registry speaks the distribution API (`GET /v2/`) and learns its auth challenge.
    @discardableResult
    public func ping() async throws -> String {
        if let baseURL { return baseURL }
        var schemes: [String]
        if let scheme = endpoint.scheme { schemes = [scheme] } else { schemes = endpoint.insecure ? ["https", "http"] : ["https"] }
        var lastError: (any Error)?
        for scheme in schemes {
            let url = "\(scheme)://\(host)/v2/"
            do {
                let response = try await transfer(operation: "GET /v2/", method: "GET", url: url, scopes: nil, authorize: false)
                guard response.status == 200 || response.status == 401 else {
                    throw RegistryError.unexpectedStatus(host: host, operation: "GET /v2/ (is this a registry?)", status: response.status,
                                                         detail: Self.errorDetail(response.body))
                }
                if response.status == 401, let header = response.headers["WWW-Authenticate"] {
                    challenge = AuthChallenge.parse(header).first { $0.scheme == "bearer" }
                        ?? AuthChallenge.parse(header).first { $0.scheme == "basic" }
                }
                baseURL = "\(scheme)://\(host)"
                return baseURL!
            } catch let error as RegistryError {
                // An insecure registry may only speak plain HTTP: fall back when HTTPS does not work at all.
                if case .transport(_, _, let underlying) = error, schemes.count > 1 {
                    lastError = error
                    if case .tls = underlying { continue }
                    if case .interrupted = underlying { continue }
                    if case .other = underlying { continue }
                }
                throw error
            }
        }
        throw lastError ?? RegistryError.badResponse(host: host, detail: "no scheme to try")
    }

    private func url(_ path: String) async throws -> String { try await ping() + path }

    /// The Authorization header for a request to `url` needing `scopes`; nil when none applies or it may not be sent.
    private func authorization(url: String, scopes: [String]) async throws -> String? {
        // Credentials and tokens go only to the registry itself (never to another host, e.g. after a redirect).
        guard CredentialPolicy.authority(url) == host.lowercased() else { return nil }
        guard let challenge else { return nil }
        if challenge.scheme == "bearer" {
            let key = scopes.sorted().joined(separator: " ")
            if let cached = tokens[key], cached.expires > Date() { return "Bearer \(cached.token)" }
            if let pending = pendingTokens[key] { return "Bearer \(try await pending.value)" }
            let task = Task { try await self.fetchToken(challenge: challenge, scopes: scopes) }
            pendingTokens[key] = task
            defer { pendingTokens[key] = nil }
            return "Bearer \(try await task.value)"
        }
        guard let credential else { return nil }
        guard url.hasPrefix("https://") || endpoint.insecure else {
            throw RegistryError.refusedToSendCredentials(to: host, reason: "the registry is reached over plain HTTP; mark it insecure in registries.conf if you really mean it")
        }
        return credential.basicAuthorization
    }

    private func fetchToken(challenge: AuthChallenge, scopes: [String]) async throws -> String {
        guard let realm = challenge.parameters["realm"], realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
            throw RegistryError.badResponse(host: host, detail: "Bearer challenge without an http(s) realm")
        }
        var components = URLComponents(string: realm)
        var items = components?.queryItems ?? []
        if let service = challenge.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
        for scope in scopes { items.append(URLQueryItem(name: "scope", value: scope)) }
        components?.queryItems = items.isEmpty ? nil : items
        guard let tokenURL = components?.string else {
            throw RegistryError.badResponse(host: host, detail: "token realm is not a URL")
        }
        var headers = HTTPHeaders()
        if let credential {
            let realmHost = CredentialPolicy.authority(realm)
            guard CredentialPolicy.sameSite(realmHost, host) else {
                throw RegistryError.refusedToSendCredentials(to: realmHost, reason: "the token realm is not on the registry's host \(host) or its domain")
            }
            guard realm.hasPrefix("https://") || endpoint.insecure else {
                throw RegistryError.refusedToSendCredentials(to: realmHost, reason: "the token realm uses plain HTTP and \(host) is not marked insecure")
            }
            headers.add("Authorization", credential.basicAuthorization)
        }
        let response = try await transfer(operation: "token request", method: "GET", url: tokenURL, scopes: nil, authorize: false,
                                           headers: headers, maxBody: 1 << 20)
        switch response.status {
        case 200: break
        case 401, 403:
            throw RegistryError.unauthorized(host: host, credentialSource: credential?.source,
                                             detail: "token server \(CredentialPolicy.authority(realm)) refused them")
        default:
            throw RegistryError.unexpectedStatus(host: CredentialPolicy.authority(realm), operation: "token request",
                                                 status: response.status, detail: Self.errorDetail(response.body))
        }
        struct TokenAnswer: Decodable { var token: String?; var access_token: String?; var expires_in: Int? }
        guard let answer = try? JSONDecoder().decode(TokenAnswer.self, from: Data(response.body)),
              let token = answer.token ?? answer.access_token, !token.isEmpty else {
            throw RegistryError.badResponse(host: CredentialPolicy.authority(realm), detail: "token answer has neither token nor access_token")
        }
        // Distribution spec: without expires_in assume 60 seconds; renew a little early.
        let lifetime = Double(max(answer.expires_in ?? 60, 10))
        tokens[scopes.sorted().joined(separator: " ")] = (token, Date().addingTimeInterval(lifetime - 5))
        return token
    }

    // MARK: requests with retries

    /// Sends one request, retrying transient failures and 5xx with backoff; refreshes auth once on 401.
    private func transfer(operation: String, method: String, url: String, scopes: [String]?, authorize: Bool = true,
                          headers: HTTPHeaders = [:], body: HTTPRequestBody = .none, sink: (any HTTPBodySink)? = nil,
                          maxBody: Int = 4 << 20, attempts: Int? = nil,
                          progress: (@Sendable (HTTPProgress) -> Void)? = nil) async throws -> HTTPResponse {
        let policy = attempts.map { RetryPolicy(attempts: $0, initialDelay: retry.initialDelay, maxDelay: retry.maxDelay, deadline: retry.deadline) } ?? retry
        let started = Date()
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            var h = headers
            if authorize, let scopes, let auth = try await authorization(url: url, scopes: scopes) { h.set("Authorization", auth) }
            let request = HTTPRequest(method: method, url: url, headers: h, body: body, tls: endpoint.tls,
                                      timeouts: HTTPTimeouts(connect: 10, stall: 20), progress: progress, maxCollectedBody: maxBody)
            let response: HTTPResponse
            do {
                response = try await http.send(request, sink: sink)
            } catch let error as HTTPError {
                if error.isTransient && policy.mayRetry(after: attempt, started: started) {
                    try await Task.sleep(nanoseconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                throw RegistryError.transport(host: CredentialPolicy.authority(url), attempts: attempt, underlying: error)
            }
            if response.status == 401, authorize, let scopes, !refreshed {
                refreshed = true
                if let header = response.headers["WWW-Authenticate"],
                   let next = AuthChallenge.parse(header).first(where: { $0.scheme == "bearer" || $0.scheme == "basic" }) {
                    // A Basic challenge after a Bearer one (Gitea outside the owner namespace) is final: keep it for the error.
                    if !(challenge?.scheme == "bearer" && next.scheme == "basic") {
                        challenge = next
                    }
                }
                tokens[scopes.sorted().joined(separator: " ")] = nil
                if challenge != nil && (challenge?.scheme == "bearer" || credential != nil) {
                    attempt -= 1
                    continue
                }
            }
            if (response.status >= 500 || response.status == 429 || response.status == 408) && policy.mayRetry(after: attempt, started: started) {
                try await Task.sleep(nanoseconds: retry.delay(afterAttempt: attempt))
                continue
            }
            return response
        }
    }

    /// Turns a failed answer into an error naming the operation.
    private func failure(_ response: HTTPResponse, operation: String, repository: String) -> RegistryError {
        let detail = Self.errorDetail(response.body)
        switch response.status {
        case 401: return .unauthorized(host: host, credentialSource: credential?.source, detail: detail)
        case 403: return .denied(host: host, repository: repository, credentialSource: credential?.source, detail: detail)
        default: return .unexpectedStatus(host: host, operation: operation, status: response.status, detail: detail)
        }
    }

    /// The `errors` of a distribution error body as `CODE: message`, or a short excerpt.
    static func errorDetail(_ body: [UInt8]) -> String {
        struct Body: Decodable { struct E: Decodable { var code: String?; var message: String? }; var errors: [E]? }
        if let decoded = try? JSONDecoder().decode(Body.self, from: Data(body)), let errors = decoded.errors, !errors.isEmpty {
            return errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0 == " ") }) ? text : ""
    }

    private static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }
    private static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }

    // MARK: manifests

    /// Fetches a manifest by tag or digest, accepting OCI and Docker manifests and indexes, verifying its digest.
    public func manifest(repository: String, reference: String) async throws -> FetchedManifest {
        let url = try await url("/v2/\(repository)/manifests/\(reference)")
        let response = try await transfer(operation: "GET manifest \(repository):\(reference)", method: "GET", url: url,
                                           scopes: [Self.pullScope(repository)],
                                           headers: ["Accept": MediaType.allManifests.joined(separator: ", ")])
        guard response.status == 200 else {
            if response.status == 404 { throw RegistryError.manifestUnknown(host: host, repository: repository, reference: reference) }
            throw failure(response, operation: "GET manifest \(repository):\(reference)", repository: repository)
        }
        let actual = Digest.sha256(of: response.body)
        let expected = (try? Digest(parsing: reference)) ?? response.headers["Docker-Content-Digest"].flatMap { try? Digest(parsing: $0) }
        if let expected, expected.algorithm == "sha256", expected != actual {
            throw RegistryError.digestMismatch(host: host, what: "manifest \(repository):\(reference)", expected: expected, actual: actual)
        }
        let document: ManifestDocument
        do {
            document = try ManifestDocument(decoding: response.body, contentType: response.headers["Content-Type"])
        } catch let error as OCIError {
            throw RegistryError.badResponse(host: host, detail: "manifest \(repository):\(reference): \(error)")
        }
        return FetchedManifest(bytes: response.body, mediaType: document.mediaType, digest: actual, document: document)
    }

    /// Resolves a tag or digest to the manifest's descriptor with `HEAD` (no body), or nil when it does not exist.
    public func manifestDescriptor(repository: String, reference: String) async throws -> Descriptor? {
        let url = try await url("/v2/\(repository)/manifests/\(reference)")
        let response = try await transfer(operation: "HEAD manifest \(repository):\(reference)", method: "HEAD", url: url,
                                           scopes: [Self.pullScope(repository)],
                                           headers: ["Accept": MediaType.allManifests.joined(separator: ", ")])
        switch response.status {
        case 200:
            guard let digestText = response.headers["Docker-Content-Digest"], let digest = try? Digest(parsing: digestText),
                  let size = response.headers["Content-Length"].flatMap({ Int64($0) }) else {
                throw RegistryError.badResponse(host: host, detail: "HEAD manifest \(repository):\(reference) lacks Docker-Content-Digest or Content-Length")
            }
            let type = response.headers["Content-Type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
            return Descriptor(mediaType: type ?? MediaType.ociManifest, digest: digest, size: size)
        case 404: return nil
        default: throw failure(response, operation: "HEAD manifest \(repository):\(reference)", repository: repository)
        }
    }

    /// Uploads a manifest under a tag or digest and returns its digest.
    @discardableResult
    public func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String) async throws -> Digest {
        let url = try await url("/v2/\(repository)/manifests/\(reference)")
        let response = try await transfer(operation: "PUT manifest \(repository):\(reference)", method: "PUT", url: url,
                                           scopes: [Self.pushScope(repository)], headers: ["Content-Type": mediaType],
                                           body: .bytes(bytes))
        guard response.status == 201 || response.status == 200 else {
            throw failure(response, operation: "PUT manifest \(repository):\(reference)", repository: repository)
        }
        return Digest.sha256(of: bytes)
    }

    // MARK: blobs

    /// Whether the repository has the blob (`HEAD`).
    public func blobExists(repository: String, digest: Digest) async throws -> Bool {
        let url = try await url("/v2/\(repository)/blobs/\(digest)")
        let response = try await transfer(operation: "HEAD blob \(digest)", method: "HEAD", url: url,
                                           scopes: [Self.pullScope(repository)])
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw failure(response, operation: "HEAD blob \(digest)", repository: repository)
        }
    }

    /// Downloads a blob to `path`, verifying size and digest; on any failure the file is removed.
    public func downloadBlob(repository: String, descriptor: Descriptor, to path: String,
                             progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        try descriptor.digest.requireVerifiable()
        let sink = try DigestingFileSink(path: path)
        var succeeded = false
        defer {
            sink.close()
            if !succeeded { unlink(path) }
        }
        var url = try await url("/v2/\(repository)/blobs/\(descriptor.digest)")
        var scopes: [String]? = [Self.pullScope(repository)]
        for _ in 0..<6 {
            let response = try await transfer(operation: "GET blob \(descriptor.digest)", method: "GET", url: url, scopes: scopes,
                                               sink: sink, maxBody: 1 << 20,
                                               progress: Self.received(progress))
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.headers["Location"] {
                // Blob storage may live elsewhere (S3, a CDN): follow, but never with our credentials to another host.
                url = Self.resolve(location, against: url)
                if CredentialPolicy.authority(url) != host.lowercased() { scopes = nil }
                continue
            }
            guard response.status == 200 else {
                if response.status == 404 { throw RegistryError.notFound(host: host, what: "blob \(descriptor.digest) in \(repository)") }
                throw failure(response, operation: "GET blob \(descriptor.digest)", repository: repository)
            }
            let (size, actual) = try sink.finish()
            guard size == descriptor.size else {
                throw RegistryError.sizeMismatch(host: host, what: "blob \(descriptor.digest)", expected: descriptor.size, actual: size)
            }
            guard actual == descriptor.digest else {
                throw RegistryError.digestMismatch(host: host, what: "blob", expected: descriptor.digest, actual: actual)
            }
            succeeded = true
            return
        }
        throw RegistryError.badResponse(host: host, detail: "too many redirects for blob \(descriptor.digest)")
    }

    /// Makes the blob at `path` exist in the repository: skipped when present, mounted from `mountFrom` when possible, else uploaded.
    @discardableResult
    public func uploadBlob(repository: String, descriptor: Descriptor, from path: String, mountFrom: String? = nil,
                           progress: (@Sendable (Int64) -> Void)? = nil) async throws -> UploadOutcome {
        if try await blobExists(repository: repository, digest: descriptor.digest) { return .existed }
        var attempt = 0
        let started = Date()
        while true {
            attempt += 1
            do {
                return try await uploadSession(repository: repository, descriptor: descriptor, path: path, mountFrom: mountFrom,
                                               progress: progress)
            } catch let error as RegistryError {
                // A broken upload leaves stale server-side state: start a new session rather than resume.
                guard case .transport(_, _, let underlying) = error, underlying.isTransient,
                      retry.mayRetry(after: attempt, started: started) else { throw error }
                try await Task.sleep(nanoseconds: retry.delay(afterAttempt: attempt))
            }
        }
    }

    private func uploadSession(repository: String, descriptor: Descriptor, path: String, mountFrom: String?,
                               progress: (@Sendable (Int64) -> Void)?) async throws -> UploadOutcome {
        var scopes = [Self.pushScope(repository)]
        var start = "/v2/\(repository)/blobs/uploads/"
        if let mountFrom, mountFrom != repository {
            start += "?mount=\(descriptor.digest)&from=\(mountFrom)"
            // Distribution checks pull on the source repository for a cross-repository mount.
            scopes.append(Self.pullScope(mountFrom))
        }
        let begin = try await transfer(operation: "POST upload \(repository)", method: "POST", url: try await url(start),
                                       scopes: scopes, body: .bytes([]))
        if begin.status == 201 { return .mounted }
        guard begin.status == 202, let first = begin.headers["Location"] else {
            throw failure(begin, operation: "start blob upload to \(repository)", repository: repository)
        }
        var location = Self.resolve(first, against: try await url(start))
        let pushScopes = [Self.pushScope(repository)]
        if let chunkSize, chunkSize > 0, descriptor.size > chunkSize {
            var offset: Int64 = 0
            while offset < descriptor.size {
                let length = min(chunkSize, descriptor.size - offset)
                let base = offset
                // OCI distribution spec: chunked upload, Content-Range is inclusive.
                let response = try await transfer(operation: "PATCH upload chunk", method: "PATCH", url: location, scopes: pushScopes,
                                                   headers: ["Content-Type": "application/octet-stream",
                                                             "Content-Range": "\(offset)-\(offset + length - 1)"],
                                                   body: .file(path: path, offset: offset, length: length), attempts: 1,
                                                   progress: Self.sent(progress, base: base))
                guard response.status == 202, let next = response.headers["Location"] else {
                    throw failure(response, operation: "PATCH blob chunk at \(offset)", repository: repository)
                }
                location = Self.resolve(next, against: location)
                offset += length
            }
            let done = try await transfer(operation: "PUT upload", method: "PUT", url: Self.appendDigest(descriptor.digest, to: location),
                                          scopes: pushScopes, body: .bytes([]), attempts: 1)
            guard done.status == 201 else { throw failure(done, operation: "finish chunked upload of \(descriptor.digest)", repository: repository) }
        } else {
            let done = try await transfer(operation: "PUT blob", method: "PUT", url: Self.appendDigest(descriptor.digest, to: location),
                                          scopes: pushScopes, body: .file(path: path, offset: 0, length: descriptor.size), attempts: 1,
                                          progress: Self.sent(progress, base: 0))
            guard done.status == 201 else { throw failure(done, operation: "PUT blob \(descriptor.digest)", repository: repository) }
        }
        return .uploaded
    }

    private static func received(_ progress: (@Sendable (Int64) -> Void)?) -> (@Sendable (HTTPProgress) -> Void)? {
        guard let progress else { return nil }
        return { progress($0.received) }
    }

    private static func sent(_ progress: (@Sendable (Int64) -> Void)?, base: Int64) -> (@Sendable (HTTPProgress) -> Void)? {
        guard let progress else { return nil }
        return { progress(base + $0.sent) }
    }

    static func appendDigest(_ digest: Digest, to location: String) -> String {
        location + (location.contains("?") ? "&" : "?") + "digest=\(digest)"
    }

    /// Resolves a `Location` header (often relative, as Gitea sends it) against the URL it answered.
    static func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let baseURL = URL(string: base), let resolved = URL(string: location, relativeTo: baseURL) else { return location }
        return resolved.absoluteString
    }
}

/// Writes a download to a file while hashing it; a retried download starts the file again.
final class DigestingFileSink: HTTPBodySink, @unchecked Sendable {
    private let path: String
    private var fd: Int32 = -1
    private var hasher = DigestHasher()
    private var failure: String?

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError.localFile(path: path, detail: String(cString: strerror(errno))) }
    }

    func accept(status: Int, headers: HTTPHeaders) -> Bool {
        guard status == 200 else { return false }
        _ = ftruncate(fd, 0)
        _ = lseek(fd, 0, SEEK_SET)
        hasher = DigestHasher()
        return true
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < chunk.count {
            let n = Foundation.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw RegistryError.localFile(path: path, detail: String(cString: strerror(errno)))
            }
            offset += n
        }
        hasher.update(chunk)
    }

    func finish() throws -> (Int64, Digest) {
        guard fsync(fd) == 0 || errno == EINVAL else { throw RegistryError.localFile(path: path, detail: String(cString: strerror(errno))) }
        return (hasher.count, hasher.finalize())
    }

    func close() {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
    }
}
