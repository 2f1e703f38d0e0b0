import Foundation
import OCI
import RegistriesConf
import Testing
import TestSupport

@Suite struct RegistriesConfTests {
    let text = """
    unqualified-search-registries = ["docker.io", "quay.io"]

    [[registry]]
    prefix = "docker.io"
    location = "docker.io"

    [[registry.mirror]]
    location = "127.0.0.1:5000/mirror"
    insecure = true

    [[registry.mirror]]
    location = "digest-mirror.test"
    pull-from-mirror = "digest-only"

    [[registry]]
    location = "insecure.test:5000"
    insecure = true

    [[registry]]
    prefix = "docker.io/blocked"
    blocked = true

    [[registry]]
    prefix = "*.corp.test"
    location = "proxy.corp.test"
    """

    @Test func resolvesShortNamesThroughAMirror() throws {
        let config = try RegistriesConfiguration.parse(text, path: "/etc/containers/registries.conf")
        #expect(config.unqualifiedSearchRegistries == ["docker.io", "quay.io"])
        // FROM alpine:3.19 → docker.io/library/alpine:3.19 → the local mirror first, then Docker Hub.
        let sources = try config.pullSources(for: try Reference(parsing: "alpine:3.19"))
        #expect(sources.map(\.reference.description) == ["127.0.0.1:5000/mirror/library/alpine:3.19", "docker.io/library/alpine:3.19"])
        #expect(sources.map(\.insecure) == [true, false])
        #expect(sources.map(\.isMirror) == [true, false])
        let digest = Digest.sha256(of: [1])
        let byDigest = try config.pullSources(for: try Reference(parsing: "alpine@\(digest)"))
        #expect(byDigest.map(\.reference.domain) == ["127.0.0.1:5000", "digest-mirror.test", "docker.io"])
        #expect(config.isInsecure(host: "127.0.0.1:5000"))
        #expect(config.isInsecure(host: "insecure.test:5000"))
        #expect(!config.isInsecure(host: "docker.io"))
        #expect(try config.pullSources(for: try Reference(parsing: "ghcr.io/a/b:1")).map(\.reference.description) == ["ghcr.io/a/b:1"])
        #expect(try config.pullSources(for: try Reference(parsing: "x.corp.test/a:1")).last?.reference.domain == "proxy.corp.test")
        #expect { _ = try config.pullSources(for: try Reference(parsing: "docker.io/blocked/img")) } throws: { "\($0)".contains("blocked") }
        #expect(try config.candidates(forShortName: "alpine:3.19").map(\.description) == ["docker.io/library/alpine:3.19", "quay.io/alpine:3.19"])
        #expect(RegistriesConfiguration.isShortName("alpine"))
        #expect(RegistriesConfiguration.isShortName("library/alpine"))
        #expect(!RegistriesConfiguration.isShortName("localhost:5000/a"))
    }

    @Test func badFilesSayWhereAndWhat() {
        #expect { _ = try RegistriesConfiguration.parse("[[registry]\nlocation = 1", path: "/x.conf") } throws: { "\($0)".contains("/x.conf:") }
        #expect { _ = try RegistriesConfiguration.parse("[[registry]]\ninsecure = true", path: "/y.conf") } throws: { "\($0)".contains("prefix or a location") }
        #expect {
            _ = try RegistriesConfiguration.parse("[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"\npull-from-mirror = \"sometimes\"", path: "/z")
        } throws: { "\($0)".contains("pull-from-mirror") }
        #expect { _ = try RegistriesConfiguration.parse("unqualified-search-registries = \"docker.io\"", path: "/w") } throws: { "\($0)".contains("/w") }
    }

    @Test func loadsTheContainersFileOrder() throws {
        let dir = try TemporaryDirectory("regconf")
        defer { dir.remove() }
        try dir.write("home/.config/containers/registries.conf", "unqualified-search-registries = [\"user.test\"]")
        try dir.write("explicit.conf", "unqualified-search-registries = [\"explicit.test\"]")
        try dir.write("system.conf", "unqualified-search-registries = [\"system.test\"]")
        let home = dir.file("home")
        #expect(try RegistriesConfiguration.load(environment: ["CONTAINERS_REGISTRIES_CONF": dir.file("explicit.conf")], home: home,
                                                 systemPath: dir.file("system.conf")).unqualifiedSearchRegistries == ["explicit.test"])
        #expect(try RegistriesConfiguration.load(environment: [:], home: home, systemPath: dir.file("system.conf")).unqualifiedSearchRegistries == ["user.test"])
        #expect(try RegistriesConfiguration.load(environment: [:], home: dir.file("nohome"), systemPath: dir.file("system.conf")).origin == dir.file("system.conf"))
        #expect(try RegistriesConfiguration.load(environment: [:], home: dir.file("nohome"), systemPath: dir.file("none")).registries.isEmpty)
        // Drop-ins: name order, a search list replaces, a registry with the same prefix replaces.
        try dir.write("system.conf.d/10-mirror.conf", "[[registry]]\nprefix = \"docker.io\"\nlocation = \"first.test\"")
        try dir.write("system.conf.d/20-mirror.conf", "[[registry]]\nprefix = \"docker.io\"\nlocation = \"second.test\"\ninsecure = true")
        try dir.write("nohome/.config/containers/registries.conf.d/30-search.conf", "unqualified-search-registries = [\"dropin.test\"]")
        try dir.write("system.conf.d/ignored.txt", "not toml")
        let merged = try RegistriesConfiguration.load(environment: [:], home: dir.file("nohome"), systemPath: dir.file("system.conf"))
        #expect(merged.unqualifiedSearchRegistries == ["dropin.test"])
        #expect(merged.registries.map(\.location) == ["second.test"])
        #expect(merged.isInsecure(host: "second.test"))
        #expect(merged.origin.contains("20-mirror.conf"))
    }
}
