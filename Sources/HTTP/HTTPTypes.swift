import Foundation

/// HTTP header fields in order, looked up case-insensitively.
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields as sent or received, in order.
    public private(set) var fields: [(name: String, value: String)]

    /// Makes headers from name/value pairs.
    public init(_ fields: [(String, String)] = []) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    /// Makes headers from a literal.
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// The first value for a name, ignoring case.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// All values for a name, ignoring case.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// Adds a field.
    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces all fields of a name with one value.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    /// Removes all fields of a name.
    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// Iterates over the fields.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Equal when the same fields appear in the same order.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Hashes the fields.
    public func hash(into hasher: inout Hasher) {
        for field in fields { hasher.combine(field.name); hasher.combine(field.value) }
    }
}

/// TLS settings for one request: which CAs to trust, a client certificate, and whether to skip verification.
public struct TLSOptions: Sendable, Hashable {
    /// Extra CA certificates (PEM) trusted in addition to the system's (or instead, if `useSystemCAs` is false).
    public var extraCAPEM: [UInt8]?
    /// Whether the system CA store (/etc/ssl/certs) is trusted.
    public var useSystemCAs: Bool
    /// A client certificate (PEM) for mutual TLS.
    public var clientCertificatePEM: [UInt8]?
    /// The client certificate's private key (PEM).
    public var clientKeyPEM: [UInt8]?
    /// Skip server certificate and host name verification (only for hosts configured insecure).
    public var insecureSkipVerify: Bool

    /// Makes TLS options; by default the system CAs are trusted and verification is on.
    public init(extraCAPEM: [UInt8]? = nil, useSystemCAs: Bool = true, clientCertificatePEM: [UInt8]? = nil,
                clientKeyPEM: [UInt8]? = nil, insecureSkipVerify: Bool = false) {
        self.extraCAPEM = extraCAPEM
        self.useSystemCAs = useSystemCAs
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipVerify = insecureSkipVerify
    }

    /// Reads PEM files into options; errors name the file that could not be read.
    public static func files(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                             insecureSkipVerify: Bool = false) throws -> TLSOptions {
        func read(_ path: String?) throws -> [UInt8]? {
            guard let path else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else { throw HTTPError.unreadableFile(path) }
            return Array(data)
        }
        return TLSOptions(extraCAPEM: try read(caFile), clientCertificatePEM: try read(certificateFile),
                          clientKeyPEM: try read(keyFile), insecureSkipVerify: insecureSkipVerify)
    }
}

/// Where a request body comes from; a file body is streamed, never loaded whole.
public enum HTTPRequestBody: Sendable, Hashable {
    /// No body.
    case none
    /// Bytes in memory (manifests, JSON).
    case bytes([UInt8])
    /// A byte range of a file, streamed from disk.
    case file(path: String, offset: Int64, length: Int64)

    /// The number of bytes the body has.
    public var length: Int64 {
        switch self {
        case .none: return 0
        case .bytes(let b): return Int64(b.count)
        case .file(_, _, let length): return length
        }
    }
}

/// Bytes moved so far by a transfer.
public struct HTTPProgress: Sendable, Hashable {
    /// Bytes sent of the request body.
    public var sent: Int64
    /// Total request body bytes, when known.
    public var sendTotal: Int64
    /// Bytes received of the response body.
    public var received: Int64
    /// Total response body bytes, when known (0 when unknown).
    public var receiveTotal: Int64
}

/// Time limits for a request.
public struct HTTPTimeouts: Sendable, Hashable {
    /// Seconds to establish the connection (TCP and TLS).
    public var connect: Int
    /// Abort when no byte moved for this many seconds (a stalled transfer), however long the transfer is overall.
    public var stall: Int
    /// Seconds for the whole request, or nil for no overall limit (large blobs).
    public var total: Int?

    /// Makes time limits; defaults suit registries on a LAN or loopback.
    public init(connect: Int = 15, stall: Int = 30, total: Int? = nil) {
        self.connect = connect
        self.stall = stall
        self.total = total
    }
}

/// One HTTP request.
public struct HTTPRequest: Sendable {
    /// The method, e.g. `GET`, `HEAD`, `PUT`, `PATCH`.
    public var method: String
    /// The absolute `http://` or `https://` URL.
    public var url: String
    /// Header fields to send.
    public var headers: HTTPHeaders
    /// The body to send.
    public var body: HTTPRequestBody
    /// TLS settings.
    public var tls: TLSOptions
    /// Time limits.
    public var timeouts: HTTPTimeouts
    /// Called on the transfer thread as bytes move (keep it cheap).
    public var progress: (@Sendable (HTTPProgress) -> Void)?
    /// The most bytes of a response body kept in memory when it is not streamed to a sink.
    public var maxCollectedBody: Int

    /// Makes a request.
    public init(method: String = "GET", url: String, headers: HTTPHeaders = [:], body: HTTPRequestBody = .none,
                tls: TLSOptions = TLSOptions(), timeouts: HTTPTimeouts = HTTPTimeouts(),
                progress: (@Sendable (HTTPProgress) -> Void)? = nil, maxCollectedBody: Int = 16 << 20) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
        self.timeouts = timeouts
        self.progress = progress
        self.maxCollectedBody = maxCollectedBody
    }

    /// The host (and port) the URL names, for messages.
    public var host: String { URLComponents(string: url).map { c in (c.host ?? "?") + (c.port.map { ":\($0)" } ?? "") } ?? url }
}

/// The answer to a request.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The response header fields (of the final response, after any 1xx).
    public var headers: HTTPHeaders
    /// The body, when it was not streamed to a sink.
    public var body: [UInt8]
    /// Whether the body went to the sink rather than `body`.
    public var streamed: Bool
    /// New connections this request opened (0 when a kept-alive connection was reused).
    public var newConnections: Int
    /// The URL that answered.
    public var url: String
}

/// Receives a response body as it arrives, on the transfer's thread; one transfer uses a sink at a time.
public protocol HTTPBodySink: AnyObject, Sendable {
    /// Called once the status and headers are known; return true to receive the body, false to leave it in `HTTPResponse.body`.
    func accept(status: Int, headers: HTTPHeaders) -> Bool
    /// Called with each chunk of the body; throwing aborts the transfer with that error.
    func write(_ chunk: UnsafeRawBufferPointer) throws
    /// Called on the transfer's thread once a body it received ended without error, before the caller hears the answer,
    /// so slow work at the end (flushing, fsync) stays off Swift's concurrency threads; throwing fails the request.
    func complete() throws
}

extension HTTPBodySink {
    /// Nothing to finish by default.
    public func complete() throws {}
}
