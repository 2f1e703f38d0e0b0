import Testing
@testable import OCI

@Suite struct ReferenceTests {
    @Test(arguments: [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19"),
        ("library/alpine:3.19", "docker.io/library/alpine:3.19"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1"),
        ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app:1.0"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ("gitea.cnoe.localtest.me:8443/giteaadmin/my-app:dev_1", "gitea.cnoe.localtest.me:8443/giteaadmin/my-app:dev_1"),
        ("quay.io/a__b/c.d-e---f", "quay.io/a__b/c.d-e---f:latest"),
    ])
    func normalisesLikeDocker(input: String, expected: String) throws {
        #expect(try Reference(parsing: input).description == expected)
    }

    @Test(arguments: [
        ("hello", true), ("hello:dev", true), ("team/hello", true), ("library/alpine:3.19", true), ("hello@sha256:" + String(repeating: "ab", count: 32), true),
        ("docker.io/library/hello", false), ("index.docker.io/x/y", false), ("localhost/app", false), ("localhost:5000/app", false),
        ("gitea.cnoe.localtest.me:8443/giteaadmin/hello:dev", false), ("127.0.0.1:5000/app", false), ("Registry/app", false),
    ])
    func shortNamesNameNoRegistryHost(input: String, short: Bool) {
        #expect(Reference.isShortName(input) == short)
    }

    @Test func digestReferenceHasNoDefaultTag() throws {
        let hex = String(repeating: "ab", count: 32)
        let ref = try Reference(parsing: "busybox@sha256:\(hex)")
        #expect(ref.tag == nil)
        #expect(ref.digest?.encoded == hex)
        #expect(ref.manifestReference == "sha256:\(hex)")
        let both = try Reference(parsing: "busybox:1@sha256:\(hex)")
        #expect(both.tag == "1")
        #expect(both.manifestReference == "sha256:\(hex)")
        #expect(both.description == "docker.io/library/busybox:1@sha256:\(hex)")
    }

    @Test func partsAreSplitCorrectly() throws {
        let ref = try Reference(parsing: "localhost:5000/team/app:v2")
        #expect(ref.domain == "localhost:5000")
        #expect(ref.repository == "team/app")
        #expect(ref.tag == "v2")
        #expect(ref.name == "localhost:5000/team/app")
        #expect(ref.apiDomain == "localhost:5000")
        #expect(try Reference(parsing: "alpine").apiDomain == "registry-1.docker.io")
        #expect(try Reference(parsing: "alpine", defaultTag: false).tag == nil)
    }

    @Test(arguments: [
        ("", "empty"),
        ("Alpine:3", "lowercase"),
        ("docker.io/Library/alpine", "lowercase"),
        ("alpine:", "tag"),
        ("alpine:-x", "tag"),
        ("alpine@sha256:abc", "digest"),
        ("a//b", "path component"),
        ("-a/b", "path component"),
        ("host:99999/a", "port"),
        ("host:abc/a", "port"),
        ("my_host.com/a", "host"),
        ("[zz]:5000/a", "IPv6"),
        (String(repeating: "ab", count: 32), "image ID"),
        ("alpine 3", "whitespace"),
    ])
    func rejectsInvalidReferencesSayingWhy(input: String, fragment: String) {
        #expect {
            _ = try Reference(parsing: input)
        } throws: { error in
            let text = "\(error)"
            return text.contains(fragment) && text.contains("invalid image reference")
        }
    }

    @Test func rejectsTooLongNamesAndTags() {
        #expect(throws: OCIError.self) { _ = try Reference(parsing: "a/" + String(repeating: "b", count: 260)) }
        #expect(throws: OCIError.self) { _ = try Reference(parsing: "a:" + String(repeating: "b", count: 129)) }
        #expect(throws: Never.self) { _ = try Reference(parsing: "a:" + String(repeating: "b", count: 128)) }
    }

    @Test func replacingDomainKeepsTheRest() throws {
        let ref = try Reference(parsing: "alpine:3.19")
        let mirrored = ref.replacingDomain("127.0.0.1:5000", repositoryPrefix: "mirror")
        #expect(mirrored.description == "127.0.0.1:5000/mirror/library/alpine:3.19")
    }

    @Test func codableRoundTrip() throws {
        let ref = try Reference(parsing: "localhost:5000/a:b")
        let data = try CanonicalJSON.encode([ref])
        #expect(String(decoding: data, as: UTF8.self) == "[\"localhost:5000/a:b\"]")
    }
}
