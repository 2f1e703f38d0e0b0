import BuildEngine
import BuildEvents
import BuildPlanner
import BuildService
import Foundation
import ImageStore
import OCI
import Registry
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where Docker (BuildKit, runc) and buildah agree and a user relies on it: the caller's umask never reaches the image,
/// heredoc scripts with an interpreter line run, base layers with device nodes unpack rootless, RUN is cut off from the
/// host's loopback unless the build allows the host network, and dockerfilePath is relative to contextDir. Through the
/// real worker: as root here, and as an unprivileged user with subuid ranges under scripts/test-rootless.
@Suite(.serialized) struct DockerParityTests {
    func config(_ env: BuildEnvironment) -> BuilderConfig { env.builderConfig() }

    /// Writes a tar of entries without data: (name, type `c` character device / `p` FIFO / `f` empty file, major, minor, mode).
    func writeTar(_ path: String, _ entries: [(String, Character, Int, Int, Int)]) throws {
        let rows = entries.map { "('\($0.0)', '\($0.1)', \($0.2), \($0.3), \($0.4))" }.joined(separator: ", ")
        try TestSupport.check(["python3", "-c", """
            import tarfile
            kinds = {'c': tarfile.CHRTYPE, 'p': tarfile.FIFOTYPE, 'f': tarfile.REGTYPE}
            with tarfile.open('\(path)', 'w', format=tarfile.PAX_FORMAT) as t:
                for name, kind, major, minor, mode in [\(rows)]:
                    info = tarfile.TarInfo(name); info.type = kinds[kind]; info.devmajor = major; info.devminor = minor; info.mode = mode
                    t.addfile(info)
            """])
    }

    /// Writes a build context whose files have explicit modes (a checkout's modes would follow its own umask).
    func makeContext(_ directory: String, dockerfile: String) throws {
        try FileManager.default.createDirectory(atPath: directory + "/files/sub", withIntermediateDirectories: true)
        try "data\n".write(toFile: directory + "/files/sub/data.txt", atomically: false, encoding: .utf8)
        try "#!/bin/sh\necho tool\n".write(toFile: directory + "/files/tool.sh", atomically: false, encoding: .utf8)
        try dockerfile.write(toFile: directory + "/Dockerfile", atomically: false, encoding: .utf8)
        for (path, mode) in [("", 0o755), ("/files", 0o755), ("/files/sub", 0o755), ("/files/sub/data.txt", 0o644),
                             ("/files/tool.sh", 0o755), ("/Dockerfile", 0o644)] {
            chmod(directory + path, mode_t(mode))
        }
        // A tar whose entries leave out their parent directories, so unpacking must make them.
        try TestSupport.check(["python3", "-c", """
            import io, tarfile
            with tarfile.open('\(directory)/archive.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo('deep/er/file.txt'); data = b'in a tar\\n'; info.size = len(data); info.mode = 0o644
                t.addfile(info, io.BytesIO(data))
            """])
        chmod(directory + "/archive.tar", 0o644)
    }

    @Test func theCallersUmaskNeverReachesTheImage() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildExecutable), "build the idpbuild product first")
        let env = try await BuildEnvironment("umask")
        defer { env.stop() }
        let context = env.directory + "/context"
        try makeContext(context, dockerfile: """
            FROM alpine:3.19
            COPY files/ /opt/files/
            ADD archive.tar /opt/unpacked/
            WORKDIR /srv/app
            COPY <<EOF /etc/greeting
            hello
            EOF
            RUN echo x > /f && mkdir -p /d/e && touch /d/e/g && umask > /umask
            USER nobody
            RUN mkdir -p /tmp/n && echo n > /tmp/n/file

            """)
        var digests: [String: String] = [:]
        var reference = ""
        for callerUmask in ["0022", "0000", "0002", "0077"] {
            let store = env.directory + "/store-\(callerUmask)"
            let result = try TestSupport.run(["sh", "-c", "umask \(callerUmask); exec '\(idpbuildExecutable)' build --no-push --no-kubernetes " +
                                              "--root '\(store)' --registries-conf '\(env.registriesConf)' --timestamp 0 -t umask:test '\(context)'"],
                                             currentDirectory: env.directory)
            #expect(result.status == 0, "umask \(callerUmask): \(result.stderr)")
            let fields = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            digests[callerUmask] = fields.last
            reference = fields.first ?? ""
        }
        #expect(Set(digests.values).count == 1, "the same Dockerfile gave different images under different umasks: \(digests)")
        // What Docker gives, checked in the build made with umask 0000.
        let store = try ImageStore(root: env.directory + "/store-0000")
        let tree = env.directory + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for layer in try store.image(reference).manifest.layers {
            try LayerUnpacker.unpack(archive: store.blobPath(layer.digest), into: tree)
        }
        func mode(_ path: String) -> String { status(tree + path).map { String($0.st_mode & 0o7777, radix: 8) } ?? "missing" }
        #expect(mode("/f") == "644")
        #expect(mode("/d") == "755" && mode("/d/e") == "755")
        #expect(text(tree + "/umask") == "0022\n")
        #expect(mode("/opt/files/tool.sh") == "755" && mode("/opt/files/sub/data.txt") == "644" && mode("/opt/files") == "755")
        #expect(mode("/opt/unpacked/deep") == "755" && mode("/opt/unpacked/deep/er/file.txt") == "644")
        #expect(mode("/srv/app") == "755")
        #expect(mode("/etc/greeting") == "644")
        #expect(mode("/tmp/n") == "755" && mode("/tmp/n/file") == "644")
    }

    @Test func aHeredocScriptWithAnInterpreterLineRunsAndNeverReachesTheLayer() async throws {
        let env = try await BuildEnvironment("heredoc-shebang")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try """
            FROM alpine:3.19
            RUN <<EOF
            #!/bin/sh
            echo "ran as $0" > /ran.txt
            EOF
            USER nobody
            RUN <<'SCRIPT'
            #!/bin/sh -e
            echo "nobody ran $0" > /tmp/nobody.txt
            SCRIPT

            """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let response = await Builder(config: config(env)).build(
            BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "shebang"), push: false)
        #expect(response.success, "\(response.error ?? "")")
        let image = try env.store.image(response.fullTag)
        let tree = try env.unpack(response.fullTag)
        #expect(text(tree + "/ran.txt") == "ran as /dev/pipes/EOF\n")
        #expect(text(tree + "/tmp/nobody.txt") == "nobody ran /dev/pipes/SCRIPT\n")
        for layer in image.manifest.layers.dropFirst() {
            let paths = try readTar(env.store.blobPath(layer.digest)).map(\.path)
            #expect(!paths.contains { $0.hasPrefix("dev") }, "the script reached the layer: \(paths)")
        }
    }

    /// Pushes `alpine:3.19`'s busybox layer plus a layer holding `extra` (a tar) as `mirror/library/NAME:1`.
    func pushDerivedBase(_ env: BuildEnvironment, name: String, extra: String) async throws {
        let base = env.directory + "/base"
        try TestSupport.check(["sh", "-c", "gzip -1 -n -c '\(extra)' > '\(extra).gz'"])
        func descriptor(_ path: String, _ mediaType: String) throws -> Descriptor {
            Descriptor(mediaType: mediaType, digest: try TestImage.digestOfFile(path), size: try TestImage.fileSize(path))
        }
        let layers = [try descriptor(base + "/layer.tar.gz", MediaType.ociLayerGzip), try descriptor(extra + ".gz", MediaType.ociLayerGzip)]
        var container = ContainerConfig()
        container.Env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        let config = ImageConfig(created: "1970-01-01T00:00:00Z", architecture: Platform.current.architecture, os: "linux", config: container,
                                 rootfs: RootFS(diffIDs: [try TestImage.digestOfFile(base + "/layer.tar"), try TestImage.digestOfFile(extra)]))
        let configBytes = try CanonicalJSON.encode(config)
        let configPath = env.directory + "/\(name)-config.json"
        try Data(configBytes).write(to: URL(fileURLWithPath: configPath))
        let client = RegistryClient(endpoint: RegistryEndpoint(host: env.registry.host, insecure: true))
        let repository = "mirror/library/\(name)"
        try await client.uploadBlob(repository: repository, descriptor: layers[0], from: base + "/layer.tar.gz")
        try await client.uploadBlob(repository: repository, descriptor: layers[1], from: extra + ".gz")
        let configDescriptor = try descriptor(configPath, MediaType.ociConfig)
        try await client.uploadBlob(repository: repository, descriptor: configDescriptor, from: configPath)
        try await client.putManifest(repository: repository, reference: "1", bytes: try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: layers)),
                                     mediaType: MediaType.ociManifest)
    }

    @Test func aBaseLayerWithDeviceNodesBuildsRootlessAndKeepsThemAsRoot() async throws {
        let env = try await BuildEnvironment("devices")
        defer { env.stop() }
        // What a root debootstrap/mmdebstrap tarball holds: /dev/console and /dev/null as character devices, a FIFO.
        let extra = env.directory + "/devices.tar"
        try writeTar(extra, [("./dev/console", "c", 5, 1, 0o600), ("./dev/null", "c", 1, 3, 0o666), ("./run/initctl", "p", 0, 0, 0o600),
                             ("./etc/marker", "f", 0, 0, 0o644)])
        try await pushDerivedBase(env, name: "devbase", extra: extra)
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM devbase:1\nRUN ls /etc/marker && ls /dev > /dev-listing.txt\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let events = EventRecorder()
        let response = await Builder(config: config(env)).build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "devices"),
                                                                push: false, events: events.handler)
        #expect(response.success, "\(response.error ?? "")")
        let warnings = events.all.filter { $0.kind == .warning }.compactMap(\.message)
        let layerTree = env.store.layerPath(try env.store.image(response.fullTag).config.rootfs.chainIDs[1])
        if geteuid() == 0 {
            // As root the devices are made, as today.
            #expect(status(layerTree + "/dev/console").map { $0.st_mode & S_IFMT == S_IFCHR } == true)
            #expect(!warnings.contains { $0.contains("device node") })
        } else {
            // Rootless: skipped, with one line naming them.
            let lines = warnings.filter { $0.contains("device node") }
            #expect(lines.count == 1, "\(warnings)")
            #expect(lines.first?.contains("./dev/console") == true && lines.first?.contains("2 device nodes") == true)
            #expect(status(layerTree + "/dev/console") == nil)
        }
        #expect(status(layerTree + "/run/initctl").map { $0.st_mode & S_IFMT == S_IFIFO } == true)
        #expect(status(layerTree + "/etc/marker") != nil)
    }

    @Test func aLayerEntryOutsideItsRootIsStillRefused() async throws {
        let env = try await BuildEnvironment("escape")
        defer { env.stop() }
        let extra = env.directory + "/escape.tar"
        try writeTar(extra, [("./dev/console", "c", 5, 1, 0o600), ("../../outside", "c", 1, 3, 0o600)])
        try await pushDerivedBase(env, name: "escapebase", extra: extra)
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM escapebase:1\nRUN true\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let response = await Builder(config: config(env)).build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "escape"),
                                                                push: false)
        #expect(!response.success)
        #expect(response.error?.contains("../../outside") == true && response.error?.contains("climbs out") == true, "\(response.error ?? "")")
        #expect(env.leftovers().isEmpty)
    }

    @Test func runCannotReachTheHostsLoopbackAndTheHostNetworkNeedsTheEntitlement() async throws {
        let env = try await BuildEnvironment("network")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        // The registry itself is the host service on 127.0.0.1.
        let port = env.registry.host.split(separator: ":").last.map(String.init) ?? "0"
        try """
            FROM alpine:3.19
            RUN (nc -w 2 127.0.0.1 \(port) -e true && echo open || echo refused) > /default.txt

            """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let builder = Builder(config: config(env))
        let isolated = await builder.build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "net"), push: false)
        #expect(isolated.success, "\(isolated.error ?? "")")
        #expect(text(try env.unpack(isolated.fullTag) + "/default.txt") == "refused\n")

        try """
            FROM alpine:3.19
            RUN echo first > /first.txt
            RUN --network=host \\
                (nc -w 2 127.0.0.1 \(port) -e true && echo open || echo refused) > /host.txt

            """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let events = EventRecorder()
        let refused = await builder.build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "net"), push: false,
                                          events: events.handler)
        #expect(!refused.success)
        #expect(refused.error?.contains("--allow network.host") == true && refused.error?.contains("line 3") == true, "\(refused.error ?? "")")
        #expect(!events.all.contains { $0.kind == .stepStarted && $0.instruction?.hasPrefix("RUN") == true }, "a step ran before the refusal")
        #expect(events.all.first { $0.kind == .stepFailed }?.range?.start.line == 2)

        var allowing = builder
        allowing.config.entitlements = [.networkHost]
        let allowed = await allowing.build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: context, imageName: "net"), push: false)
        #expect(allowed.success, "\(allowed.error ?? "")")
        #expect(text(try env.unpack(allowed.fullTag) + "/host.txt") == "open\n")
    }

    @Test func dockerfilePathIsRelativeToTheContextNotTheWorkingDirectory() async throws {
        var request = BuildRequest(dockerfilePath: "Dockerfile", contextDir: "/src/app", imageName: "app")
        #expect(request.absoluteDockerfilePath == "/src/app/Dockerfile")
        request.dockerfilePath = "build/../docker/Dockerfile.dev"
        #expect(request.absoluteDockerfilePath == "/src/app/docker/Dockerfile.dev")
        request.dockerfilePath = "/elsewhere/Dockerfile"
        #expect(request.absoluteDockerfilePath == "/elsewhere/Dockerfile")

        let env = try await BuildEnvironment("relative")
        defer { env.stop() }
        let seed = fixturesDirectory + "/seed"
        #expect(FileManager.default.currentDirectoryPath != seed)
        let response = await Builder(config: config(env)).build(BuildRequest(dockerfilePath: "Dockerfile", contextDir: seed, imageName: "seed"), push: false)
        #expect(response.success, "\(response.error ?? "")")
        let states = try Builder(config: config(env)).cacheStates(BuildRequest(dockerfilePath: "Dockerfile", contextDir: seed, imageName: "seed"))
        #expect(!states.isEmpty && states.allSatisfy { $0.state != .willRun })
    }
}
