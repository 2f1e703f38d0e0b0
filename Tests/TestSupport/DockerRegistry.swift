import Foundation
import OCI

/// Debian's `docker-registry` (distribution 2.8) started on 127.0.0.1 for one test, with its own config and storage.
public final class DockerRegistry: @unchecked Sendable {
    /// How clients authenticate.
    public enum Auth: Sendable {
        /// No authentication.
        case none
        /// htpasswd Basic auth with one bcrypt user.
        case htpasswd(user: String, password: String)
        /// Token auth: JWTs from `realm`, signed by the key whose certificate is `rootCertificate`.
        case token(realm: String, issuer: String, service: String, rootCertificate: String)
    }

    private let server: ServerProcess
    /// The port it listens on.
    public let port: Int
    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }

    /// Starts the registry with storage and config under `directory`; TLS when `tls` names a certificate and key.
    public init(directory: String, tls: (cert: String, key: String)? = nil, auth: Auth = .none) async throws {
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        port = TestSupport.freePort()
        var yaml = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(directory)/data
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)
        """
        if let tls {
            yaml += "\n  tls:\n    certificate: \(tls.cert)\n    key: \(tls.key)"
        }
        switch auth {
        case .none: break
        case let .htpasswd(user, password):
            let line = try TestSupport.check(["htpasswd", "-Bbn", user, password])
            try Data(line.utf8).write(to: URL(fileURLWithPath: directory + "/htpasswd"))
            yaml += "\nauth:\n  htpasswd:\n    realm: test-registry\n    path: \(directory)/htpasswd"
        case let .token(realm, issuer, service, root):
            yaml += "\nauth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(root)"
        }
        yaml += "\n"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: directory + "/config.yml"))
        server = try ServerProcess(["docker-registry", "serve", directory + "/config.yml"], logPath: directory + "/registry.log",
                                   announcesPort: false, port: port)
        let port = self.port
        do {
            try await TestSupport.waitUntil(what: "docker-registry on port \(port)") { TestSupport.isListening(port: port) }
        } catch {
            server.stop()
            throw TestFailure("\(error): \(server.log)")
        }
    }

    /// The registry's log so far.
    public var log: String { server.log }

    /// Stops the registry.
    public func stop() { server.stop() }
}

/// A one-layer image made from Debian's static busybox, as files on disk.
public struct TestImage: Sendable {
    /// The gzip layer blob.
    public let layerPath: String
    /// The layer's descriptor.
    public let layer: Descriptor
    /// The uncompressed layer's digest.
    public let diffID: Digest
    /// The config blob's path.
    public let configPath: String
    /// The config's descriptor.
    public let config: Descriptor
    /// The manifest bytes.
    public let manifest: [UInt8]
    /// The manifest's digest.
    public var manifestDigest: Digest { Digest.sha256(of: manifest) }

    /// Builds the image under `directory`: `/bin/busybox`, `/bin/sh` → busybox, `/etc/hostname`; `padding` adds a file of that many random bytes.
    public static func busybox(in directory: String, padding: Int = 0) throws -> TestImage {
        let root = directory + "/rootfs"
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try TestSupport.check(["cp", "/bin/busybox", root + "/bin/busybox"])
        try FileManager.default.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        try Data("test\n".utf8).write(to: URL(fileURLWithPath: root + "/etc/hostname"))
        if padding > 0 {
            try TestSupport.check(["sh", "-c", "head -c \(padding) /dev/urandom > '\(root)/padding.bin'"])
        }
        try TestSupport.check(["tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "--mtime=@0",
                               "-C", root, "-cf", directory + "/layer.tar", "."])
        try TestSupport.check(["sh", "-c", "gzip -1 -n -c '\(directory)/layer.tar' > '\(directory)/layer.tar.gz'"])
        let diffID = try digestOfFile(directory + "/layer.tar")
        let layerDigest = try digestOfFile(directory + "/layer.tar.gz")
        let layerSize = try fileSize(directory + "/layer.tar.gz")
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: layerDigest, size: layerSize)
        var containerConfig = ContainerConfig()
        containerConfig.Cmd = ["/bin/sh"]
        containerConfig.Env = ["PATH=/bin"]
        let config = ImageConfig(created: "1970-01-01T00:00:00Z", architecture: Platform.current.architecture, os: "linux",
                                 config: containerConfig, rootfs: RootFS(diffIDs: [diffID]),
                                 history: [History(created: "1970-01-01T00:00:00Z", createdBy: "busybox-static from Debian")])
        let configBytes = try CanonicalJSON.encode(config)
        let configPath = directory + "/config.json"
        try Data(configBytes).write(to: URL(fileURLWithPath: configPath))
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: configBytes), size: Int64(configBytes.count))
        let manifest = try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: [layer]))
        try? FileManager.default.removeItem(atPath: directory + "/layer.tar")
        return TestImage(layerPath: directory + "/layer.tar.gz", layer: layer, diffID: diffID, configPath: configPath,
                         config: configDescriptor, manifest: manifest)
    }

    /// The sha256 of a file, streamed.
    public static func digestOfFile(_ path: String) throws -> Digest {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TestFailure("cannot open \(path)") }
        defer { try? handle.close() }
        var hasher = DigestHasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    /// A file's size in bytes.
    public static func fileSize(_ path: String) throws -> Int64 {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
    }
}
