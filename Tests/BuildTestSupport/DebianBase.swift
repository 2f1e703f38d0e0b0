import Foundation
import OCI
import Registry
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A Debian 12 base image made from Debian's packages with `mmdebstrap --variant=minbase` (what `debian:12` is
/// made from, device nodes in /dev included), for builds of the kind people write: `apt-get` in RUN reaches
/// Debian's mirror. Made once per machine and run (about 25 s) into a world-readable cache that the root and the
/// rootless test passes share, then pushed to a test registry as `mirror/library/debian:12`.
public enum DebianBase {
    /// Where the made layer is kept: `layer.tar`, `layer.tar.gz`.
    public static let cacheDirectory = "/tmp/idpbuild-test-debian12-minbase"

    /// Whether mmdebstrap is installed.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/mmdebstrap") }

    private static let making = NSLock()

    /// The cached layer (tar and gzip), made now when missing. As root in root mode, else in unshare mode (subuid ranges).
    public static func layer() throws -> (tar: String, gzip: String) {
        making.lock()
        defer { making.unlock() }
        let tar = cacheDirectory + "/layer.tar", gzip = cacheDirectory + "/layer.tar.gz"
        if FileManager.default.fileExists(atPath: gzip) { return (tar, gzip) }
        try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        chmod(cacheDirectory, 0o755)
        let partial = cacheDirectory + "/.partial-\(getpid())"
        let mode = geteuid() == 0 ? "root" : "unshare"
        let made = try TestSupport.run(["mmdebstrap", "--quiet", "--variant=minbase", "--mode=\(mode)", "--format=tar", "bookworm", partial])
        guard made.status == 0 else {
            unlink(partial)
            throw TestFailure("mmdebstrap --variant=minbase bookworm failed (status \(made.status)): \(made.stderr.suffix(2000))")
        }
        try TestSupport.check(["sh", "-c", "gzip -1 -n -c '\(partial)' > '\(partial).gz'"])
        chmod(partial, 0o644)
        chmod(partial + ".gz", 0o644)
        guard rename(partial, tar) == 0, rename(partial + ".gz", gzip) == 0 else {
            throw TestFailure("cannot move the Debian base into \(cacheDirectory): errno \(errno)")
        }
        return (tar, gzip)
    }

    /// Pushes the base to `host` as `mirror/library/debian:12` (so `FROM debian:12` resolves through the test
    /// registries.conf), with Docker's config for it (PATH, `CMD ["bash"]`).
    public static func push(to host: String) async throws {
        let (tar, gzip) = try layer()
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: try TestImage.digestOfFile(gzip), size: try TestImage.fileSize(gzip))
        var container = ContainerConfig()
        container.Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        container.Cmd = ["bash"]
        let config = ImageConfig(created: "2026-01-01T00:00:00Z", architecture: Platform.current.architecture, os: "linux",
                                 config: container, rootfs: RootFS(diffIDs: [try TestImage.digestOfFile(tar)]),
                                 history: [History(created: "2026-01-01T00:00:00Z", createdBy: "mmdebstrap --variant=minbase bookworm")])
        let configBytes = try CanonicalJSON.encode(config)
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: configBytes), size: Int64(configBytes.count))
        let configPath = NSTemporaryDirectory() + "/idpbuild-debian-config-\(getpid())-\(UUID().uuidString).json"
        try Data(configBytes).write(to: URL(fileURLWithPath: configPath))
        defer { unlink(configPath) }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: host, insecure: true))
        let repository = "mirror/library/debian"
        try await client.uploadBlob(repository: repository, descriptor: layer, from: gzip)
        try await client.uploadBlob(repository: repository, descriptor: configDescriptor, from: configPath)
        try await client.putManifest(repository: repository, reference: "12", bytes: try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: [layer])),
                                     mediaType: MediaType.ociManifest)
    }
}
