import BuildTestSupport
import Foundation
import JSONRPC
import SandboxTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// editors/script/idpbuild_build.py, the standard-library client for scripts and CI jobs, against the built
/// `idpbuild lsp` and Debian's docker-registry: exit 0 with `REFERENCE DIGEST`, 1 for a failed or cancelled build,
/// 2 for bad arguments.
@Suite(.serialized) struct ScriptClientTests {
    static let script = EditorTests.repository.appendingPathComponent("editors/script/idpbuild_build.py").path

    @Test func theScriptBuildsAndPushesFailsAndCancelsWithItsExitStatus() async throws {
        let folder = try TemporaryDirectory("script-client")
        defer { EditorTests.removeFolder(folder.url) }
        chmod(folder.path, 0o755)
        let base = try await BaseImageRegistry(directory: folder.path)
        defer { base.stop() }
        let server = [try EditorTests.linkedBinary(in: folder.url), "lsp", "--registries-conf", base.registriesConf,
                      "--root", folder.file("store"), "--no-kubernetes"].joined(separator: " ")
        let seed = folder.file("seed")
        try TestSupport.check(["cp", "-R", TestSupport.fixtures.appendingPathComponent("seed").path, seed])
        let common = ["python3", Self.script, "--server", server, "--registry", base.host, "--insecure-registry", base.host]

        let pushed = try TestSupport.run(common + [seed + "/Dockerfile"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let reference = "\(base.host)/giteaadmin/seed:latest"
        let words = pushed.stdout.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(words.first == reference)
        #expect(words.last?.hasPrefix("sha256:") == true)
        let raw = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(reference)"])
        #expect(OCIDigest.of(raw) == words.last)
        #expect(pushed.stderr.contains("[done] pushed \(reference)@"))
        #expect(pushed.stderr.contains("  | #3 [stage-0] RUN chmod +x /app"))

        let json = try TestSupport.run(common + ["--json", "--no-push", "--tag", "v2", "--quiet", seed + "/Dockerfile"])
        #expect(json.status == 0, "\(json.stderr)")
        let result = try JSONDecoder().decode(JSONValue.self, from: Data(json.stdout.utf8))
        #expect(result["fullTag"] == .string("\(base.host)/giteaadmin/seed:v2") && result["stepsCached"] == 2)
        #expect(json.stderr.isEmpty, "\(json.stderr)")

        let failing = try folder.write("failing/Dockerfile", "FROM alpine:3.19\nRUN echo before failing && exit 3\n")
        let failed = try TestSupport.run(common + [failing])
        #expect(failed.status == 1)
        #expect(failed.stdout.isEmpty)
        #expect(failed.stderr.contains("failed with exit code 3"), "\(failed.stderr)")

        let broken = try folder.write("broken/Dockerfile", "FROM alpine:3.19\nRUNN x\n")
        let refused = try TestSupport.run(common + [broken])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("Dockerfile:2:1: error: unknown instruction: RUNN"), "\(refused.stderr)")
        #expect(try TestSupport.run(common + [folder.file("none/Dockerfile")]).status == 2)
        #expect(try TestSupport.run(common + ["--name", "Bad Name", seed + "/Dockerfile"]).status == 2)

        // Ctrl-C: the build is cancelled through the server, and the script exits 1 with nothing left running.
        let long = try folder.write("long/Dockerfile", "FROM alpine:3.19\nRUN echo started-script && sleep 295\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = common + [long]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let collected = LockedText()
        let reader = Thread { collected.append(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        try await TestSupport.waitUntil(timeout: 60, what: "the RUN to start") { !hostProcesses(containing: "sleep 295").isEmpty }
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(!process.isRunning)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        try await TestSupport.waitUntil(timeout: 5, what: "the RUN to go") { hostProcesses(containing: "sleep 295").isEmpty }
        try await TestSupport.waitUntil(timeout: 5, what: "the script's output") { collected.text.contains("cancelled") }
        #expect(collected.text.contains("the build was cancelled; nothing was pushed"), "\(collected.text)")
    }
}

/// Text appended from another thread.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.withLock { data.append(more) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
