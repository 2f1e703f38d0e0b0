import BuildEvents
import BuildEngine
import BuildPlanner
@testable import BuildService
import Foundation
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The worker's own loop in this process, on pipes (the worker process runs the same code; coverage of a child
/// process is not visible to the test binary). Root only: the worker is always root of its namespace.
@Suite(.serialized, .enabled(if: runningAsRoot, "the worker runs as (namespace) root"))
struct WorkerTests {
    /// Runs the worker on a job; returns its status and events. `closeInputEarly` closes its input right after the job.
    func runWorker(_ job: WorkerJob, closeInputEarly: Bool = false, raw: String? = nil) async throws -> (Int32, [BuildEvent]) {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0 else { throw TestFailure("pipe failed") }
        let line = try raw.map { Data($0.utf8) } ?? (JSONEncoder().encode(job) + Data("\n".utf8))
        _ = line.withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
        if closeInputEarly || raw != nil { close(input[1]) }
        let collected = EventRecorder()
        let reader = LineReader(fd: output[0]) { text in
            if let event = try? JSONDecoder().decode(BuildEvent.self, from: Data(text.utf8)) { collected.handler(event) }
        }
        reader.start()
        let status = await BuildWorker.run(input: input[0], output: output[1], handleSignals: false)
        close(output[1])
        reader.wait()
        if !closeInputEarly && raw == nil { close(input[1]) }
        close(input[0])
        return (status, collected.all)
    }

    func job(_ env: BuildEnvironment, folder: String, push: Bool, caFile: String? = nil, registriesConf: String? = nil) -> WorkerJob {
        var config = BuilderConfig(registry: env.registry.host, insecureRegistries: [env.registry.host], registriesConf: registriesConf ?? env.registriesConf,
                                   storeRoot: env.store.root, useKubernetes: false, environment: [:])
        config.caFile = caFile
        let tag = "\(env.registry.host)/giteaadmin/worker:latest"
        return WorkerJob(options: BuildOptions(dockerfilePath: folder + "/Dockerfile", contextDirectory: folder, tags: [tag]),
                         push: push ? tag : nil, config: config)
    }

    @Test func buildsPushesAndEndsWithTheSummary() async throws {
        let env = try await BuildEnvironment("worker")
        defer { env.stop() }
        let (status, events) = try await runWorker(job(env, folder: fixturesDirectory + "/seed", push: true))
        #expect(status == 0)
        let summary = try #require(events.last?.summary)
        #expect(summary.success && summary.pushedDigest?.hasPrefix("sha256:") == true)
        #expect(events.contains { $0.kind == .bytes && $0.phase == "push" })
    }

    @Test func failuresAndCancelsEndWithAFailedSummary() async throws {
        let env = try await BuildEnvironment("worker-fail")
        defer { env.stop() }
        let (failed, failedEvents) = try await runWorker(job(env, folder: fixturesDirectory + "/build/failing", push: true))
        #expect(failed == 1)
        #expect(failedEvents.last?.summary?.error?.contains("exit code 3") == true)
        // Input closed at once: the build is cancelled.
        let (cancelled, cancelledEvents) = try await runWorker(job(env, folder: fixturesDirectory + "/build/failing", push: false), closeInputEarly: true)
        #expect(cancelled == 1)
        #expect(cancelledEvents.last?.summary?.success == false)
        // A job that is not JSON.
        let (garbage, garbageEvents) = try await runWorker(job(env, folder: fixturesDirectory + "/seed", push: false), raw: "not json\n")
        #expect(garbage == 2)
        #expect(garbageEvents.last?.summary?.error?.contains("no readable job") == true)
        // An unreadable registries.conf and a missing CA file are errors that name the file.
        let (badConf, badConfEvents) = try await runWorker(job(env, folder: fixturesDirectory + "/seed", push: false, registriesConf: env.directory + "/none.conf"))
        #expect(badConf == 1)
        #expect(badConfEvents.last?.summary?.error?.contains("none.conf") == true)
        let (badCA, badCAEvents) = try await runWorker(job(env, folder: fixturesDirectory + "/seed", push: false, caFile: env.directory + "/none.pem"))
        #expect(badCA == 1)
        #expect(badCAEvents.last?.summary?.error?.contains("none.pem") == true)
    }

    @Test func aPushThatFailsKeepsTheBuildAndSaysWhere() async throws {
        let env = try await BuildEnvironment("worker-push")
        defer { env.stop() }
        var failing = job(env, folder: fixturesDirectory + "/seed", push: true)
        let dead = TestSupport.freePort()
        failing.push = "127.0.0.1:\(dead)/giteaadmin/worker:latest"
        failing.config.insecureRegistries.append("127.0.0.1:\(dead)")
        let (status, events) = try await runWorker(failing)
        #expect(status == 1)
        #expect(events.last?.summary?.imageID != nil)
        #expect(events.last?.summary?.error?.contains("push to 127.0.0.1:\(dead) failed") == true)
    }
}
