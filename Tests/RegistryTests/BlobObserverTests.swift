import Foundation
import OCI
import Registry
import Testing
import TestSupport

/// Hashes what a download shows it, and counts the restarts it hears of.
final class HashingObserver: BlobStreamObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var hasher = DigestHasher()
    private var restartCount = 0

    func consume(_ bytes: UnsafeRawBufferPointer) { lock.lock(); hasher.update(bytes); lock.unlock() }
    func restart() { lock.lock(); hasher = DigestHasher(); restartCount += 1; lock.unlock() }
    var digest: Digest { lock.lock(); defer { lock.unlock() }; return hasher.finalize() }
    var count: Int64 { lock.lock(); defer { lock.unlock() }; return hasher.count }
    var restarts: Int { lock.lock(); defer { lock.unlock() }; return restartCount }
}

/// A registry holding a busybox image padded to several MiB, behind a proxy with one download fault.
func withPaddedImageBehindAFault(_ options: [String], _ body: (RegistryClient, TestImage, TemporaryDirectory, Int) async throws -> Void) async throws {
    let dir = try TemporaryDirectory("observer")
    defer { dir.remove() }
    let registry = try await DockerRegistry(directory: dir.file("registry"))
    defer { registry.stop() }
    let image = try TestImage.busybox(in: dir.path, padding: 3 << 20)
    try await push(image, with: RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true)), repository: "test/busybox", tag: "1")
    let proxy = try startTestServer(["proxy", "--upstream", "http://\(registry.host)", "--fault", "reset-response", "--match", "/blobs/sha256"] + options,
                                    dir: dir, name: "proxy")
    defer { proxy.stop() }
    let client = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(proxy.port)", insecure: true),
                                retry: RetryPolicy(attempts: 4, initialDelay: 0.05))
    try await body(client, image, dir, proxy.port)
}

@Suite(.serialized) struct BlobObserverTests {
    @Test func anObserverSeesTheBlobInOrderAcrossAResume() async throws {
        try await withPaddedImageBehindAFault(["--after", "1500000"]) { client, image, dir, port in
            let observer = HashingObserver()
            try await client.downloadBlob(repository: "test/busybox", descriptor: image.layer, to: dir.file("layer.pulled"), observer: observer)
            // The reset came with bytes still in the sink's buffer: they reach the observer once, before the rest.
            #expect(image.layer.size > 3_000_000)
            #expect(observer.digest == image.layer.digest)
            #expect(observer.count == image.layer.size)
            #expect(observer.restarts == 0)
            #expect(try TestImage.digestOfFile(dir.file("layer.pulled")) == image.layer.digest)
            let gets = try proxyLog(port).filter { ($0["method"] as? String) == "GET" && (($0["path"] as? String) ?? "").contains(image.layer.digest.encoded) }
            #expect(gets.map { $0["status"] as? Int } == [200, 206])
        }
    }

    @Test func anObserverHearsWhenADownloadStartsOver() async throws {
        try await withPaddedImageBehindAFault(["--after", "1500000", "--ignore-range"]) { client, image, dir, _ in
            let observer = HashingObserver()
            try await client.downloadBlob(repository: "test/busybox", descriptor: image.layer, to: dir.file("layer.pulled"), observer: observer)
            // More than one buffer's worth arrived before the reset: the observer saw it, and must forget it.
            #expect(observer.restarts == 1)
            #expect(observer.digest == image.layer.digest)
            #expect(observer.count == image.layer.size)
            #expect(try TestImage.digestOfFile(dir.file("layer.pulled")) == image.layer.digest)
        }
    }
}
