import BuildEngine
import BuildEvents
import BuildPlanner
import Foundation
import ImageStore
import OCI
import Sandbox
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The engine in this process, as root (the build worker's situation); the registry and sandbox are real.
@Suite(.serialized, .enabled(if: runningAsRoot, "the engine runs in-process only as root; BuildServiceTests cover unprivileged builds"))
struct EngineTests {
    @Test func seedFixtureBuildsAnImageWhoseCommandRuns() async throws {
        let env = try await BuildEnvironment("seed")
        defer { env.stop() }
        let events = EventRecorder()
        let seed = fixturesDirectory + "/seed"
        let summary = try await env.engine().build(BuildOptions(dockerfilePath: seed + "/Dockerfile", contextDirectory: seed,
                                                                tags: ["example.test/giteaadmin/seed:latest"]), events: events.handler)
        #expect(summary.success)
        #expect(summary.stepsRun == 2)
        let image = try env.store.image("example.test/giteaadmin/seed:latest")
        #expect(image.config.config?.Cmd == ["/app"])
        #expect(image.manifest.layers.count == 3)
        #expect(image.config.rootfs.diffIDs.count == 3)
        #expect(image.config.history?.map(\.createdBy) == ["busybox-static from Debian", "COPY app /app # buildkit",
                                                          "RUN /bin/sh -c chmod +x /app # buildkit", "CMD [\"/app\"]"])
        #expect(image.config.history?.last?.emptyLayer == true)
        #expect(summary.imageID == image.manifest.config.digest.description)
        let starts = events.all.filter { $0.kind == .stepStarted }
        #expect(starts.map(\.step) == [1, 2, 3, 4])
        #expect(starts.allSatisfy { $0.totalSteps == 4 })
        #expect(starts[2].instruction == "RUN chmod +x /app")
        #expect(starts[2].range?.start.line == 2)
        #expect(events.all.contains { $0.kind == .bytes && $0.phase == "pull" })
        // The image's CMD runs in the sandbox over its layers.
        let tree = try env.unpack("example.test/giteaadmin/seed:latest")
        #expect(FileManager.default.isExecutableFile(atPath: tree + "/app"))
        let result = try await Sandbox().runCollecting(SandboxConfiguration(layers: [tree], command: image.config.config!.Cmd!,
                                                                           environment: image.config.config?.Env ?? []))
        #expect(result.termination == .exited(0))
        #expect(result.stdout == ["hello from the idpbuild seed image"])
        #expect(env.leftovers().isEmpty)
    }

    @Test func noChangeRebuildComesFromTheCacheAndAnEditRerunsFromThatStep() async throws {
        let env = try await BuildEnvironment("cache")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCOPY c.txt /c.txt\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        try "one\n".write(toFile: context + "/a.txt", atomically: true, encoding: .utf8)
        try "c\n".write(toFile: context + "/c.txt", atomically: true, encoding: .utf8)
        let engine = env.engine()
        let options = env.options(context)
        let first = try await engine.build(options)
        #expect(first.stepsRun == 3 && first.stepsCached == 0)
        let layersBefore = try FileManager.default.contentsOfDirectory(atPath: env.store.root + "/layers").sorted()
        let planned = try engine.cacheStates(options)
        #expect(planned.map(\.state) == [.cached, .cached, .cached, .cached])

        let second = try await engine.build(options)
        #expect(second.stepsRun == 0 && second.stepsCached == 3)
        #expect(second.manifestDigest != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: env.store.root + "/layers").sorted() == layersBefore)
        let secondImage = try env.store.image("example.test/image:latest")
        let firstLayers = try env.store.image("example.test/image:latest").manifest.layers
        #expect(secondImage.manifest.layers == firstLayers)

        // Touching a file without changing it keeps the cache (content, not time, is the key).
        let later = timespec(tv_sec: Int(Date().timeIntervalSince1970) + 100, tv_nsec: 0)
        var times = [later, later]
        utimensat(AT_FDCWD, context + "/a.txt", &times, 0)
        #expect(try await engine.build(options).stepsRun == 0)

        try "two\n".write(toFile: context + "/a.txt", atomically: true, encoding: .utf8)
        let plannedAfterEdit = try engine.cacheStates(options)
        #expect(plannedAfterEdit.map(\.state) == [.cached, .willRun, .willRun, .willRun])
        let third = try await engine.build(options)
        #expect(third.stepsRun == 3)
        #expect(text(try env.unpack("example.test/image:latest") + "/b.txt") == "two\n")
        // --no-cache runs everything again.
        #expect(try await engine.build(env.options(context, noCache: true)).stepsRun == 3)
    }

    @Test func sourceDateEpochMakesTwoBuildsByteIdentical() async throws {
        let env = try await BuildEnvironment("reproducible")
        defer { env.stop() }
        let engine = env.engine()
        let seed = fixturesDirectory + "/seed"
        let options = BuildOptions(dockerfilePath: seed + "/Dockerfile", contextDirectory: seed, tags: ["example.test/r/seed:1"], noCache: true,
                                   timestamp: 1_700_000_000)
        let first = try await engine.build(options)
        let second = try await engine.build(options)
        #expect(first.manifestDigest == second.manifestDigest)
        #expect(first.imageID == second.imageID)
        let image = try env.store.image("example.test/r/seed:1")
        #expect(image.config.created == "2023-11-14T22:13:20Z")
        #expect(image.config.history?.suffix(3).allSatisfy { $0.created == "2023-11-14T22:13:20Z" } == true)
        // Without the timestamp the creation time differs, so the digests do too.
        try await Task.sleep(nanoseconds: 1_100_000_000)
        let third = try await engine.build(BuildOptions(dockerfilePath: seed + "/Dockerfile", contextDirectory: seed, tags: ["example.test/r/seed:2"], noCache: true))
        #expect(third.manifestDigest != first.manifestDigest)
    }

    @Test func metadataInstructionsSetTheConfigAsDockerDoes() async throws {
        let env = try await BuildEnvironment("metadata")
        defer { env.stop() }
        _ = try await env.engine().build(env.options("metadata", buildArguments: ["GREETING": "hi there"]))
        let image = try env.store.image("example.test/image:latest")
        let config = try #require(image.config.config)
        #expect(config.Env?.contains("APP_HOME=/srv/app") == true)
        #expect(config.Env?.contains("GREETING=hi there") == true)
        #expect(config.Labels == ["org.opencontainers.image.title": "metadata fixture", "version": "1"])
        #expect(config.WorkingDir == "/srv/app/data")
        #expect(config.User == "1000:1000")
        #expect(Set(config.ExposedPorts?.keys.map { $0 } ?? []) == ["8080/tcp", "53/udp", "9000/tcp", "9001/tcp"])
        #expect(config.Volumes?.keys.map { $0 } == ["/srv/app/data"])
        #expect(config.StopSignal == "SIGQUIT")
        #expect(config.Healthcheck?.Test == ["CMD", "/bin/true"])
        #expect(config.Healthcheck?.Interval == 30_000_000_000)
        #expect(config.Healthcheck?.Retries == 3)
        #expect(config.Shell == ["/bin/sh", "-ec"])
        #expect(config.Entrypoint == ["/bin/sh", "-c"])
        #expect(config.Cmd == ["/bin/sh", "-ec", "echo \"$GREETING\""])  // set in this stage, so ENTRYPOINT keeps it
        #expect(image.config.author == "idpbuild tests")
        // WORKDIR made its directory (and only that) as a layer.
        let tree = try env.unpack("example.test/image:latest")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: tree + "/srv/app/data", isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(image.manifest.layers.count == 3)
    }

    @Test func entrypointResetsAnInheritedCmd() async throws {
        let env = try await BuildEnvironment("entrypoint")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nENTRYPOINT [\"/bin/echo\"]\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        _ = try await env.engine().build(env.options(context))
        let config = try env.store.image("example.test/image:latest").config.config
        #expect(config?.Entrypoint == ["/bin/echo"])
        #expect(config?.Cmd == nil)
    }

    @Test func multiStageBuildsOnlyTheStagesTheTargetNeeds() async throws {
        let env = try await BuildEnvironment("stages")
        defer { env.stop() }
        let events = EventRecorder()
        let summary = try await env.engine().build(env.options("multistage", buildArguments: ["VERSION": "2.5"]), events: events.handler)
        #expect(summary.success)
        #expect(!events.all.contains { $0.stage == "unused" })
        #expect(events.all.first { $0.kind == .stepStarted }?.totalSteps == 8)
        let tree = try env.unpack("example.test/image:latest")
        #expect(text(tree + "/opt/base.txt") == "base\n")
        #expect(text(tree + "/opt/version.txt") == "version 2.5\n")
        #expect(text(tree + "/base-copy.txt") == "base\n")
        #expect(try env.store.image("example.test/image:latest").manifest.layers.count == 2)

        _ = try await env.engine().build(env.options("multistage", tag: "example.test/builder:latest", target: "builder"))
        let builder = try env.unpack("example.test/builder:latest")
        #expect(text(builder + "/out/version.txt") == "version 1.0\n")
        #expect(FileManager.default.isExecutableFile(atPath: builder + "/bin/busybox"))
        await #expect(throws: BuildError.self) { try await env.engine().build(env.options("multistage", target: "nosuch")) }
    }

    @Test func copyAndAddFollowDockerSemantics() async throws {
        let env = try await BuildEnvironment("files")
        defer { env.stop() }
        _ = try await env.engine().build(env.options("files", context: "context"))
        let tree = try env.unpack("example.test/image:latest")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree + "/texts").sorted() == ["link.txt", "one.txt", "two.txt"])
        #expect(text(tree + "/texts/link.txt") == "one\n")  // a named symlink source is followed
        #expect(text(tree + "/copied-dir/top.txt") == "in dir\n")  // a directory copies its contents
        #expect(text(tree + "/copied-dir/sub/deep.txt") == "in sub\n")
        #expect(text(tree + "/sub-contents/deep.txt") == "in sub\n")
        let owned = try #require(status(tree + "/owned/one"))
        #expect(owned.st_uid == 1234 && owned.st_gid == 2345)
        #expect(owned.st_mode & 0o7777 == 0o640)
        #expect(text(tree + "/via-link.txt") == "one\n")
        #expect(text(tree + "/extracted/pkg/file.txt") == "packed\n")  // ADD extracts a local tar
        #expect(text(tree + "/etc/greeting") == "hello from a heredoc\n")
        #expect(text(tree + "/heredoc-run.txt") == "ran a heredoc script\n")
        // COPY . keeps symlinks as symlinks and honours .dockerignore with its exception.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: tree + "/all/link.txt")) == "one.txt")
        #expect(!FileManager.default.fileExists(atPath: tree + "/all/debug.log"))
        #expect(!FileManager.default.fileExists(atPath: tree + "/all/ignored/secret.txt"))
        #expect(text(tree + "/all/ignored/keep.txt") == "keep me\n")
        #expect(status(tree + "/all/one.txt")?.st_uid == 0)
        // The busybox base is still there underneath.
        #expect(FileManager.default.isExecutableFile(atPath: tree + "/bin/busybox"))
    }

    @Test func runMountsAreSeenByTheCommandButNotKept() async throws {
        let env = try await BuildEnvironment("mounts")
        defer { env.stop() }
        let secret = env.directory + "/token"
        try "s3cret".write(toFile: secret, atomically: true, encoding: .utf8)
        _ = try await env.engine().build(env.options("mounts", secrets: ["token": secret]))
        var tree = try env.unpack("example.test/image:latest")
        #expect(text(tree + "/cache-count.txt") == "1\n")
        #expect(text(tree + "/tmpfs-list.txt") == "x\n")
        #expect(text(tree + "/secret-size.txt") == "6\n")
        #expect(text(tree + "/bound.txt") == "from the context\n")
        #expect(text(tree + "/interfaces.txt") == "1\n")  // only lo
        for path in ["/cache", "/scratch", "/run/secrets", "/data"] { #expect(status(tree + path) == nil, "\(path) leaked into the image") }
        let blobs = try env.store.image("example.test/image:latest").manifest.layers
        for layer in blobs.dropFirst() {
            let entries = try readTar(env.store.blobPath(layer.digest)).map(\.path)
            #expect(!entries.contains { $0.contains("token") || $0.hasPrefix("run") })
        }
        // The cache mount persists across builds.
        _ = try await env.engine().build(env.options("mounts", noCache: true, secrets: ["token": secret]))
        tree = try env.unpack("example.test/image:latest")
        #expect(text(tree + "/cache-count.txt") == "2\n")
        // A required secret that was not given is an error naming it.
        let context = env.directory + "/needs-secret"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nRUN --mount=type=secret,id=missing,required=true true\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        do {
            _ = try await env.engine().build(env.options(context))
            Issue.record("expected the missing secret to fail the build")
        } catch let error as BuildError {
            #expect(error.description.contains("--secret id=missing"))
        }
    }

    @Test func onbuildTriggersRunInTheChildAndAreNotInherited() async throws {
        let env = try await BuildEnvironment("onbuild")
        defer { env.stop() }
        _ = try await env.engine().build(env.options("onbuild", tag: "example.test/onbuild-base:1"))
        #expect(try env.store.image("example.test/onbuild-base:1").config.config?.OnBuild == ["RUN echo triggered > /onbuild.txt", "ENV FROM_TRIGGER=yes"])
        let events = EventRecorder()
        _ = try await env.engine().build(env.options("onbuild", dockerfile: "Dockerfile.child", tag: "example.test/child:1",
                                                     buildArguments: ["BASE": "example.test/onbuild-base:1"]), events: events.handler)
        let child = try env.store.image("example.test/child:1")
        #expect(child.config.config?.OnBuild == nil)
        #expect(child.config.config?.Env?.contains("FROM_TRIGGER=yes") == true)
        #expect(events.all.contains { $0.kind == .output && $0.line == "triggered" })
    }

    @Test func aFailingRunReportsItsLineExitCodeAndOutputAndLeavesNothingBehind() async throws {
        let env = try await BuildEnvironment("failing")
        defer { env.stop() }
        let events = EventRecorder()
        do {
            _ = try await env.engine().build(env.options("failing"), events: events.handler)
            Issue.record("expected the build to fail")
        } catch let error as BuildError {
            guard case let .runFailed(instruction, range, exitCode, tail) = error else { Issue.record("unexpected \(error)"); return }
            #expect(instruction == "RUN echo before failing && exit 3")
            #expect(range?.start.line == 2)
            #expect(exitCode == 3)
            #expect(tail == ["before failing"])
            #expect(error.description.contains("(line 3) failed with exit code 3"))
        }
        let failed = try #require(events.all.first { $0.kind == .stepFailed })
        #expect(failed.exitCode == 3 && failed.range?.start.line == 2 && failed.step == 3)
        #expect(!events.all.contains { $0.instruction == "RUN echo never" })
        #expect(env.leftovers().isEmpty)
        #expect(hostProcesses(containing: "/bin/sh -c echo before").isEmpty)
        // The next build works.
        let seed = fixturesDirectory + "/seed"
        #expect(try await env.engine().build(BuildOptions(dockerfilePath: seed + "/Dockerfile", contextDirectory: seed)).success)
    }

    @Test func cancellingMidRunStopsTheCommandAndCleansUp() async throws {
        let env = try await BuildEnvironment("cancel")
        defer { env.stop() }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM alpine:3.19\nRUN echo started && sleep 298\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        let events = EventRecorder()
        let engine = env.engine()
        let options = env.options(context)
        let task = Task { try await engine.build(options, events: events.handler) }
        try await TestSupport.waitUntil(timeout: 30, what: "the RUN step's output") { events.all.contains { $0.line == "started" } }
        let cancelledAt = Date()
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(Date().timeIntervalSince(cancelledAt) < 2)
        #expect(hostProcesses(containing: "sleep 298").isEmpty)
        #expect(env.leftovers().isEmpty)
        #expect(!mountTable().contains(env.store.root))
    }

    @Test func badInputFailsWithAnActionableError() async throws {
        let env = try await BuildEnvironment("bad")
        defer { env.stop() }
        let engine = env.engine()
        func failure(_ options: BuildOptions) async -> String {
            do { _ = try await engine.build(options); return "no error" } catch { return "\(error)" }
        }
        let context = env.directory + "/context"
        try FileManager.default.createDirectory(atPath: context + "/sub", withIntermediateDirectories: true)
        func dockerfile(_ text: String) throws -> BuildOptions {
            try text.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
            return env.options(context)
        }
        #expect(await failure(env.options(env.directory + "/nowhere")).contains("does not exist or is not a directory"))
        #expect(await failure(BuildOptions(dockerfilePath: context + "/Nope", contextDirectory: context)).contains("cannot read the Dockerfile"))
        #expect(await failure(try dockerfile("FROM alpine:3.19\nCOPY missing.txt /x\n")).contains("source \"missing.txt\" does not exist in the build context"))
        #expect(await failure(try dockerfile("FROM alpine:3.19\nCOPY ../../etc/passwd /x\n")).contains("is outside the build context"))
        #expect(await failure(try dockerfile("FROM alpine:3.19\nCOPY *.nothing /x/\n")).contains("matches no file"))
        #expect(await failure(try dockerfile("FROM alpine:3.19\nRUN --mount=type=ssh true\n")).contains("not supported"))
        #expect(await failure(try dockerfile("FROM alpine:3.19\nBOGUS x\n")).contains("block the build"))
        #expect(await failure(try dockerfile("FROM nosuch/image:1\n")).contains("base image docker.io/nosuch/image:1 is not available"))
        #expect(await failure(try dockerfile("FROM --platform=linux/s390x alpine:3.19\n")).contains("platform"))
        let twoSources = await failure(try dockerfile("FROM alpine:3.19\nCOPY a b /x\n"))
        #expect(twoSources.contains("destination must be a directory"), "\(twoSources)")
        #expect(env.leftovers().isEmpty)
    }
}

/// `.dockerignore` matching, as moby/patternmatcher does it.
struct DockerIgnoreTests {
    @Test func patternsExceptionsAndParentMatches() throws {
        let ignore = try DockerIgnore(parsing: "# comment\n*.log\n!keep.log\nbuild/\n**/tmp\n/docs/*.md\n!docs/README.md\n")
        #expect(ignore.excludes("debug.log"))
        #expect(!ignore.excludes("keep.log"))
        #expect(ignore.excludes("build"))
        #expect(ignore.excludes("build/out/a.o"))  // a parent matches
        #expect(ignore.excludes("a/b/tmp"))
        #expect(ignore.excludes("tmp/x"))
        #expect(ignore.excludes("docs/guide.md"))
        #expect(!ignore.excludes("docs/README.md"))
        #expect(!ignore.excludes("src/main.swift"))
        #expect(!ignore.excludes("sub/debug.log"))  // * does not cross /
        #expect(ignore.hasExceptions)
        #expect(!DockerIgnore.none.excludes("anything"))
    }
}

/// COPY --parents, --exclude, --from an image, and ADD from a URL served on 127.0.0.1.
@Suite(.serialized, .enabled(if: runningAsRoot, "the engine runs in-process only as root"))
struct MoreCopyTests {
    @Test func parentsExcludeImageSourcesAndURLs() async throws {
        let env = try await BuildEnvironment("more")
        defer { env.stop() }
        let served = env.directory + "/served"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        try "remote content\n".write(toFile: served + "/remote.txt", atomically: true, encoding: .utf8)
        // A static file server on 127.0.0.1 that exits when its standard input closes (ServerProcess.stop()).
        let script = """
        import functools, http.server, os, sys, threading
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        print("PORT %d" % server.server_address[1], flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
        server.serve_forever()
        """
        let server = try ServerProcess(["python3", "-c", script, served], logPath: env.directory + "/http.log", announcesPort: true)
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)"
        _ = try await env.engine().build(env.options("more", context: "context", buildArguments: ["URL": url]))
        let tree = try env.unpack("example.test/image:latest")
        #expect(text(tree + "/parents/src/a/keep.txt") == "a\n")
        #expect(text(tree + "/parents/src/b/keep.txt") == "b\n")
        #expect(text(tree + "/excluded/a/keep.txt") == "a\n")
        #expect(status(tree + "/excluded/a/skip.tmp") == nil)
        #expect(text(tree + "/from-image-passwd").hasPrefix("root:"))
        #expect(text(tree + "/downloaded/remote.txt") == "remote content\n")
        #expect((status(tree + "/downloaded/remote.txt")?.st_mode ?? 0) & 0o777 == 0o600)
        // A wrong --checksum fails the step and says what the download hashed to.
        let context = env.directory + "/checksum"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        let wrong = "sha256:" + String(repeating: "0", count: 64)
        try "FROM alpine:3.19\nADD --checksum=\(wrong) \(url)/remote.txt /r.txt\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        do {
            _ = try await env.engine().build(env.options(context))
            Issue.record("expected a checksum mismatch")
        } catch let error as BuildError {
            #expect(error.description.contains("not --checksum=\(wrong)"))
        }
        // A URL that answers 404 is a missing source.
        try "FROM alpine:3.19\nADD \(url)/nothing.txt /r.txt\n".write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        do {
            _ = try await env.engine().build(env.options(context))
            Issue.record("expected a 404")
        } catch let error as BuildError {
            #expect(error.description.contains("HTTP 404"))
        }
    }
}
