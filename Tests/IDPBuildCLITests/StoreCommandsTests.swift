import Foundation
import OCI
import Registry
import Testing
import TestSupport

/// Runs the built `idpbuild` binary (it sits next to the test bundle).
func idpbuild(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("idpbuild").path
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    return try TestSupport.run([binary] + arguments, stdin: stdin.map { Data($0.utf8) }, environment: env)
}

func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// End-to-end runs of pull, push, images, rmi and prune against Debian's docker-registry on 127.0.0.1.
@Suite(.serialized) struct StoreCommandsTests {
    @Test func pullImagesPushRmiPrune() async throws {
        let dir = try TemporaryDirectory("cli")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true))
        try await client.uploadBlob(repository: "library/busybox", descriptor: image.layer, from: image.layerPath)
        try await client.uploadBlob(repository: "library/busybox", descriptor: image.config, from: image.configPath)
        try await client.putManifest(repository: "library/busybox", reference: "1", bytes: image.manifest, mediaType: MediaType.ociManifest)
        let common = ["--root", dir.file("store"), "--insecure-registry", registry.host, "--no-kubernetes"]
        let env = ["HOME": dir.path, "XDG_RUNTIME_DIR": dir.path]

        let pull = try idpbuild(["pull", "\(registry.host)/library/busybox:1", "--json"] + common, environment: env)
        #expect(pull.status == 0, "\(pull.stderr)")
        let events = jsonLines(pull.stdout)
        #expect(events.last?["event"] as? String == "pulled")
        #expect(events.last?["digest"] as? String == image.manifestDigest.description)
        #expect(events.contains { $0["kind"] as? String == "blobDone" })

        let list = try idpbuild(["images", "--root", dir.file("store")])
        #expect(list.status == 0)
        #expect(list.stdout.contains("\(registry.host)/library/busybox:1"))
        #expect(list.stdout.contains(String(image.manifestDigest.encoded.prefix(12))))

        let push = try idpbuild(["push", "\(registry.host)/library/busybox:1", "\(registry.host)/giteaadmin/busybox:v2", "--chunk-size", "1"] + common,
                                environment: env)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout.contains(image.manifestDigest.description))
        let inspected = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "docker://\(registry.host)/giteaadmin/busybox:v2"])
        #expect(inspected.contains(image.manifestDigest.description))

        let rmi = try idpbuild(["rmi", "\(registry.host)/library/busybox:1", "--root", dir.file("store")])
        #expect(rmi.status == 0)
        #expect(rmi.stdout.contains("untagged"))
        let prune = try idpbuild(["prune", "--grace", "0", "--json", "--root", dir.file("store")])
        let report = jsonLines(prune.stdout).first?["report"] as? [String: Any]
        #expect(report?["blobs"] as? Int == 3)
        let empty = try idpbuild(["images", "--json", "--root", dir.file("store")])
        #expect(empty.stdout.isEmpty)
    }

    @Test func errorsHaveClearMessagesAndExitCodes() async throws {
        let dir = try TemporaryDirectory("cli-errors")
        defer { dir.remove() }
        let bad = try idpbuild(["pull", "Bad:Ref", "--root", dir.file("store")])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("must be lowercase"))
        let noPassword = try idpbuild(["pull", "alpine", "--username", "u", "--root", dir.file("store")])
        #expect(noPassword.status == 2)
        #expect(noPassword.stderr.contains("--password-stdin"))
        let rmi = try idpbuild(["rmi", "docker.io/library/none:1", "--root", dir.file("store")])
        #expect(rmi.status == 1)
        #expect(rmi.stderr.contains("no image docker.io/library/none:1"))

        let ca = try CertificateAuthority(directory: dir.file("ca"))
        let registry = try await DockerRegistry(directory: dir.file("registry"), tls: try ca.issue("registry"),
                                                auth: .htpasswd(user: "giteaAdmin", password: "right-pw"))
        defer { registry.stop() }
        let wrong = try idpbuild(["pull", "\(registry.host)/giteaadmin/x:1", "--username", "giteaAdmin", "--password-stdin",
                                  "--insecure-registry", registry.host, "--no-kubernetes", "--root", dir.file("store")],
                                 stdin: "wrong-pw\n", environment: ["HOME": dir.path])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("401"))
        #expect(wrong.stderr.contains(registry.host))
        #expect(wrong.stderr.contains("--username/--password-stdin"))
        #expect(!wrong.stderr.contains("wrong-pw") && !wrong.stdout.contains("wrong-pw"))
        let missing = try idpbuild(["pull", "\(registry.host)/giteaadmin/x:1", "--username", "giteaAdmin", "--password-stdin",
                                    "--insecure-registry", registry.host, "--no-kubernetes", "--root", dir.file("store"), "--json"],
                                   stdin: "right-pw\n", environment: ["HOME": dir.path])
        #expect(missing.status == 1)
        #expect(jsonLines(missing.stdout).last?["event"] as? String == "error")
        #expect(missing.stderr.contains("not found"))
    }
}
