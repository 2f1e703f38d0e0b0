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

    /// Sends one request, retrying transient failures and 5xx/408/429 answers (as long as `Retry-After` says, capped) within
    /// `budget` (one per call when nil); refreshes auth once on 401. With `retries: false` a failure is counted but left to
    /// the caller, for a body the registry may have taken in part. A `DigestingFileSink` resumes each retry where its file ends.
    private func transfer(operation: String, method: String, url: String, scopes: [String]?, authorize: Bool = true,
                          headers: HTTPHeaders = [:], body: HTTPRequestBody = .none, sink: (any HTTPBodySink)? = nil,
                          maxBody: Int = 4 << 20, budget: RetryBudget? = nil, retries: Bool = true,
                          progress: (@Sendable (HTTPProgress) -> Void)? = nil) async throws -> HTTPResponse {
        let budget = budget ?? RetryBudget(retry)
        let resumable = sink as? DigestingFileSink
        var refreshed = false
        while true {
            var h = headers
            if authorize, let scopes, let auth = try await authorization(url: url, scopes: scopes) { h.set("Authorization", auth) }
            if let range = resumable?.rangeHeader { h.set("Range", range) }
            let timeouts = budget.timeouts()
            let request = HTTPRequest(method: method, url: url, headers: h, body: body, tls: endpoint.tls,
                                      timeouts: timeouts, progress: progress, maxCollectedBody: maxBody)
            let started = Date()
            let response: HTTPResponse
            do {
                response = try await http.send(request, sink: sink)
            } catch let error as HTTPError {
                if let resumable { budget.progress(to: resumable.offset) }
                guard error.isTransient else {
                    throw RegistryError.transport(host: CredentialPolicy.authority(url), attempts: budget.failures + 1, underlying: error)
                }
                budget.failed(since: Self.faultStart(error, attemptStarted: started, timeouts: timeouts))
                if retries, let delay = budget.nextDelay() {
                    try await Task.sleep(nanoseconds: delay)
                    continue
                }
                throw RegistryError.transport(host: CredentialPolicy.authority(url), attempts: budget.failures, underlying: error)
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
                if challenge != nil && (challenge?.scheme == "bearer" || credential != nil) { continue }
            }
            if Self.isRetryable(response.status) {
                budget.failed()
                if retries, let delay = budget.nextDelay(retryAfter: Self.retryAfter(response.headers)) {
                    try await Task.sleep(nanoseconds: delay)
                    continue
                }
            }
            return response
        }
    }

    /// Answers worth another attempt: server errors, request timeouts, rate limits.
    static func isRetryable(_ status: Int) -> Bool { status >= 500 || status == 408 || status == 429 }

    /// When the fault behind a transient error began: a stall started `stall` seconds before it was noticed, a failed
    /// connect when the attempt did, anything else just now.
    static func faultStart(_ error: HTTPError, attemptStarted: Date, timeouts: HTTPTimeouts, now: Date = Date()) -> Date {
        switch error {
        case .timedOut: return max(attemptStarted, now.addingTimeInterval(-Double(timeouts.stall)))
        case .connectionFailed: return attemptStarted
        default: return now
        }
    }

    /// The seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or nil when there is none to read.
    static func retryAfter(_ headers: HTTPHeaders, now: Date = Date()) -> Double? {
        guard let value = headers["Retry-After"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return Double(max(0, seconds)) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return format.date(from: value).map { max(0, $0.timeIntervalSince(now)) }
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
        try await blobExists(repository: repository, digest: digest, budget: RetryBudget(retry))
    }

    private func blobExists(repository: String, digest: Digest, budget: RetryBudget) async throws -> Bool {
        let url = try await url("/v2/\(repository)/blobs/\(digest)")
        let response = try await transfer(operation: "HEAD blob \(digest)", method: "HEAD", url: url,
                                           scopes: [Self.pullScope(repository)], budget: budget)
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw failure(response, operation: "HEAD blob \(digest)", repository: repository)
        }
    }

    /// Downloads a blob to `path`, verifying size and digest; on any failure the file is removed.
    /// A download that breaks resumes with `Range` from where the file ends, or starts again when the server cannot resume.
    /// `observer` sees the bytes in order as they arrive (and hears when the download starts over); they are not verified
    /// until this returns, so it must keep whatever it makes from them aside until then.
    public func downloadBlob(repository: String, descriptor: Descriptor, to path: String, observer: (any BlobStreamObserver)? = nil,
                             progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        try descriptor.digest.requireVerifiable()
        let sink = try DigestingFileSink(path: path, host: host, expectedSize: descriptor.size, observer: observer, progress: progress)
        var succeeded = false
        defer {
            sink.close()
            if !succeeded { unlink(path) }
        }
        let budget = RetryBudget(retry)
        let operation = "GET blob \(descriptor.digest)"
        var url = try await url("/v2/\(repository)/blobs/\(descriptor.digest)")
        var scopes: [String]? = [Self.pullScope(repository)]
        var redirects = 0
        while true {
            let before = sink.offset
            let response = try await transfer(operation: operation, method: "GET", url: url, scopes: scopes,
                                               sink: sink, maxBody: 1 << 20, budget: budget)
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.headers["Location"] {
                redirects += 1
                guard redirects <= 5 else { throw RegistryError.badResponse(host: host, detail: "too many redirects for blob \(descriptor.digest)") }
                // Blob storage may live elsewhere (S3, a CDN): follow, but never with our credentials to another host.
                url = Self.resolve(location, against: url)
                if CredentialPolicy.authority(url) != host.lowercased() { scopes = nil }
                continue
            }
            if response.status == 416 || (response.status == 206 && sink.droppedRange) {
                // The server would not resume where the file ends: fetch the whole blob again.
                sink.restart(resuming: false)
                budget.failed()
                guard let delay = budget.nextDelay() else {
                    throw RegistryError.badResponse(host: CredentialPolicy.authority(url), detail: "\(operation) cannot be resumed (answer \(response.status))")
                }
                try await Task.sleep(nanoseconds: delay)
                continue
            }
            if response.status == 206 && sink.offset < descriptor.size && sink.offset > before {
                budget.progress(to: sink.offset)
                continue  // a range that ended early: ask for the rest
            }
            guard response.status == 200 || response.status == 206 else {
                if response.status == 404 { throw RegistryError.notFound(host: host, what: "blob \(descriptor.digest) in \(repository)") }
                throw failure(response, operation: operation, repository: repository)
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
    }

    /// Makes the blob at `path` exist in the repository: skipped when present, mounted from `mountFrom` when possible, else uploaded.
    /// An upload that breaks goes on from the offset the registry reports for it, or in a new session when it cannot,
    /// re-reading the blob from `path`.
    @discardableResult
    public func uploadBlob(repository: String, descriptor: Descriptor, from path: String, mountFrom: String? = nil,
                           progress: (@Sendable (Int64) -> Void)? = nil) async throws -> UploadOutcome {
        let budget = RetryBudget(retry)
        if try await blobExists(repository: repository, digest: descriptor.digest, budget: budget) { return .existed }
        sessions: while true {
            guard var upload = try await startUpload(repository: repository, descriptor: descriptor, mountFrom: mountFrom,
                                                     budget: budget) else { return .mounted }
            while true {
                do {
                    try await send(&upload, repository: repository, descriptor: descriptor, path: path, budget: budget, progress: progress)
                    return .uploaded
                } catch let stopped as UploadInterruption {
                    guard let delay = budget.nextDelay(retryAfter: stopped.retryAfter) else { throw stopped.error }
                    try await Task.sleep(nanoseconds: delay)
                    // Only the answer may have been lost: the registry can have the blob already.
                    if try await blobExists(repository: repository, digest: descriptor.digest, budget: budget) { return .uploaded }
                    guard stopped.resumable,
                          let status = try await uploadStatus(upload, repository: repository, size: descriptor.size, budget: budget) else {
                        continue sessions
                    }
                    upload = status
                    budget.progress(to: upload.offset)
                }
            }
        }
    }

    /// An upload session: where to send the next bytes, and how many of the blob's the registry holds.
    private struct BlobUpload {
        var location: String
        var offset: Int64
        /// Whether `offset` came from asking the registry (rather than from our own requests).
        var resumed = false
    }

    /// Why an upload attempt stopped short (the failure already counted): `error` is thrown when no retry is left.
    private struct UploadInterruption: Error {
        var error: RegistryError
        var retryAfter: Double?
        /// Whether asking the registry for its offset may save what was sent; if not, a new session starts.
        var resumable: Bool
    }

    /// Starts an upload session (`POST`), or returns nil when the registry mounted the blob from `mountFrom` instead.
    private func startUpload(repository: String, descriptor: Descriptor, mountFrom: String?, budget: RetryBudget) async throws -> BlobUpload? {
        var scopes = [Self.pushScope(repository)]
        var start = "/v2/\(repository)/blobs/uploads/"
        if let mountFrom, mountFrom != repository {
            start += "?mount=\(descriptor.digest)&from=\(mountFrom)"
            // Distribution checks pull on the source repository for a cross-repository mount.
            scopes.append(Self.pullScope(mountFrom))
        }
        let startURL = try await url(start)
        let begin = try await transfer(operation: "POST upload \(repository)", method: "POST", url: startURL,
                                       scopes: scopes, body: .bytes([]), budget: budget)
        if begin.status == 201 { return nil }
        guard begin.status == 202, let first = begin.headers["Location"] else {
            throw failure(begin, operation: "start blob upload to \(repository)", repository: repository)
        }
        return BlobUpload(location: Self.resolve(first, against: startURL), offset: 0)
    }

    /// Sends the blob from `upload.offset` on: in `PATCH` chunks then an empty closing `PUT` when chunked, else in the closing `PUT`.
    private func send(_ upload: inout BlobUpload, repository: String, descriptor: Descriptor, path: String, budget: RetryBudget,
                      progress: (@Sendable (Int64) -> Void)?) async throws {
        let scopes = [Self.pushScope(repository)]
        let done: HTTPResponse
        let operation: String
        if let chunkSize, chunkSize > 0, descriptor.size > chunkSize {
            while upload.offset < descriptor.size {
                let length = min(chunkSize, descriptor.size - upload.offset)
                let chunk = "PATCH blob chunk at \(upload.offset)"
                // OCI distribution spec: chunked upload, Content-Range is inclusive.
                let response = try await uploadRequest(operation: chunk, method: "PATCH", url: upload.location, scopes: scopes,
                                                       headers: ["Content-Type": "application/octet-stream",
                                                                 "Content-Range": "\(upload.offset)-\(upload.offset + length - 1)"],
                                                       body: .file(path: path, offset: upload.offset, length: length), budget: budget,
                                                       progress: Self.sent(progress, base: upload.offset))
                guard response.status == 202, let next = response.headers["Location"] else {
                    throw interruption(response, operation: chunk, repository: repository, resumed: upload.resumed, budget: budget)
                }
                upload.location = Self.resolve(next, against: upload.location)
                upload.offset += length
                upload.resumed = false
                budget.progress(to: upload.offset)
            }
            operation = "finish chunked upload of \(descriptor.digest)"
            done = try await uploadRequest(operation: operation, method: "PUT", url: Self.appendDigest(descriptor.digest, to: upload.location),
                                           scopes: scopes, body: .bytes([]), budget: budget)
        } else {
            // The closing PUT carries the rest of the blob (all of it unless the registry said it holds a part).
            var headers: HTTPHeaders = [:]
            if upload.offset > 0 { headers.set("Content-Range", "\(upload.offset)-\(descriptor.size - 1)") }
            operation = "PUT blob \(descriptor.digest)"
            done = try await uploadRequest(operation: operation, method: "PUT", url: Self.appendDigest(descriptor.digest, to: upload.location),
                                           scopes: scopes, headers: headers,
                                           body: .file(path: path, offset: upload.offset, length: descriptor.size - upload.offset),
                                           budget: budget, progress: Self.sent(progress, base: upload.offset))
        }
        guard done.status == 201 else {
            throw interruption(done, operation: operation, repository: repository, resumed: upload.resumed, budget: budget)
        }
    }

    /// One request of an upload, not retried by itself (its body may have reached the registry in part): a transient
    /// transport failure becomes an `UploadInterruption`.
    private func uploadRequest(operation: String, method: String, url: String, scopes: [String], headers: HTTPHeaders = [:],
                               body: HTTPRequestBody, budget: RetryBudget,
                               progress: (@Sendable (HTTPProgress) -> Void)? = nil) async throws -> HTTPResponse {
        do {
            return try await transfer(operation: operation, method: method, url: url, scopes: scopes, headers: headers, body: body,
                                      budget: budget, retries: false, progress: progress)
        } catch let error as RegistryError {
            if case .transport(_, _, let underlying) = error, underlying.isTransient {
                throw UploadInterruption(error: error, retryAfter: nil, resumable: true)
            }
            throw error
        }
    }

    /// What a failed answer to an upload request means: worth asking for the offset (5xx, 408, 429, 416), worth a new
    /// session (a resumed upload the registry no longer takes), or final.
    private func interruption(_ response: HTTPResponse, operation: String, repository: String, resumed: Bool,
                              budget: RetryBudget) -> any Error {
        let error = failure(response, operation: operation, repository: repository)
        if Self.isRetryable(response.status) {  // counted by transfer
            return UploadInterruption(error: error, retryAfter: Self.retryAfter(response.headers), resumable: true)
        }
        if response.status == 416 || (resumed && (response.status == 400 || response.status == 404)) {
            budget.failed()
            return UploadInterruption(error: error, retryAfter: nil, resumable: response.status == 416)
        }
        return error
    }

    /// Asks the registry how much of an upload it holds (`GET` on its URL answers 204 with `Range: 0-N`, inclusive); nil
    /// when it no longer knows the upload or holds nothing worth keeping (`0-0` cannot tell no byte from one).
    private func uploadStatus(_ upload: BlobUpload, repository: String, size: Int64, budget: RetryBudget) async throws -> BlobUpload? {
        let response = try await transfer(operation: "GET upload status", method: "GET", url: upload.location,
                                           scopes: [Self.pushScope(repository)], budget: budget)
        guard response.status == 204, let end = Self.rangeEnd(response.headers["Range"]), end > 0, end < size else { return nil }
        let location = response.headers["Location"].map { Self.resolve($0, against: upload.location) } ?? upload.location
        return BlobUpload(location: location, offset: end + 1, resumed: true)
    }

    /// The last byte of a `Range: 0-N` (or `bytes=0-N`) upload status header.
    static func rangeEnd(_ header: String?) -> Int64? {
        guard var text = header?.trimmingCharacters(in: .whitespaces) else { return nil }
        if text.hasPrefix("bytes=") { text.removeFirst("bytes=".count) }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "0", let end = Int64(parts[1]), end >= 0 else { return nil }
        return end
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
