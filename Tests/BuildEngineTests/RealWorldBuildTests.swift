import BuildEngine
import BuildEvents
import BuildPlanner
import BuildService
import BuildTestSupport
import Foundation
import OCI
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Dockerfiles of the kinds people write, on a Debian 12 base made from Debian's packages (mmdebstrap minbase, with
/// its /dev device nodes): apt-get with cache mounts, a C build in a builder stage copied into a slim stage, a
/// non-root USER, HEALTHCHECK, ENTRYPOINT with CMD, a heredoc script. Built through the worker and pushed to a local
/// registry — as root here and as an unprivileged user under scripts/test-rootless — then run with `idpbuild run`;
/// as root also built by buildah and compared. apt-get inside RUN reaches Debian's mirror.
@Suite(.serialized, .enabled(if: DebianBase.isAvailable, "needs mmdebstrap (scripts/apt-packages)"))
struct RealWorldBuildTests {
    func config(_ env: BuildEnvironment) -> BuilderConfig { env.builderConfig() }

    /// A build environment whose registry also has `debian:12`.
    func debianEnvironment(_ label: String) async throws -> BuildEnvironment {
        let env = try await BuildEnvironment(label)
        do { try await DebianBase.push(to: env.registry.host) } catch { env.stop(); throw error }
        return env
    }

    /// `idpbuild run` of a stored image by its short name (as `build -t NAME` stored it), with the store and registry of `env`.
    func runImage(_ env: BuildEnvironment, _ name: String, _ command: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestSupport.run([idpbuildExecutable, "run", "--root", env.store.root, "--registries-conf", env.registriesConf, "--no-kubernetes",
                             "--gitea-host", env.registry.host, name] + (command.isEmpty ? [] : ["--"] + command))
    }

    @Test func aCProgramBuiltInABuilderStageRunsAsItsUserInTheSlimStage() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildExecutable), "build the idpbuild product first")
        let env = try await debianEnvironment("rw-c")
        defer { env.stop() }
        let folder = fixturesDirectory + "/build/debian-c"
        let events = EventRecorder()
        let response = await Builder(config: config(env)).buildAndPush(
            BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "hello-c", imageTag: "1"), events: events.handler)
        #expect(response.success, "\(response.error ?? "")\n\(events.all.compactMap(\.line).suffix(30).joined(separator: "\n"))")
        #expect(response.fullTag == "\(env.registry.host)/giteaadmin/hello-c:1")
        // Rootless, the base's /dev/console and friends cannot be made: one line says so, the build goes on.
        let deviceLines = events.all.filter { $0.kind == .warning && ($0.message ?? "").contains("device node") }
        #expect(deviceLines.count == (geteuid() == 0 ? 0 : 1), "\(deviceLines.compactMap(\.message))")

        let image = try env.store.image(response.fullTag)
        let container = try #require(image.config.config)
        #expect(container.User == "app")
        #expect(container.Entrypoint == ["/usr/local/bin/hello"] && container.Cmd == ["world"])
        #expect(container.Healthcheck?.Test == ["CMD", "/usr/local/bin/hello", "--health"])
        #expect(container.Healthcheck?.Interval == 30_000_000_000 && container.Healthcheck?.Timeout == 3_000_000_000)
        // The slim stage has the program, not the compiler or the apt caches (they were cache mounts).
        let tree = try env.unpack(response.fullTag)
        #expect(FileManager.default.isExecutableFile(atPath: tree + "/usr/local/bin/hello"))
        #expect(status(tree + "/usr/bin/gcc") == nil)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree + "/var/cache/apt/archives")) ?? []).filter { $0.hasSuffix(".deb") }.isEmpty)
        #expect(text(tree + "/etc/passwd").contains("app:x:10001:"))

        let run = try runImage(env, "hello-c:1")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "hello, world (uid 10001)\n")
        #expect(try runImage(env, "hello-c:1", ["/usr/local/bin/hello", "--health"]).stdout == "ok\n")
        // The registry holds what was built.
        let raw = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(response.fullTag)"])
        #expect(Digest.sha256(of: Array(raw.utf8)).description == response.digest)

        // A no-change rebuild comes from the cache (the apt step included).
        let again = await Builder(config: config(env)).build(
            BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "hello-c", imageTag: "1"), push: false)
        #expect(again.success && again.stepsRun == 0, "\(again.error ?? "") ran \(again.stepsRun)")
        #expect(env.leftovers().isEmpty)
    }

    @Test func aServiceWithPackagesAHeredocScriptAndItsMetadataRunsAsNobody() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildExecutable), "build the idpbuild product first")
        let env = try await debianEnvironment("rw-service")
        defer { env.stop() }
        let folder = fixturesDirectory + "/build/debian-service"
        let response = await Builder(config: config(env)).buildAndPush(
            BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "service"))
        #expect(response.success, "\(response.error ?? "")")
        let image = try env.store.image(response.fullTag)
        let container = try #require(image.config.config)
        #expect(container.User == "nobody" && container.WorkingDir == "/srv/app")
        #expect(container.ExposedPorts?["8080/tcp"] != nil && container.Volumes?["/srv/app/data"] != nil)
        #expect(container.StopSignal == "SIGINT")
        #expect(container.Env?.contains("APP_HOME=/srv/app") == true)
        let tree = try env.unpack(response.fullTag)
        #expect(status(tree + "/srv/app/serve.sh").map { $0.st_mode & 0o777 } == 0o755)
        // Owners as the layers record them (an unprivileged unpack cannot restore them).
        let entries = try image.manifest.layers.flatMap { try readTar(env.store.blobPath($0.digest)) }
        let data = entries.last { $0.path == "srv/app/data/" }
        #expect(data?.uid == 65534 && data?.gid == 65534)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tree + "/var/lib/apt/lists")) ?? []).filter { $0 != "partial" && $0 != "auxfiles" && $0 != "lock" }.isEmpty)
        #expect(status(tree + "/dev/pipes") == nil)

        let run = try runImage(env, "service")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "serving on 8080 as nobody in /srv/app; data nobody; /etc/ssl/certs/ca-certificates.crt\n")
    }

    /// buildah 1.28 builds the same C Dockerfile; configs and file trees agree (logs and caches that hold the time of
    /// the build aside). Root only, where buildah runs.
    @Test(.enabled(if: runningAsRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/buildah")
                   && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc"), "needs root, buildah and runc"))
    func theCProgramsImageMatchesBuildahs() async throws {
        let env = try await debianEnvironment("rw-buildah")
        defer { env.stop() }
        let options = env.options("debian-c")
        try await BuildahComparisonTests().compare(env, options: options, label: "debian-c", varying: [
            // useradd writes the day of the change into /etc/shadow and keeps backups; logs hold times.
            "/etc/shadow", "/etc/shadow-", "/etc/gshadow-", "/etc/passwd-", "/etc/group-", "/etc/subuid-", "/etc/subgid-",
            "/var/log/lastlog", "/var/log/faillog",
        ])
    }
}
