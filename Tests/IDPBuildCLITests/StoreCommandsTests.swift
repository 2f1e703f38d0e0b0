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

    /// `idpbuild build -t hello:dev` stores REGISTRY/NAMESPACE/hello:dev; every store command must find that image by the
    /// short name, before Docker Hub's docker.io/library/hello:dev, and say which reference it took.
    @Test func shortNamesFindTheGiteaImageInEveryCommand() async throws {
        let dir = try TemporaryDirectory("cli-names")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true))
        // Two different images: the one build would have pushed to Gitea, and Docker Hub's hello:dev (a file /padding.bin).
        var images: [TestImage] = []
        for (repository, padding) in [("giteaadmin/hello", 0), ("library/hello", 1000)] {
            let image = try TestImage.busybox(in: dir.file(repository.replacingOccurrences(of: "/", with: "-")), padding: padding)
            try await client.uploadBlob(repository: repository, descriptor: image.layer, from: image.layerPath)
            try await client.uploadBlob(repository: repository, descriptor: image.config, from: image.configPath)
            try await client.putManifest(repository: repository, reference: "dev", bytes: image.manifest, mediaType: MediaType.ociManifest)
            images.append(image)
        }
        let (giteaImage, hubImage) = (images[0], images[1])
        // The local registry plays Gitea (IDPBUILD_REGISTRY, as build takes it) and Docker Hub (a registries.conf
        // location), so nothing leaves 127.0.0.1.
        let conf = dir.file("registries.conf")
        try Data("""
            [[registry]]
            prefix = "docker.io"
            location = "\(registry.host)"
            insecure = true
            """.utf8).write(to: URL(fileURLWithPath: conf))
        let gitea = "\(registry.host)/giteaadmin"
        let env = ["HOME": dir.path, "XDG_RUNTIME_DIR": dir.path, "IDPBUILD_REGISTRY": registry.host, "CONTAINERS_REGISTRIES_CONF": conf]
        let store = ["--root", dir.file("store")]
        let transfer = store + ["--insecure-registry", registry.host, "--no-kubernetes"]

        let pulled = try idpbuild(["pull", "\(gitea)/hello:dev"] + transfer, environment: env)
        #expect(pulled.status == 0, "\(pulled.stderr)")

        // images NAME: the Gitea reference, and the line saying so.
        let listed = try idpbuild(["images", "hello:dev", "--json"] + store, environment: env)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stderr.contains("hello:dev → \(gitea)/hello:dev"))
        let rows = jsonLines(listed.stdout)
        #expect(rows.filter { $0["digest"] != nil }.map { $0["reference"] as? String } == ["\(gitea)/hello:dev"])
        #expect(rows.contains { $0["event"] as? String == "resolved" && $0["reference"] as? String == "\(gitea)/hello:dev" && $0["name"] as? String == "hello:dev" })

        // run NAME finds it in the store instead of pulling docker.io/library/hello:dev.
        let probe = ["--", "sh", "-c", "if [ -e /padding.bin ]; then echo hub; else echo gitea; fi"]
        let ran = try idpbuild(["run", "hello:dev"] + transfer + probe, environment: env)
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout == "gitea\n")
        #expect(ran.stderr.contains("hello:dev → \(gitea)/hello:dev"))
        #expect(!ran.stderr.contains("docker.io"))
        let ranJSON = try idpbuild(["run", "hello:dev", "--json"] + transfer + probe, environment: env)
        #expect(jsonLines(ranJSON.stdout).contains { $0["type"] as? String == "resolved" && $0["reference"] as? String == "\(gitea)/hello:dev" })

        // --commit with a short name tags like build -t: under REGISTRY/NAMESPACE.
        let committed = try idpbuild(["run", "hello:dev", "--commit", "hello:v2"] + transfer + ["--", "sh", "-c", ":"], environment: env)
        #expect(committed.status == 0, "\(committed.stderr)")
        #expect(committed.stderr.contains("committed \(gitea)/hello:v2 sha256:"))
        let repository = try idpbuild(["images", "hello", "--json"] + store, environment: env)
        #expect(jsonLines(repository.stdout).compactMap { $0["digest"] != nil ? $0["reference"] as? String : nil }
                == ["\(gitea)/hello:dev", "\(gitea)/hello:v2"])

        // push NAME [DEST]: the source is the Gitea image; a short DEST is expanded as build's -t is.
        let pushed = try idpbuild(["push", "hello:dev", "copy:1", "--json"] + transfer, environment: env)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(pushed.stderr.contains("hello:dev → \(gitea)/hello:dev"))
        #expect(pushed.stderr.contains("copy:1 → \(gitea)/copy:1"))
        let result = jsonLines(pushed.stdout).last
        #expect(result?["event"] as? String == "pushed")
        #expect(result?["reference"] as? String == "\(gitea)/copy:1")
        #expect(result?["source"] as? String == "\(gitea)/hello:dev")
        let inspected = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "docker://\(gitea)/copy:1"])
        #expect(inspected.contains(giteaImage.manifestDigest.description))

        // Docker Hub's hello:dev in the store too: the Gitea reference still wins, and pull and run say so.
        let hub = try idpbuild(["pull", "hello:dev"] + transfer, environment: env)
        #expect(hub.status == 0, "\(hub.stderr)")
        #expect(hub.stdout.hasPrefix("docker.io/library/hello:dev \(hubImage.manifestDigest)"))
        #expect(hub.stderr.contains("\(gitea)/hello:dev"))
        let ambiguous = try idpbuild(["run", "hello:dev"] + transfer + probe, environment: env)
        #expect(ambiguous.stdout == "gitea\n", "\(ambiguous.stderr)")
        #expect(ambiguous.stderr.contains("hello:dev → \(gitea)/hello:dev"))
        #expect(ambiguous.stderr.contains("docker.io/library/hello:dev"))
        let full = try idpbuild(["run", "docker.io/library/hello:dev"] + transfer + probe, environment: env)
        #expect(full.stdout == "hub\n", "\(full.stderr)")
        // Another --registry/--namespace (build's names for --gitea-host/--gitea-owner) moves what the short name means.
        let elsewhere = try idpbuild(["images", "hello:dev", "--registry", "gitea.example:8443", "--namespace", "team", "--json"] + store,
                                     environment: env)
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect(jsonLines(elsewhere.stdout).compactMap { $0["digest"] as? String } == [hubImage.manifestDigest.description])

        // rmi NAME untags the Gitea image first, then Docker Hub's; then nothing is left and the error lists the tries.
        let first = try idpbuild(["rmi", "hello:dev"] + store, environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("untagged \(gitea)/hello:dev \(giteaImage.manifestDigest)"))
        let second = try idpbuild(["rmi", "hello:dev", "--json"] + store, environment: env)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("hello:dev → docker.io/library/hello:dev"))
        #expect(jsonLines(second.stdout).contains { $0["event"] as? String == "untagged" && $0["reference"] as? String == "docker.io/library/hello:dev" })
        let none = try idpbuild(["rmi", "hello:dev"] + store, environment: env)
        #expect(none.status == 1)
        #expect(none.stderr.contains("\(gitea)/hello:dev") && none.stderr.contains("docker.io/library/hello:dev"))

        // run of a name in neither place pulls it as pull does (here docker.io through the registries.conf location), says
        // so, and names every try when that fails.
        let repulled = try idpbuild(["run", "hello:dev"] + transfer + probe, environment: env)
        #expect(repulled.stdout == "hub\n", "\(repulled.stderr)")
        #expect(repulled.stderr.contains("hello:dev → docker.io/library/hello:dev (pulled"))
        let missing = try idpbuild(["run", "nope:1"] + transfer + ["--", "true"], environment: env)
        #expect(missing.status == 125)
        #expect(missing.stderr.contains("\(gitea)/nope:1") && missing.stderr.contains("docker.io/library/nope:1"))
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
