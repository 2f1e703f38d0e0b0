import BuildEngine
import BuildEvents
import BuildPlanner
import BuildService
import Foundation
import SandboxTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Running plans through the worker: independent stages at once (`--jobs`), the first failure stopping the others,
/// reasons on the step events, `idpbuild build --dry-run`. As root here and rootless under scripts/test-rootless.
@Suite(.serialized) struct PlanExecutionTests {
    func context(_ env: BuildEnvironment, _ dockerfile: String) throws -> String {
        let context = env.directory + "/context-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try dockerfile.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        return context
    }

    static let twoBuilders = """
        FROM alpine:3.19 AS left
        RUN sleep 1 && echo left > /left
        FROM alpine:3.19 AS right
        RUN sleep 1 && echo right > /right
        FROM alpine:3.19
        COPY --from=left /left /left
        COPY --from=right /right /right

        """

    @Test func independentStagesRunAtOnceAndJobsOneRunsThemInTurn() async throws {
        let env = try await BuildEnvironment("parallel")
        defer { env.stop() }
        let folder = try context(env, Self.twoBuilders)
        func build(jobs: Int) async -> ([BuildEvent], BuildResponse) {
            let events = EventRecorder()
            let response = await Builder(config: env.builderConfig { $0.jobs = jobs }).build(
                BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "parallel"), push: false, events: events.handler)
            return (events.all, response)
        }
        func overlapped(_ events: [BuildEvent]) -> Bool {
            let runs = events.filter { $0.instruction?.hasPrefix("RUN sleep") == true }
            guard let firstDone = runs.firstIndex(where: { $0.kind == .stepDone }) else { return false }
            return runs[..<firstDone].filter { $0.kind == .stepStarted }.count == 2
        }
        let (events, response) = await build(jobs: 2)
        #expect(response.success, "\(response.error ?? "")")
        #expect(overlapped(events), "both builder stages' RUNs started before either was done")
        let tree = try env.unpack(response.fullTag)
        #expect(text(tree + "/left") == "left\n" && text(tree + "/right") == "right\n")
        // Step numbers come from the plan: the same for every run, whatever finished first.
        let numbers = events.filter { $0.kind == .stepStarted }.map { "\($0.step ?? 0) \($0.instruction ?? "")" }.sorted()
        #expect(numbers == ["1 FROM alpine:3.19 AS left", "2 RUN sleep 1 && echo left > /left", "3 FROM alpine:3.19 AS right",
                            "4 RUN sleep 1 && echo right > /right", "5 FROM alpine:3.19", "6 COPY --from=left /left /left",
                            "7 COPY --from=right /right /right"])

        func build(jobs: Int, noCache: Bool) async -> ([BuildEvent], BuildResponse) {
            let events = EventRecorder()
            let response = await Builder(config: env.builderConfig { $0.jobs = jobs }).build(
                BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "parallel", noCache: noCache), push: false, events: events.handler)
            return (events.all, response)
        }
        let (cached, again) = await build(jobs: 2, noCache: false)
        #expect(again.success)
        #expect(!cached.contains { $0.kind == .stepDone && $0.instruction?.hasPrefix("RUN") == true }, "cached: nothing runs")
        let (sequential, inTurn) = await build(jobs: 1, noCache: true)
        #expect(inTurn.success)
        #expect(!overlapped(sequential), "--jobs 1 runs one stage at a time")
        #expect(env.leftovers().isEmpty)
    }

    @Test func theFirstFailureStopsTheOtherStagesAndLeavesNothing() async throws {
        let env = try await BuildEnvironment("first-failure")
        defer { env.stop() }
        let token = String(600_000 + Int(getpid() % 100_000))
        let folder = try context(env, """
            FROM alpine:3.19 AS slow
            RUN sleep \(token)
            FROM alpine:3.19 AS broken
            RUN sleep 1; exit 3
            FROM alpine:3.19
            COPY --from=slow /etc/passwd /a
            COPY --from=broken /etc/passwd /b

            """)
        let events = EventRecorder()
        let started = Date()
        let response = await Builder(config: env.builderConfig { $0.jobs = 2 }).build(
            BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "broken"), push: false, events: events.handler)
        #expect(!response.success)
        #expect(response.error?.contains("exit code 3") == true && response.error?.contains("line 4") == true, "\(response.error ?? "")")
        #expect(Date().timeIntervalSince(started) < 120, "the slow stage was not left to sleep")
        #expect(events.all.first { $0.kind == .stepFailed }?.range?.start.line == 3)
        #expect(eventually(within: 10) { hostProcesses(containing: "sleep \(token)").isEmpty })
        #expect(eventually(within: 10) { env.leftovers().isEmpty }, "\(env.leftovers())")
    }

    @Test func aStepSaysWhyItRunsAndDryRunPlansOnly() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildExecutable), "build the idpbuild product first")
        let env = try await BuildEnvironment("why")
        defer { env.stop() }
        let folder = try context(env, "FROM alpine:3.19\nARG VERSION=1.0\nCOPY app.txt /app.txt\nRUN cat /app.txt\n")
        try "one\n".write(toFile: folder + "/app.txt", atomically: true, encoding: .utf8)
        let builder = Builder(config: env.builderConfig())
        let request = BuildRequest(dockerfilePath: "Dockerfile", contextDir: folder, imageName: "why")
        #expect(await builder.build(request, push: false).success)
        try "two\n".write(toFile: folder + "/app.txt", atomically: true, encoding: .utf8)

        func idpbuild(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestSupport.run([idpbuildExecutable, "build", "--no-push", "--no-kubernetes", "--root", env.store.root,
                                 "--registries-conf", env.registriesConf, "-t", "why"] + arguments + [folder])
        }
        let dry = try idpbuild(["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("#1 [stage-0] FROM alpine:3.19: cached"))
        #expect(dry.stdout.contains("#3 [stage-0] COPY app.txt /app.txt: will run (app.txt changed)"))
        #expect(dry.stdout.contains("#4 [stage-0] RUN cat /app.txt: will run (it follows #3 COPY app.txt /app.txt, which will run)"))
        #expect(dry.stdout.contains("#2 [stage-0] ARG VERSION=1.0: metadata"))
        let json = try idpbuild(["--dry-run", "--json"])
        let lines = json.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 4 && lines.allSatisfy { $0["event"] as? String == "plan" })
        #expect(lines.first { $0["step"] as? Int == 3 }?["reason"] as? String == "app.txt changed")
        #expect(lines.first { $0["step"] as? Int == 3 }?["line"] as? Int == 3)
        // Nothing ran: the real build still has to copy the file, and says why on the step's line.
        let real = try idpbuild([])
        #expect(real.status == 0, "\(real.stderr)")
        #expect(real.stderr.contains("#3 [stage-0] COPY app.txt /app.txt  (runs: app.txt changed)"), "\(real.stderr)")
        let events = try idpbuild(["--json", "--build-arg", "VERSION=2.0"])
        let started = events.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "stepStarted" }
        #expect(started.first { $0["step"] as? Int == 4 }?["reason"] as? String == "ARG VERSION: 1.0 → 2.0")
        let broken = try TestSupport.run([idpbuildExecutable, "build", "--dry-run", "--no-kubernetes", "--root", env.store.root, env.directory + "/none"])
        #expect(broken.status == 1 && broken.stderr.contains("does not exist or is not a directory"))
    }
}
