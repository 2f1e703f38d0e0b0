import BuildEngine
import BuildEvents
import BuildPlanner
import BuildService
import BuildTestSupport
import Foundation
import ImageStore
import ImageTransfer
import OCI
import RegistriesConf
import Registry
import Sandbox
import SandboxTestSupport
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A real build setting: Debian's docker-registry on 127.0.0.1 holding a busybox image (every applet linked,
/// /etc/passwd and /etc/group) as `mirror/library/alpine:3.19`, a registries.conf that sends docker.io there (so
/// `FROM alpine:3.19` never leaves the machine), and an empty store. `stop()` removes all of it.
final class BuildEnvironment: @unchecked Sendable {
    let directory: String
    let registry: DockerRegistry
    let registriesConf: String
    let registries: RegistriesConfiguration
    let store: ImageStore

    init(_ label: String) async throws {
        var template = Array("/tmp/idpbuild-build-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: made)
        chmod(directory, 0o755)
        let base: BaseImageRegistry
        do {
            base = try await BaseImageRegistry(directory: directory)
        } catch {
            removeTreeAsNamespaceRoot(directory)
            throw error
        }
        registry = base.registry
        do {
            registriesConf = base.registriesConf
            registries = try RegistriesConfiguration.parse(base.registriesConfText, path: registriesConf)
            store = try ImageStore(root: directory + "/store")
        } catch {
            registry.stop()
            removeTreeAsNamespaceRoot(directory)
            throw error
        }
    }

    /// A builder's settings for this registry and store, with the worker built next to the tests.
    func builderConfig(_ change: (inout BuilderConfig) -> Void = { _ in }) -> BuilderConfig {
        var config = BuilderConfig(registry: registry.host, insecureRegistries: [registry.host], registriesConf: registriesConf,
                                   storeRoot: store.root, workerExecutable: idpbuildExecutable, useKubernetes: false, environment: [:])
        change(&config)
        return config
    }

    /// An engine over the store that pulls through the mirror.
    func engine() -> BuildEngine {
        BuildEngine(store: store, transfer: ImageTransfer(store: store, access: RegistryAccess(registries: registries)))
    }

    /// Options for a fixture under Fixtures/build (or a given folder).
    func options(_ fixture: String, dockerfile: String = "Dockerfile", context: String? = nil, tag: String = "example.test/image:latest",
                 buildArguments: [String: String] = [:], target: String? = nil, noCache: Bool = false, timestamp: Int64? = nil,
                 secrets: [String: String] = [:]) -> BuildOptions {
        let folder = fixture.hasPrefix("/") ? fixture : fixturesDirectory + "/build/" + fixture
        return BuildOptions(dockerfilePath: dockerfile.hasPrefix("/") ? dockerfile : folder + "/" + dockerfile, contextDirectory: context.map { folder + "/" + $0 } ?? folder,
                            tags: [tag], buildArguments: buildArguments, target: target, noCache: noCache, timestamp: timestamp,
                            secrets: secrets)
    }

    /// Unpacks the image tagged `tag` into a fresh folder (layers applied in order) and returns it.
    func unpack(_ tag: String) throws -> String {
        let image = try store.image(tag)
        let root = directory + "/unpacked-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for layer in image.manifest.layers {
            try LayerUnpacker.unpack(archive: store.blobPath(layer.digest), into: root)
        }
        return root
    }

    /// Leftovers of steps in the store's layers folder (temporary trees, overlay work dirs).
    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store.root + "/layers")) ?? []).filter { $0.hasPrefix(".") }
            + ((try? FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp")) ?? [])
    }

    func stop() {
        registry.stop()
        removeTreeAsNamespaceRoot(directory)
    }
}

/// Collects build events from any thread.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [BuildEvent] = []
    var handler: BuildEventHandler { { [self] event in lock.lock(); items.append(event); lock.unlock() } }
    var all: [BuildEvent] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Reads a file's text, or "" when it is missing.
func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// `lstat` of a path, or nil.
func status(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

/// The idpbuild executable built next to the test bundle.
let idpbuildExecutable: String = {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("idpbuild").path
}()

/// Whether this test process is root (the engine runs in-process only as root; unprivileged runs use the worker).
let runningAsRoot = geteuid() == 0
