import Crypto

/// A content digest (`ALGORITHM:ENCODED`), as used by the OCI image and distribution specs.
public struct Digest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The algorithm part, e.g. `sha256`.
    public let algorithm: String
    /// The encoded hash part, e.g. 64 lowercase hex digits for sha256.
    public let encoded: String

    /// Parses and validates a digest string such as `sha256:e3b0...`.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw OCIError.invalidDigest(text, reason: "missing ':' between algorithm and hash")
        }
        let algorithm = String(text[..<colon])
        let encoded = String(text[text.index(after: colon)...])
        // OCI image spec, descriptor.md: algorithm := component ([+._-] component)*, component := [a-z0-9]+
        guard !algorithm.isEmpty, algorithm.utf8.allSatisfy({ Self.isAlgorithmByte($0) }),
              let first = algorithm.utf8.first, Self.isLowerAlnum(first),
              let last = algorithm.utf8.last, Self.isLowerAlnum(last) else {
            throw OCIError.invalidDigest(text, reason: "algorithm \"\(algorithm)\" must be lowercase letters and digits")
        }
        guard !encoded.isEmpty, encoded.utf8.allSatisfy({ Self.isEncodedByte($0) }) else {
            throw OCIError.invalidDigest(text, reason: "hash part is empty or has characters outside [a-zA-Z0-9=_-]")
        }
        let hexLength: Int? = switch algorithm {
        case "sha256": 64
        case "sha512": 128
        default: nil
        }
        if let hexLength {
            guard encoded.utf8.count == hexLength, encoded.utf8.allSatisfy({ Self.isLowerHex($0) }) else {
                throw OCIError.invalidDigest(text, reason: "\(algorithm) needs exactly \(hexLength) lowercase hex digits, got \(encoded.utf8.count) characters")
            }
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// Makes a sha256 digest from 32 raw hash bytes.
    public init<Bytes: Sequence>(sha256 raw: Bytes) where Bytes.Element == UInt8 {
        self.algorithm = "sha256"
        self.encoded = Self.hex(raw)
    }

    /// The sha256 digest of some bytes held in memory.
    public static func sha256<Bytes: Sequence>(of bytes: Bytes) -> Digest where Bytes.Element == UInt8 {
        var hasher = DigestHasher()
        let array = Array(bytes)
        array.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// `ALGORITHM:ENCODED`.
    public var description: String { "\(algorithm):\(encoded)" }

    /// Orders digests by their string form (for stable listings).
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// Decodes a digest from its JSON string form, validating it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
        }
    }

    /// Encodes a digest as its JSON string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
    private static func isAlgorithmByte(_ b: UInt8) -> Bool { isLowerAlnum(b) || b == 0x2b || b == 0x2e || b == 0x5f || b == 0x2d }
    private static func isLowerHex(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x66) || (b >= 0x30 && b <= 0x39) }
    private static func isEncodedByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x3d || b == 0x5f || b == 0x2d
    }
}

/// A streaming sha256 hasher: feed chunks as they arrive, then finalize into a `Digest`.
public struct DigestHasher {
    private var hash = SHA256()
    /// Number of bytes hashed so far.
    public private(set) var count: Int64 = 0

    /// Starts an empty sha256 hash.
    public init() {}

    /// Adds a chunk of bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hash.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    /// Adds bytes held in an array.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far.
    public func finalize() -> Digest {
        Digest(sha256: hash.finalize())
    }
}

extension Digest {
    /// Checks that this digest's algorithm can be computed here (sha256 only).
    public func requireVerifiable() throws {
        guard algorithm == "sha256" else { throw OCIError.unsupportedDigestAlgorithm(algorithm) }
    }
}
