import DockerfileSyntax
import Foundation
import OCI

/// The image a stage is building, step by step: its config, its layers, and the cache key of its file system.
package struct ImageState {
    /// The config so far (history and diff IDs included).
    package var config: ImageConfig
    /// The manifest's layer descriptors, parallel to `config.rootfs.diffIDs`.
    package var layers: [Descriptor]
    /// A digest of everything that made the file system so far (the parent of the next step's cache key).
    package var key: Digest
    /// Whether CMD was set in this stage (ENTRYPOINT then keeps it).
    package var cmdSet = false
    /// The stage's ARGs in declaration order, with their values (nil: declared without a value).
    package var arguments: [(name: String, value: String?)] = []

    /// The container config, created when missing.
    package var container: ContainerConfig {
        get { config.config ?? ContainerConfig() }
        set { config.config = newValue }
    }

    /// The value of an environment variable of the image.
    package func environment(_ name: String) -> String? {
        for entry in (config.config?.Env ?? []).reversed() {
            if entry.hasPrefix(name + "=") { return String(entry.dropFirst(name.count + 1)) }
            if entry == name { return "" }
        }
        return nil
    }

    /// The value of a variable for expansion: ENV wins over ARG, as in Docker.
    package func variable(_ name: String) -> String? {
        if let value = environment(name) { return value }
        return arguments.last { $0.name == name }?.value ?? nil
    }

    /// Sets (or replaces, keeping its place) an environment variable.
    package mutating func setEnvironment(_ name: String, _ value: String) {
        var env = config.config?.Env ?? []
        if let index = env.firstIndex(where: { $0.hasPrefix(name + "=") || $0 == name }) {
            env[index] = name + "=" + value
        } else {
            env.append(name + "=" + value)
        }
        container.Env = env
    }

    /// The shell for shell-form commands.
    package var shell: [String] { config.config?.Shell ?? ["/bin/sh", "-c"] }

    /// The working directory, `/` when unset.
    package var workingDirectory: String {
        let value = config.config?.WorkingDir ?? ""
        return value.isEmpty ? "/" : value
    }

    /// Appends a history entry.
    package mutating func addHistory(_ createdBy: String, created: String, emptyLayer: Bool) {
        var history = config.history ?? []
        history.append(History(created: created, createdBy: createdBy, comment: emptyLayer ? nil : "buildkit.dockerfile.v0",
                               emptyLayer: emptyLayer ? true : nil))
        config.history = history
    }

    /// Adds a layer (its blob descriptor and diff ID).
    package mutating func addLayer(_ layer: Descriptor, diffID: Digest) {
        layers.append(layer)
        config.rootfs.diffIDs.append(diffID)
    }

    /// The empty image `FROM scratch` starts from (Docker gives it the default PATH).
    package static func scratch(platform: Platform) -> ImageState {
        var container = ContainerConfig()
        container.Env = ["PATH=" + HostPlatform.defaultPath]
        let config = ImageConfig(architecture: platform.architecture, os: platform.os, variant: platform.variant,
                                 config: container, rootfs: RootFS(diffIDs: []), history: [])
        return ImageState(config: config, layers: [], key: CacheKey.make(["scratch", platform.description]))
    }
}

/// Cache keys: a sha256 over length-prefixed parts, so no two part lists give the same bytes.
package enum CacheKey {
    package static func make(_ parts: [String]) -> Digest {
        // `LENGTH:PART\n` for each part, hashed in one update (one call per part cost more than the hashing).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.utf8.count + 8 })
        for part in parts {
            bytes.append(contentsOf: String(part.utf8.count).utf8)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: part.utf8)
            bytes.append(0x0a)
        }
        var hasher = DigestHasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}
