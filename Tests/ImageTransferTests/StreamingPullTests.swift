import Foundation
import HTTP
import ImageStore
import ImageTransfer
import OCI
import Registry
import Testing
import TestSupport

/// An image of several layers (gzip, zstd, plain tar; files of a few MiB, links, modes, owners, whiteouts, an opaque
/// directory), pushed to a registry with the plain registry client.
struct LayeredImage {
    var layers: [Descriptor]
    var layerPaths: [String]
    var config: Descriptor
    var manifest: [UInt8]
    var manifestDigest: Digest { Digest.sha256(of: manifest) }
    var chainIDs: [Digest]

    /// Layer blobs at `directory`; the last layer is the first one again (a blob two chain IDs share) when `repeatFirst`.
    static func make(in directory: String, repeatFirst: Bool = false) throws -> LayeredImage {
        func random(_ count: Int) -> String {
            var generator = SystemRandomNumberGenerator()
            return String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &generator)! })
        }
        let specs: [(entries: [[String: Any]], compression: String)] = [
            ([["name": "etc", "type": "dir", "mode": 0o755], ["name": "etc/hostname", "content": "layered\n"],
              ["name": "etc/old", "content": "to be whited out"], ["name": "etc/secret", "content": "s", "mode": 0o600, "uid": 1000, "gid": 1000],
              ["name": "opt/app/data.bin", "content": random(3 << 20)], ["name": "opt/app/link", "type": "symlink", "linkname": "data.bin"],
              ["name": "opt/app/hard", "type": "hardlink", "linkname": "opt/app/data.bin"],
              ["name": "cache/a", "content": "a"]], "gzip"),
            ([["name": "etc/.wh.old"], ["name": "cache/.wh..wh..opq"], ["name": "cache/b", "content": "b"],
              ["name": "usr/bin/tool", "content": "#!/bin/sh\necho tool\n", "mode": 0o755], ["name": "usr/share/blob", "content": random(5 << 19)],
              ["name": "ro", "type": "dir", "mode": 0o555], ["name": "ro/inside", "content": "x"]], "zstd"),
            ([["name": "var/lib/plain.bin", "content": random(2 << 20)], ["name": "var/run", "type": "dir", "mode": 0o1777]], "none"),
            ([["name": "srv/small", "content": "small"]], "gzip"),
        ]
        var layers = [Descriptor]()
        var paths = [String]()
        var diffIDs = [Digest]()
        for (index, spec) in specs.enumerated() {
            let path = directory + "/layer\(index)"
            let raw = path + ".tar"
            let json = path + ".json"
            try JSONSerialization.data(withJSONObject: spec.entries).write(to: URL(fileURLWithPath: json))
            try TestSupport.check(["python3", TestSupport.fixtures.path + "/layers/maketar.py", json, raw, "none"])
            try TestSupport.check(["python3", TestSupport.fixtures.path + "/layers/maketar.py", json, path, spec.compression])
            diffIDs.append(try TestImage.digestOfFile(raw))
            let mediaType = spec.compression == "gzip" ? MediaType.ociLayerGzip
                : spec.compression == "zstd" ? "application/vnd.oci.image.layer.v1.tar+zstd" : "application/vnd.oci.image.layer.v1.tar"
            layers.append(Descriptor(mediaType: mediaType, digest: try TestImage.digestOfFile(path), size: try TestImage.fileSize(path)))
            paths.append(path)
        }
        if repeatFirst {
            layers.append(layers[0])
            paths.append(paths[0])
            diffIDs.append(diffIDs[0])
        }
        let config = ImageConfig(created: "1970-01-01T00:00:00Z", architecture: Platform.current.architecture, os: "linux",
                                 config: ContainerConfig(), rootfs: RootFS(diffIDs: diffIDs),
                                 history: diffIDs.map { _ in History(created: "1970-01-01T00:00:00Z", createdBy: "layered test image") })
        let configBytes = try CanonicalJSON.encode(config)
        let configPath = directory + "/config.json"
        try Data(configBytes).write(to: URL(fileURLWithPath: configPath))
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: configBytes), size: Int64(configBytes.count))
        let manifest = try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: layers))
        return LayeredImage(layers: layers, layerPaths: paths + [configPath], config: configDescriptor, manifest: manifest,
                            chainIDs: RootFS(diffIDs: diffIDs).chainIDs)
    }

    /// Pushes blobs and manifest.
    func push(host: String, repository: String, tag: String) async throws {
        let client = RegistryClient(endpoint: RegistryEndpoint(host: host, insecure: true))
        for (layer, path) in zip(layers, layerPaths) { try await client.uploadBlob(repository: repository, descriptor: layer, from: path) }
        try await client.uploadBlob(repository: repository, descriptor: config, from: layerPaths.last!)
        try await client.putManifest(repository: repository, reference: tag, bytes: manifest, mediaType: MediaType.ociManifest)
    }

    /// Where docker-registry's filesystem storage keeps a blob's bytes.
    static func storedBlob(_ digest: Digest, registryDirectory: String) -> String {
        "\(registryDirectory)/data/docker/registry/v2/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
    }
}

/// Every entry under `root` (not `root` itself): path, type, mode, owner, size, mtime, content hash, link target, device,
/// xattrs, link count; two trees that describe alike hold the same files.
func describeTree(_ root: String) throws -> String {
    try TestSupport.check(["python3", "-c", """
    import hashlib, os, stat, sys
    root = sys.argv[1]
    out = []
    for d, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = os.path.join(d, name); st = os.lstat(p); rel = os.path.relpath(p, root)
            extra = ""
            if stat.S_ISREG(st.st_mode): extra = hashlib.sha256(open(p, "rb").read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode): extra = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode): extra = "dev %d" % st.st_rdev
            xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False))
            # A directory the layer does not list (a parent it leaves out) and an overlay whiteout are made when unpacked, with that time.
            made = stat.S_ISDIR(st.st_mode) or stat.S_ISCHR(st.st_mode)
            mtime = int(st.st_mtime) if not made or int(st.st_mtime) == 1700000000 else "made"
            out.append("%s %o %d:%d %d %s %d %s %s" % (rel, st.st_mode, st.st_uid, st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                                                     mtime, st.st_nlink, extra, xattrs))
    print("\\n".join(sorted(out)))
    """, root])
}

/// What must be left after a pull that failed: no tag, no tree (nor a temp one), no temp file, and only blobs that verify.
func expectNothingUnverified(_ store: ImageStore, root: String) throws {
    #expect(try store.list().isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/layers").isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
    for name in try FileManager.default.contentsOfDirectory(atPath: root + "/blobs/sha256") {
        #expect(throws: Never.self) { try store.verifyBlob(try Digest(parsing: "sha256:" + name)) }
    }
}

/// Options as the build engine unpacks lower trees with: overlay whiteouts where this process may make them, else applied.
let streamingOptions = geteuid() == 0 ? UnpackOptions(whiteouts: .overlay(xattrPrefix: "user")) : UnpackOptions()

/// A handle a transfer event handler can cancel its own pull through.
final class TaskBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<StoredImage, any Error>?
    func set(_ task: Task<StoredImage, any Error>) { lock.withLock { self.task = task } }
    func cancel() { lock.withLock { task }?.cancel() }
}

/// Pulls of multi-layer images from Debian's docker-registry on 127.0.0.1, several blobs at once, with and without unpacking.
@Suite(.serialized) struct StreamingPullTests {
    @Test func aMultiLayerImageIsPulledConcurrentlyVerifiedAndTaggedWithoutTrees() async throws {
        let dir = try TemporaryDirectory("layered")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try LayeredImage.make(in: dir.path)
        try await image.push(host: registry.host, repository: "t/layered", tag: "1")
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [registry.host]), parallelism: 3)
        let log = EventLog()
        let pulled = try await transfer.pull(try Reference(parsing: "\(registry.host)/t/layered:1"), events: log.add)
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(try store.resolve("\(registry.host)/t/layered:1")?.digest == image.manifestDigest)
        for blob in image.layers + [image.config] { try store.verifyBlob(blob.digest) }
        #expect(log.all.filter { $0.kind == .blobDone }.count == image.layers.count + 1)
        // Several were in flight at once: some blob started before another finished.
        var inFlight = 0, most = 0
        for event in log.all {
            if event.kind == .blobStarted { inFlight += 1 } else if event.kind == .blobDone { inFlight -= 1 }
            most = max(most, inFlight)
        }
        #expect(most >= 2)
        // The default pull leaves unpacking to whoever uses the layers.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/layers")).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)
    }

    @Test func unpackingWhileDownloadingMakesTheTreesLayerUnpackerMakes() async throws {
        let dir = try TemporaryDirectory("stream-unpack")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try LayeredImage.make(in: dir.path, repeatFirst: true)
        try await image.push(host: registry.host, repository: "t/layered", tag: "1")
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [registry.host]))
        let reference = try Reference(parsing: "\(registry.host)/t/layered:1")
        let pulled = try await transfer.pull(reference, unpack: streamingOptions)
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(pulled.config.rootfs.chainIDs == image.chainIDs)
        // One tree per chain ID (the repeated blob has two), each what LayerUnpacker makes of the same blob.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/layers"))) == Set(image.chainIDs.map(\.encoded)))
        for (index, (layer, chainID)) in zip(image.layers, image.chainIDs).enumerated() {
            let reference = dir.file("reference\(index)")
            try FileManager.default.createDirectory(atPath: reference, withIntermediateDirectories: true)
            try LayerUnpacker.unpack(archive: store.blobPath(layer.digest), into: reference, options: streamingOptions)
            let streamed = try describeTree(store.layerPath(chainID))
            #expect(!streamed.isEmpty)
            #expect(streamed == (try describeTree(reference)), "layer \(index)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)
        // A tree that went missing is made again from the stored blob; nothing is downloaded for it.
        try store.removeTree(store.layerPath(image.chainIDs[2]))
        let again = EventLog()
        try await transfer.pull(reference, unpack: streamingOptions, events: again.add)
        #expect(store.hasLayer(image.chainIDs[2]))
        #expect(again.all.filter { $0.kind == .blobDone }.isEmpty)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/layers"))) == Set(image.chainIDs.map(\.encoded)))
    }

    @Test func aBlobCorruptedMidStreamLeavesNoBlobAndNoTree() async throws {
        let dir = try TemporaryDirectory("stream-corrupt")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try LayeredImage.make(in: dir.path)
        try await image.push(host: registry.host, repository: "t/layered", tag: "1")
        // The registry serves what its storage holds: flip a byte in the middle of the plain tar (libarchive unpacks it all
        // the same) and of the gzip layer (libarchive fails on it). Only the digests can tell.
        for index in [2, 0] {
            let path = LayeredImage.storedBlob(image.layers[index].digest, registryDirectory: dir.file("registry"))
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 2] ^= 0x55
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [registry.host]))
        await #expect { try await transfer.pull(try Reference(parsing: "\(registry.host)/t/layered:1"), unpack: streamingOptions) } throws: {
            "\($0)".contains("nothing was stored")
        }
        #expect(!store.hasBlob(image.layers[2].digest))
        #expect(!store.hasBlob(image.layers[0].digest))
        try expectNothingUnverified(store, root: dir.file("store"))
    }

    @Test func aBlobCorruptedByTheProxyLeavesNoBlobAndNoTree() async throws {
        let dir = try TemporaryDirectory("stream-proxy")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try LayeredImage.make(in: dir.path)
        try await image.push(host: registry.host, repository: "t/layered", tag: "1")
        let proxy = try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py", "proxy", "--upstream", "http://\(registry.host)",
                                       "--fault", "corrupt", "--match", image.layers[1].digest.encoded, "--count", "100"],
                                      logPath: dir.file("proxy.log"), announcesPort: true)
        defer { proxy.stop() }
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: ["127.0.0.1:\(proxy.port)"]))
        await #expect { try await transfer.pull(try Reference(parsing: "127.0.0.1:\(proxy.port)/t/layered:1"), unpack: streamingOptions) } throws: {
            "\($0)".contains("nothing was stored")
        }
        #expect(!store.hasBlob(image.layers[1].digest))
        try expectNothingUnverified(store, root: dir.file("store"))
    }

    @Test(arguments: [false, true])
    func cancellingAPullMidBlobLeavesNothing(unpacking: Bool) async throws {
        let dir = try TemporaryDirectory("stream-cancel")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try LayeredImage.make(in: dir.path)
        try await image.push(host: registry.host, repository: "t/layered", tag: "1")
        let store = try ImageStore(root: dir.file("store"))
        let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [registry.host]), parallelism: 2)
        let big = image.layers[0].digest.description
        let box = TaskBox()
        let cancelled = EventLog()
        let reference = try Reference(parsing: "\(registry.host)/t/layered:1")
        let (go, start) = AsyncStream<Void>.makeStream()
        let task = Task { () throws -> StoredImage in
            for await _ in go { break }  // once the handle is in the box
            // Cancelled from the transfer thread at the first MiB of the biggest layer, so its bytes are still coming.
            return try await transfer.pull(reference, unpack: unpacking ? streamingOptions : nil) { event in
                if event.kind == .blobProgress, event.digest == big, let bytes = event.bytes, bytes < image.layers[0].size {
                    cancelled.add(event)
                    box.cancel()
                }
            }
        }
        box.set(task)
        start.yield()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!cancelled.all.isEmpty)
        #expect(!store.hasBlob(image.layers[0].digest))
        try expectNothingUnverified(store, root: dir.file("store"))
        // The store is fine for the next pull.
        let pulled = try await transfer.pull(reference, unpack: unpacking ? streamingOptions : nil)
        #expect(pulled.descriptor.digest == image.manifestDigest)
        #expect(image.chainIDs.allSatisfy { store.hasLayer($0) } == unpacking)
    }
}
