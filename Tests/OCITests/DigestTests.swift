import Foundation
import Testing
@testable import OCI

@Suite struct DigestTests {
    @Test func sha256OfKnownInputs() {
        #expect(Digest.sha256(of: [UInt8]()).description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256(of: Array("abc".utf8)).encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func streamingEqualsOneShot() {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = DigestHasher()
        var i = 0
        while i < bytes.count {
            let end = min(i + 4093, bytes.count)
            hasher.update(Array(bytes[i..<end]))
            i = end
        }
        #expect(hasher.count == 100_000)
        #expect(hasher.finalize() == Digest.sha256(of: bytes))
    }

    @Test(arguments: ["sha256", "sha256:", ":abc", "SHA256:" + String(repeating: "a", count: 64),
                      "sha256:" + String(repeating: "A", count: 64), "sha256:abc", "sha512:" + String(repeating: "a", count: 64),
                      "sha256:" + String(repeating: "g", count: 64), "sha-:abc", "sha256:a b"])
    func rejectsMalformed(text: String) {
        #expect(throws: OCIError.self) { _ = try Digest(parsing: text) }
    }

    @Test func acceptsOtherAlgorithmsButCannotVerifyThem() throws {
        let d = try Digest(parsing: "blake3:abcDEF_=-")
        #expect(d.algorithm == "blake3")
        #expect(throws: OCIError.unsupportedDigestAlgorithm("blake3")) { try d.requireVerifiable() }
        try Digest.sha256(of: [1]).requireVerifiable()
    }

    @Test func jsonRoundTripValidates() throws {
        let d = Digest.sha256(of: [1, 2, 3])
        let data = try JSONEncoder().encode([d])
        #expect(try JSONDecoder().decode([Digest].self, from: data) == [d])
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode([Digest].self, from: Data("[\"sha256:zz\"]".utf8)) }
    }

    @Test func mismatchMessageSaysNothingWasStored() {
        let e = OCIError.digestMismatch(expected: Digest.sha256(of: [1]), actual: Digest.sha256(of: [2]))
        #expect(e.description.contains("nothing was stored"))
    }
}
