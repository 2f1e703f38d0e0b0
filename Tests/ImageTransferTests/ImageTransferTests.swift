import Foundation
import HTTP
import ImageStore
import ImageTransfer
import OCI
import Registry
import RegistriesConf
import Testing
import TestSupport

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items = [TransferEvent]()
    func add(_ e: TransferEvent) { lock.lock(); items.append(e); lock.unlock() }
    var all: [TransferEvent] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Pushes the busybox test image to a registry with the plain registry client.
func seed(_ image: TestImage, host: String, repository: String, tag: String) async throws {
    let client = RegistryClient(endpoint: RegistryEndpoint(host: host, insecure: true))
    try await client.uploadBlob(repository: repository, descriptor: image.layer, from: image.layerPath)
    try await client.uploadBlob(repository: repository, descriptor: image.config, from: image.configPath)
    try await client.putManifest(repository: repository, reference: tag, bytes: image.manifest, mediaType: MediaType.ociManifest)
}

/// These tests start Debian's docker-registry on 127.0.0.1 (see TestSupport.DockerRegistry).
@Suite(.serialized) struct ImageTransferTests {
    @Test func fromAlpineResolvesThroughALocalMirror() async throws {
        let dir = try TemporaryDirectory("mirror")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "mirror/library/alpine", tag: "3.19")
        let conf = try RegistriesConfiguration.parse("""
        [[registry]]
        prefix = "docker.io"
        location = "docker.io"
        [[registry.mirror]]
        location = "\(registry.host)/mirror"
        insecure = true
        """)
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(registries: conf))
        let log = EventLog()
        let pulled = try await transfer.pull(try Reference(parsing: "alpine:3.19"), events: log.add)
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(try store.list().map(\.reference) == ["docker.io/library/alpine:3.19"])
        #expect(log.all.filter { $0.kind == .blobDone }.count == 2)
        #expect(log.all.last?.kind == .done)
        // The pulled layer unpacks into a working busybox tree.
        let tree = try store.unpackLayer(pulled.manifest.layers[0], chainID: pulled.config.rootfs.chainIDs[0])
        #expect(FileManager.default.isExecutableFile(atPath: tree + "/bin/busybox"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: tree + "/bin/sh") == "busybox")
        // Pulling again transfers nothing.
        let again = EventLog()
        _ = try await transfer.pull(try Reference(parsing: "alpine:3.19"), events: again.add)
        #expect(again.all.filter { $0.kind == .blobSkipped }.count == 2)
        #expect(again.all.filter { $0.kind == .blobDone }.isEmpty)
    }

    @Test func aFailingMirrorFallsBackToTheRegistry() async throws {
        let dir = try TemporaryDirectory("fallback")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "x/busybox", tag: "1")
        let dead = TestSupport.freePort()
        let conf = try RegistriesConfiguration.parse("""
        [[registry]]
        prefix = "example.test"
        location = "\(registry.host)"
        insecure = true
        [[registry.mirror]]
        location = "127.0.0.1:\(dead)"
        insecure = true
        """)
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(registries: conf, retry: RetryPolicy(attempts: 1)))
        let log = EventLog()
        _ = try await transfer.pull(try Reference(parsing: "example.test/x/busybox:1"), events: log.add)
        #expect(log.all.contains { $0.kind == .warning && ($0.message ?? "").contains("127.0.0.1:\(dead)") })
        #expect(try store.resolve("example.test/x/busybox:1")?.digest == image.manifestDigest)
    }

    @Test func pushFromTheStoreIsAValidImageAndGiteaRulesApply() async throws {
        let dir = try TemporaryDirectory("push")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "base/busybox", tag: "1")
        let store = try ImageStore(root: dir.file("store"))
        let access = RegistryAccess(insecureHosts: [registry.host])
        let transfer = ImageTransfer(store: store, access: access, gitea: (host: registry.host, owner: "giteaAdmin"))
        let source = try Reference(parsing: "\(registry.host)/base/busybox:1")
        try await transfer.pull(source)
        let log = EventLog()
        let digest = try await transfer.push(source.description, to: try Reference(parsing: "\(registry.host)/giteaadmin/app:v1"), events: log.add)
        #expect(digest == image.manifestDigest)
        // Same registry, other repository: blobs are mounted, not uploaded again.
        #expect(log.all.filter { $0.kind == .blobMounted }.count == 2)
        let out = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "docker://\(registry.host)/giteaadmin/app:v1"])
        #expect(out.contains(image.manifestDigest.description))
        await #expect {
            try await transfer.push(source.description, to: try Reference(parsing: "\(registry.host)/library/app:v1"))
        } throws: { "\($0)".contains("\(registry.host)/giteaadmin/app") }
        await #expect { try await transfer.push("docker.io/library/absent:1", to: try Reference(parsing: "\(registry.host)/giteaadmin/x:1")) } throws: {
            "\($0)".contains("no image docker.io/library/absent:1")
        }
    }

    @Test func indexesArePulledForOnePlatform() async throws {
        let dir = try TemporaryDirectory("index")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "multi/busybox", tag: "single")
        let index = try CanonicalJSON.encode(ImageIndex(manifests: [
            Descriptor(mediaType: MediaType.ociManifest, digest: image.manifestDigest, size: Int64(image.manifest.count), platform: Platform(architecture: "s390x")),
            Descriptor(mediaType: MediaType.ociManifest, digest: image.manifestDigest, size: Int64(image.manifest.count), platform: .current),
        ]))
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true))
        try await client.putManifest(repository: "multi/busybox", reference: "latest", bytes: index, mediaType: MediaType.ociIndex)
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [registry.host]))
        let pulled = try await transfer.pull(try Reference(parsing: "\(registry.host)/multi/busybox"))
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(try store.resolve("\(registry.host)/multi/busybox:latest")?.digest == Digest.sha256(of: index))
        await #expect(throws: OCIError.self) {
            try await transfer.pull(try Reference(parsing: "\(registry.host)/multi/busybox"), platform: Platform(architecture: "riscv64"))
        }
    }

    @Test func failedPullsLeaveTheStoreAsItWas() async throws {
        let dir = try TemporaryDirectory("badpull")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "t/busybox", tag: "1")
        let proxy = try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py", "proxy", "--upstream", "http://\(registry.host)",
                                       "--fault", "corrupt", "--match", "/blobs/sha256", "--count", "100"],
                                      logPath: dir.file("proxy.log"), announcesPort: true)
        defer { proxy.stop() }
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: ["127.0.0.1:\(proxy.port)", registry.host]))
        await #expect { try await transfer.pull(try Reference(parsing: "127.0.0.1:\(proxy.port)/t/busybox:1")) } throws: { "\($0)".contains("nothing was stored") }
        await #expect { try await transfer.pull(try Reference(parsing: "\(registry.host)/t/busybox:nope")) } throws: { "\($0)".contains("not found") }
        #expect(try store.list().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/blobs/sha256")).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)
    }

    @Test func resetsMidBlobAreSurvivedAndAPermanentFaultLeavesTheStoreIntact() async throws {
        let dir = try TemporaryDirectory("reset")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await seed(image, host: registry.host, repository: "t/busybox", tag: "1")
        func proxy(_ name: String, _ options: [String]) throws -> ServerProcess {
            try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py", "proxy", "--upstream", "http://\(registry.host)"] + options,
                              logPath: dir.file("\(name).log"), announcesPort: true)
        }
        let pulling = try proxy("pull", ["--fault", "reset-response", "--match", "/blobs/sha256", "--after", "300000"])
        defer { pulling.stop() }
        let pushing = try proxy("push", ["--fault", "reset-request", "--match", "/blobs/uploads/", "--method", "PUT", "--after", "65536"])
        defer { pushing.stop() }
        let broken = try proxy("broken", ["--fault", "reset-request", "--match", "/blobs/uploads/", "--method", "PUT", "--after", "65536",
                                           "--count", "100"])
        defer { broken.stop() }
        let brokenPull = try proxy("broken-pull", ["--fault", "reset-response", "--match", "/blobs/sha256", "--after", "300000",
                                                   "--count", "100", "--ignore-range"])
        defer { brokenPull.stop() }
        let hosts = [pulling, pushing, broken, brokenPull].map { "127.0.0.1:\($0.port)" }
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: Set(hosts), retry: RetryPolicy(attempts: 3, initialDelay: 0.05)))

        // A download that breaks at the same place every time, from a server without ranges: the pull fails, the store stays empty.
        await #expect { try await transfer.pull(try Reference(parsing: "\(hosts[3])/t/busybox:1")) } throws: {
            "\($0)".contains(hosts[3]) && "\($0)".contains("after 3 attempts")
        }
        #expect(try store.list().isEmpty)
        #expect(!store.hasBlob(image.layer.digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)

        // The layer download breaks after 300000 bytes and resumes; the upload breaks mid-PUT and starts a new session.
        let source = "\(hosts[0])/t/busybox:1"
        let pulled = try await transfer.pull(try Reference(parsing: source))
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(try await transfer.push(source, to: try Reference(parsing: "\(hosts[1])/u/app:1")) == image.manifestDigest)
        let check = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true))
        #expect(try await check.manifest(repository: "u/app", reference: "1").digest == image.manifestDigest)
        #expect(try await check.blobExists(repository: "u/app", digest: image.layer.digest))

        // An upload that breaks every time ends with an error naming the registry, and the store is as it was.
        await #expect { try await transfer.push(source, to: try Reference(parsing: "\(hosts[2])/v/app:1")) } throws: {
            "\($0)".contains(hosts[2]) && "\($0)".contains("after 3 attempts")
        }
        #expect(try store.list().count == 1)
        #expect(try store.resolve(source)?.digest == image.manifestDigest)
        #expect(try TestImage.digestOfFile(store.blobPath(image.layer.digest)) == image.layer.digest)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)
        #expect(try await !check.blobExists(repository: "v/app", digest: image.layer.digest))
    }
}
