import BuildEngine
import BuildEvents
import BuildPlanner
@testable import BuildService
import Foundation
import JSONRPC
import LSPTestSupport
import ResourceLimits
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Build limits as root without systemd: a cgroup the engine makes (v1 or v2, as mounted) around the worker.
@Suite(.enabled(if: geteuid() == 0, "the engine makes cgroups only as root (a systemd user scope otherwise)"))
struct LimitsTests {
    /// A context whose fourth line allocates without end (busybox awk doubling a string).
    static func greedyContext(in scratch: Scratch) throws -> String {
        let context = scratch.file("context")
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context + "/busybox")
        try """
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "echo", "a small step"]
            RUN ["/bin/busybox", "awk", "BEGIN { s = \\"0123456789abcdef\\"; while (1) s = s s }"]
            """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        return context
    }

    /// The build's cgroups still present (there must be none after a build).
    static func leftoverGroups() -> [String] {
        let layout = CgroupLayout.current()
        return layout.hierarchies.compactMap { layout.directory(in: $0) }.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("idpbuild-build-") }.map { directory + "/" + $0 }
        }
    }

    @Test func aRunPastTheMemoryLimitFailsWithOutOfMemoryOnItsLine() async throws {
        let scratch = try Scratch("oom")
        let context = try Self.greedyContext(in: scratch)
        let build = try Child([idpbuild, "build", "--no-push", "--root", scratch.file("store"), "-t", "greedy", "--memory", "64m", "--cpus", "1",
                               "--pids-limit", "64", "--log", "stderr", context], environment: childEnvironment(), in: scratch, name: "build")
        #expect(try await build.exitStatus(within: 120) == 1)
        let error = build.standardError
        #expect(error.contains("#3 a small step"), "steps within the limit run: \(error)")
        #expect(error.contains("error: RUN [\"/bin/busybox\", \"awk\"") && error.contains("(line 4) ran out of memory"), "\(error)")
        #expect(error.contains("--memory limit of 64 MiB"))
        let leftovers = Self.leftoverGroups().filter { $0.contains("idpbuild-build-\(build.pid)-") }
        #expect(leftovers.isEmpty, "cgroups left behind: \(leftovers)")
    }

    @Test func theBuilderNamesTheOutOfMemoryStepInItsEventsAndResponse() async throws {
        let scratch = try Scratch("oom-api")
        let context = try Self.greedyContext(in: scratch)
        let events = EventLog()
        let builder = Builder(config: BuilderConfig(storeRoot: scratch.file("store"), workerExecutable: idpbuild, useKubernetes: false,
                                                    limits: ResourceLimits(memoryBytes: 64 << 20, pids: 64), environment: [:]))
        let response = await builder.build(BuildRequest(dockerfilePath: context + "/Dockerfile", contextDir: context, imageName: "greedy"), push: false,
                                           events: events.handler)
        #expect(!response.success)
        #expect(response.error?.contains("(line 4) ran out of memory: the kernel killed it at the build's --memory limit of 64 MiB") == true, "\(response.error ?? "")")
        let failed = try #require(events.all.first { $0.kind == .stepFailed })
        #expect(failed.range?.start.line == 3)
        #expect(failed.message?.contains("ran out of memory") == true)
        #expect(!events.all.contains { $0.kind == .warning && $0.message?.contains("without the limits") == true })
        #expect(Self.leftoverGroups().filter { $0.contains("idpbuild-build-\(getpid())-") }.isEmpty)
    }

    @Test func theEditorsMemorySettingLimitsItsBuildsAndMarksTheLine() async throws {
        let scratch = try Scratch("oom-lsp")
        let context = try Self.greedyContext(in: scratch)
        let socketPath = scratch.file("lsp.sock")
        let server = try Child([idpbuild, "lsp", "--listen", "unix:" + socketPath, "--log", "stderr", "--root", scratch.file("store"),
                                "--no-kubernetes"], environment: childEnvironment(["TMPDIR": scratch.path]), in: scratch, name: "server")
        defer { server.stop() }
        try await waitForFile(socketPath)
        let client = TestClient(socket: try await connectUnix(socketPath))
        let answer = try await client.call("initialize", ["capabilities": [:], "initializationOptions": ["memory": "64m", "pidsLimit": 64]])
        #expect(answer.at("result.capabilities") != nil, "\(answer.jsonText)")
        client.notify("initialized", [:])
        let uri = "file://" + context + "/Dockerfile"
        let text = try String(contentsOfFile: context + "/Dockerfile", encoding: .utf8)
        client.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "dockerfile", "version": 1, "text": .string(text)]])
        let result = try await client.call("workspace/executeCommand", ["command": "idpbuild.build", "arguments": [["uri": .string(uri)]]],
                                           timeout: 120)
        #expect(result.at("result.success") == false, "\(result.jsonText)")
        #expect(result.at("result.error")?.stringValue?.contains("(line 4) ran out of memory") == true, "\(result.jsonText)")
        let published = try await client.notification("textDocument/publishDiagnostics") {
            $0.at("params.diagnostics")?.arrayValue?.contains { $0["source"] == "idpbuild build" } == true
        }
        let diagnostic = try #require(published.at("params.diagnostics")?.arrayValue?.first { $0["source"] == "idpbuild build" })
        #expect(diagnostic.at("range.start.line") == 3)
        #expect(diagnostic["message"]?.stringValue?.contains("--memory limit of 64 MiB") == true, "\(diagnostic.jsonText)")
        try await client.finish()
        #expect(Self.leftoverGroups().filter { $0.contains("idpbuild-build-\(server.pid)-") }.isEmpty)
    }

    @Test func aLimitTheKernelRefusesFailsTheBuildNamingTheLimit() async throws {
        let scratch = try Scratch("refused")
        let context = try Self.greedyContext(in: scratch)
        let builder = Builder(config: BuilderConfig(storeRoot: scratch.file("store"), workerExecutable: idpbuild, useKubernetes: false,
                                                    limits: ResourceLimits(cpus: 0.001), environment: [:]))
        // Below the kernel's 1 ms quota: the command line refuses it, the kernel does too when it gets that far.
        let response = await builder.build(BuildRequest(dockerfilePath: context + "/Dockerfile", contextDir: context, imageName: "refused"), push: false)
        #expect(!response.success)
        #expect(response.error?.contains("the kernel refused the limit --cpus 0") == true, "\(response.error ?? "")")
    }

    @Test func theCommandLineRefusesMalformedLimits() async throws {
        let scratch = try Scratch("badlimits")
        for (flag, value, message) in [("--memory", "lots", "--memory lots: expected a size such as 512m"),
                                       ("--cpus", "0", "--cpus 0: must be at least 0.01"),
                                       ("--pids-limit", "0", "--pids-limit 0: expected a whole number")] {
            let build = try Child([idpbuild, "build", "--no-push", flag, value, scratch.path], environment: childEnvironment(), in: scratch, name: "build" + flag)
            #expect(try await build.exitStatus() == 2)
            #expect(build.standardError.contains(message), "\(build.standardError)")
        }
    }
}

/// Limits that cannot be enforced: the build runs without them and says so once.
@Suite struct LimitMechanismTests {
    @Test func withoutAnyMechanismTheBuildIsToldOnce() throws {
        let nothing = CgroupLayout.parse(mountinfo: "", cgroup: "")
        let (group, notice) = try BuildLimits.localGroup(for: ResourceLimits(memoryBytes: 64 << 20), name: "unused", layout: nothing)
        #expect(group == nil)
        #expect(notice?.hasPrefix("the build runs without the limits asked for (memory 64 MiB): no systemd") == true)
        #expect(try BuildLimits.makeGroup(for: ResourceLimits(), name: "unused", description: "").group == nil)
        if geteuid() == 0 {
            #expect(notice?.contains("the memory controller is in no cgroup hierarchy") == true)
            if case .unavailable(let reason) = BuildLimits.mechanism() {
                Issue.record("as root with cgroups mounted, limits should have a mechanism: \(reason)")
            }
        } else {
            #expect(notice?.contains("idpbuild is not root") == true)
        }
    }
}

/// Collects build events from any thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [BuildEvent] = []
    var handler: BuildEventHandler { { [self] event in lock.withLock { items.append(event) } } }
    var all: [BuildEvent] { lock.withLock { items } }
}
