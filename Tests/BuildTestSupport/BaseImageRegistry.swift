import Foundation
import OCI
import Registry
import SandboxTestSupport
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Debian's docker-registry on 127.0.0.1 holding a busybox image (every applet linked, /etc/passwd and /etc/group) as
/// `mirror/library/alpine:3.19`, and a registries.conf that sends docker.io there, so `FROM alpine:3.19` never
/// leaves the machine. The build engine's tests and the editor build tests share it; `stop()` ends the registry.
public final class BaseImageRegistry: @unchecked Sendable {
    /// The registry.
    public let registry: DockerRegistry
    /// The registries.conf file.
    public let registriesConf: String
    /// Its text.
    public let registriesConfText: String

    /// Starts the registry under `directory/registry`, pushes the base image (built under `directory/base`) and writes
    /// `directory/registries.conf`.
    public init(directory: String) async throws {
        registry = try await DockerRegistry(directory: directory + "/registry")
        do {
            try await Self.pushBase(to: registry.host, in: directory + "/base")
            registriesConf = directory + "/registries.conf"
            registriesConfText = """
            [[registry]]
            prefix = "docker.io"
            location = "\(registry.host)/upstream"
            insecure = true
            [[registry.mirror]]
            location = "\(registry.host)/mirror"
            insecure = true
            """
            try Data(registriesConfText.utf8).write(to: URL(fileURLWithPath: registriesConf))
        } catch {
            registry.stop()
            throw error
        }
    }

    /// `127.0.0.1:PORT`.
    public var host: String { registry.host }

    /// Stops the registry.
    public func stop() { registry.stop() }

    /// Builds the base image from Debian's busybox-static and pushes it to the registry.
    public static func pushBase(to host: String, in directory: String) async throws {
        let rootfs = directory + "/rootfs"
        try makeBusyboxRootfs(in: rootfs)
        try TestSupport.check(["tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "--mtime=@0",
                               "-C", rootfs, "-cf", directory + "/layer.tar", "."])
        try TestSupport.check(["sh", "-c", "gzip -1 -n -c '\(directory)/layer.tar' > '\(directory)/layer.tar.gz'"])
        let diffID = try TestImage.digestOfFile(directory + "/layer.tar")
        let layerPath = directory + "/layer.tar.gz"
        let size = try TestImage.fileSize(layerPath)
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: try TestImage.digestOfFile(layerPath), size: size)
        var container = ContainerConfig()
        container.Env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        container.Cmd = ["/bin/sh"]
        let config = ImageConfig(created: "1970-01-01T00:00:00Z", architecture: Platform.current.architecture, os: "linux",
                                 config: container, rootfs: RootFS(diffIDs: [diffID]),
                                 history: [History(created: "1970-01-01T00:00:00Z", createdBy: "busybox-static from Debian")])
        let configBytes = try CanonicalJSON.encode(config)
        try Data(configBytes).write(to: URL(fileURLWithPath: directory + "/config.json"))
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: configBytes), size: Int64(configBytes.count))
        let manifest = try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: [layer]))
        let client = RegistryClient(endpoint: RegistryEndpoint(host: host, insecure: true))
        try await client.uploadBlob(repository: "mirror/library/alpine", descriptor: layer, from: layerPath)
        try await client.uploadBlob(repository: "mirror/library/alpine", descriptor: configDescriptor, from: directory + "/config.json")
        try await client.putManifest(repository: "mirror/library/alpine", reference: "3.19", bytes: manifest, mediaType: MediaType.ociManifest)
    }
}
