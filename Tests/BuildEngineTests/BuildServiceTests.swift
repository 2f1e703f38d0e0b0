import BuildEngine
import BuildEvents
import BuildPlanner
import BuildService
import Foundation
import OCI
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The seed's API through the real worker process (`idpbuild build-worker`): as root here, and as an unprivileged
/// user with subuid ranges under scripts/test-rootless (the worker is then root of a user namespace).
@Suite(.serialized) struct BuildServiceTests {
    func config(_ env: BuildEnvironment) -> BuilderConfig { env.builderConfig() }

    @Test func seedBuildsAndPushesThroughTheWorkerAndRebuildsFromCache() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildExecutable), "build the idpbuild product first")
        let env = try await BuildEnvironment("service")
        defer { env.stop() }
        let seed = fixturesDirectory + "/seed"
        let events = EventRecorder()
        let builder = Builder(config: config(env))
        let response = await builder.buildAndPush(BuildRequest(dockerfilePath: seed + "/Dockerfile", contextDir: seed, imageName: "seed"),
                                                  events: events.handler)
        #expect(response.success, "\(response.error ?? "")")
        #expect(response.fullTag == "\(env.registry.host)/giteaadmin/seed:latest")
        #expect(response.imageID.hasPrefix("sha256:"))
        #expect(response.stepsRun == 2 && response.stepsCached == 0)
        #expect(events.all.filter { $0.kind == .stepStarted }.count == 4)
        #expect(events.all.contains { $0.kind == .bytes && $0.phase == "push" })
        #expect(events.all.last?.kind == .finished)
        // What the registry holds, as Debian's skopeo sees it.
        let config = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--config", "docker://\(response.fullTag)"])
        let parsed = try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any]
        #expect((parsed?["config"] as? [String: Any])?["Cmd"] as? [String] == ["/app"])
        let raw = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(response.fullTag)"])
        #expect(Digest.sha256(of: Array(raw.utf8)).description == response.digest)
        // umoci unpacks it into a tree with the seed's program.
        let layout = env.directory + "/layout"
        try TestSupport.check(["skopeo", "copy", "--src-tls-verify=false", "docker://\(response.fullTag)", "oci:\(layout):seed"])
        try TestSupport.check(["umoci", "unpack", "--rootless", "--image", "\(layout):seed", env.directory + "/bundle"])
        #expect(text(env.directory + "/bundle/rootfs/app").contains("hello from the idpbuild seed image"))
        #expect(FileManager.default.isExecutableFile(atPath: env.directory + "/bundle/rootfs/app"))

        let again = await builder.build(BuildRequest(dockerfilePath: seed + "/Dockerfile", contextDir: seed, imageName: "seed"), push: false)
        #expect(again.success)
        #expect(again.stepsCached == 2 && again.stepsRun == 0)
        #expect(env.leftovers().isEmpty)

        // Every step cached: the build runs in this process, so a builder whose worker does not exist still builds
        // and pushes; with --no-cache something must run, and that needs the worker.
        var noWorker = self.config(env)
        noWorker.workerExecutable = env.directory + "/no-such-worker"
        let here = EventRecorder()
        let cached = await Builder(config: noWorker).buildAndPush(BuildRequest(dockerfilePath: seed + "/Dockerfile", contextDir: seed, imageName: "seed"),
                                                                 events: here.handler)
        #expect(cached.success, "\(cached.error ?? "")")
        #expect(cached.stepsCached == 2 && cached.stepsRun == 0)
        let pushed = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(response.fullTag)"])
        #expect(Digest.sha256(of: Array(pushed.utf8)).description == cached.digest, "the registry holds what this build pushed")
        #expect(here.all.filter { $0.kind == .stepCached }.count >= 2)
        #expect(!here.all.contains { $0.kind == .output }, "nothing ran")
        #expect(here.all.last?.kind == .finished)
        let uncached = await Builder(config: noWorker).build(BuildRequest(dockerfilePath: seed + "/Dockerfile", contextDir: seed, imageName: "seed",
                                                                          noCache: true), push: false)
        #expect(!uncached.success)
        #expect(env.leftovers().isEmpty)
    }

    @Test func aFailingBuildAnswersWithAResponseAndTheFailedStep() async throws {
        let env = try await BuildEnvironment("service-fail")
        defer { env.stop() }
        let folder = fixturesDirectory + "/build/failing"
        let events = EventRecorder()
        let response = await Builder(config: config(env)).buildAndPush(
            BuildRequest(dockerfilePath: folder + "/Dockerfile", contextDir: folder, imageName: "failing", imageTag: "v1"), events: events.handler)
        #expect(!response.success)
        #expect(response.fullTag.hasSuffix("/giteaadmin/failing:v1"))
        #expect(response.error?.contains("failed with exit code 3") == true)
        let failed = try #require(events.all.first { $0.kind == .stepFailed })
        #expect(failed.range?.start.line == 2 && failed.exitCode == 3 && failed.tail == ["before failing"])
        #expect(events.all.contains { $0.kind == .output && $0.line == "to stderr" && $0.stream == "stderr" })
        #expect(env.leftovers().isEmpty)
    }

    @Test func cancellingStopsTheWorkerWithinTwoSeconds() async throws {
        let env = try await BuildEnvironment("service-cancel")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nRUN echo started && sleep 299\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let events = EventRecorder()
        let builder = Builder(config: config(env))
        let task = Task {
            await builder.buildAndPush(BuildRequest(dockerfilePath: context + "/Dockerfile", contextDir: context, imageName: "cancel"),
                                       events: events.handler)
        }
        try await TestSupport.waitUntil(timeout: 60, what: "the RUN step's output") { events.all.contains { $0.line == "started" } }
        let cancelledAt = Date()
        task.cancel()
        let response = await task.value
        #expect(Date().timeIntervalSince(cancelledAt) < 2)
        #expect(!response.success)
        #expect(response.error?.contains("cancelled") == true)
        #expect(eventually(within: 5) { hostProcesses(containing: "sleep 299").isEmpty })
        #expect(eventually(within: 5) { env.leftovers().isEmpty }, "\(env.leftovers())")
        // This build's worker (other suites' builds may be running: match its image).
        #expect(hostProcesses(containing: idpbuildExecutable + " build-worker " + response.fullTag).isEmpty)
    }

    @Test func requestsAreValidatedWithDefaults() throws {
        var request = BuildRequest(dockerfilePath: "Dockerfile", contextDir: ".", imageName: "app")
        try request.validate()
        #expect(request.imageTag == "latest")
        #expect(request.fullTag(config: BuilderConfig(environment: [:])) == "gitea.cnoe.localtest.me:8443/giteaadmin/app:latest")
        #expect(BuilderConfig(environment: ["IDPBUILD_REGISTRY": "registry.local:5000"]).registry == "registry.local:5000")
        var full = BuildRequest(dockerfilePath: "Dockerfile", contextDir: ".", imageName: "localhost:5000/team/app", imageTag: "v2")
        try full.validate()
        #expect(full.fullTag(config: BuilderConfig(environment: [:])) == "localhost:5000/team/app:v2")
        var bad = BuildRequest(dockerfilePath: "Dockerfile", contextDir: ".", imageName: "Has Spaces")
        #expect(throws: BuildServiceError.self) { try bad.validate() }
        var badTag = BuildRequest(dockerfilePath: "Dockerfile", contextDir: ".", imageName: "app", imageTag: "-x")
        #expect(throws: BuildServiceError.self) { try badTag.validate() }
        var noFile = BuildRequest(dockerfilePath: "", contextDir: ".", imageName: "app")
        #expect(throws: BuildServiceError.self) { try noFile.validate() }
    }

    @Test func theCommandLinePrintsJSONEventsAndExitsNonZeroOnFailure() async throws {
        let env = try await BuildEnvironment("cli")
        defer { env.stop() }
        let common = ["--registries-conf", env.registriesConf, "--root", env.store.root, "--insecure-registry", env.registry.host,
                      "--registry", env.registry.host, "--no-kubernetes"]
        let folder = fixturesDirectory + "/build/failing"
        let failing = try TestSupport.run([idpbuildExecutable, "build", "--json", "-t", "failing", folder] + common)
        #expect(failing.status == 1)
        let lines = failing.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.contains { $0["kind"] as? String == "stepFailed" && $0["exitCode"] as? Int == 3 })
        let result = try #require(lines.last)
        #expect(result["event"] as? String == "result")
        #expect((result["response"] as? [String: Any])?["success"] as? Bool == false)

        let seed = fixturesDirectory + "/seed"
        let built = try TestSupport.run([idpbuildExecutable, "build", "-t", "seed:cli", seed] + common)
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stdout.hasPrefix("\(env.registry.host)/giteaadmin/seed:cli sha256:"))
        #expect(built.stderr.contains("[stage-0] COPY app /app"))
        let missing = try TestSupport.run([idpbuildExecutable, "build", env.directory + "/nowhere"] + common)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("does not exist"))
    }

    /// A RUN that prints a secret (and a failure that quotes it) shows it masked on the terminal's log, in --json
    /// events and in the error, as the journal and the editor already do.
    @Test func theCommandLineMasksSecretValuesInItsOutput() async throws {
        let env = try await BuildEnvironment("cli-secret")
        defer { env.stop() }
        let folder = env.directory + "/leaky"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nCOPY headers.txt /\nRUN --mount=type=secret,id=token cat /run/secrets/token; echo; cat /headers.txt; exit 4\n"
            .write(toFile: folder + "/Dockerfile", atomically: true, encoding: .utf8)
        try "Authorization: Bearer abc.def\n".write(toFile: folder + "/headers.txt", atomically: true, encoding: .utf8)
        try "hunter2-value".write(toFile: env.directory + "/token", atomically: true, encoding: .utf8)
        let common = ["--registries-conf", env.registriesConf, "--root", env.store.root, "--no-kubernetes", "--no-push",
                      "--secret", "id=token,src=" + env.directory + "/token", "-t", "leaky", folder]
        for json in [false, true] {
            let run = try await TestSupport.runDetached([idpbuildExecutable, "build"] + (json ? ["--json"] : []) + common)
            #expect(run.status == 1)
            let output = run.stdout + run.stderr
            #expect(output.contains("exit code 4") || output.contains("\"exitCode\":4"), "\(output)")
            #expect(!output.contains("hunter2-value") && !output.contains("abc.def"), "a secret reached the output: \(output)")
            #expect(output.contains(SecretRedactor.mask))
        }
    }

    @Test func runImagePullsWhenMissingAndCommitsItsChanges() async throws {
        let env = try await BuildEnvironment("run-image")
        defer { env.stop() }
        let common = ["--root", env.store.root, "--registries-conf", env.registriesConf, "--no-kubernetes"]
        let first = try TestSupport.run([idpbuildExecutable, "run", "--commit", "example.test/committed:1"] + common
                                        + ["alpine:3.19", "--", "sh", "-c", "id -u; echo made > /made.txt"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == "0\n")
        #expect(first.stderr.contains("committed example.test/committed:1 sha256:"))
        let second = try TestSupport.run([idpbuildExecutable, "run"] + common + ["example.test/committed:1", "--", "cat", "/made.txt"])
        #expect(second.stdout == "made\n")
        let failing = try TestSupport.run([idpbuildExecutable, "run"] + common + ["example.test/committed:1", "--", "sh", "-c", "exit 4"])
        #expect(failing.status == 4)
        let missing = try TestSupport.run([idpbuildExecutable, "run"] + common + ["\(env.registry.host)/nope/image:1", "--", "true"])
        #expect(missing.status == 125)
        #expect(!missing.stderr.isEmpty)
        #expect(env.leftovers().isEmpty)
    }
}
