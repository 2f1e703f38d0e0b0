import BuildTestSupport
import Foundation
import JSONRPC
import LSPTestSupport
import SandboxTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One shared server, two editors, one build queue: a real `idpbuild lsp --listen` building against a local registry
/// (Debian's docker-registry with a busybox base), its RUN a real process in the sandbox.
@Suite(.serialized) struct SharedBuildTests {
    /// `sleep 293`: a number no other suite uses, so the process check sees only this suite's RUN.
    static let dockerfile = "FROM alpine:3.19\nRUN echo started-shared && sleep 293\n"

    static func running() -> Bool { !hostProcesses(containing: "sleep 293").isEmpty }

    static func serverStatus(_ client: TestClient) async throws -> JSONValue {
        let answer = try await client.call("workspace/executeCommand", ["command": "idpbuild.serverStatus"])
        guard let result = answer["result"] else { throw ServiceTestFailure("serverStatus failed: \(answer)") }
        return result
    }

    static func open(_ client: TestClient, _ uri: String) {
        client.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "dockerfile", "version": 1,
                                                                "text": .string(dockerfile)]])
    }

    @Test func aSecondEditorSeesTheFirstOnesBuildWhichOutlivesItUntilNobodyWatches() async throws {
        let scratch = try Scratch("shared-build")
        let base = try await BaseImageRegistry(directory: scratch.file("registry"))
        defer { base.stop() }
        let folder = scratch.file("app")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(Self.dockerfile.utf8).write(to: URL(fileURLWithPath: folder + "/Dockerfile"))
        let uri = "file://" + folder + "/Dockerfile"
        let socketPath = scratch.file("lsp.sock")
        let server = try Child([idpbuild, "lsp", "--listen", "unix:" + socketPath, "--log", "stderr", "--log-level", "debug",
                                "--registry", base.host, "--insecure-registry", base.host, "--registries-conf", base.registriesConf,
                                "--root", scratch.file("store"), "--no-kubernetes"],
                               environment: childEnvironment(["TMPDIR": scratch.path]), in: scratch, name: "server")
        defer { server.stop() }
        try await waitForFile(socketPath)

        // The first editor starts a build; it runs until the RUN sleeps.
        let first = TestClient(socket: try await connectUnix(socketPath))
        try await first.start(as: "editor-one")
        Self.open(first, uri)
        let build = first.request("workspace/executeCommand", ["command": "idpbuild.build", "arguments": [["uri": .string(uri)]]])
        try await TestSupport.waitUntil(timeout: 60, what: "the RUN to start (\(server.standardError))") { Self.running() }

        // A second editor sees it: in the server's status and in its code lens for the same file.
        let second = TestClient(socket: try await connectUnix(socketPath))
        try await second.start(as: "editor-two")
        Self.open(second, uri)
        let status = try await Self.serverStatus(second)
        #expect(status.at("builds.0.dockerfilePath") == .string(folder + "/Dockerfile"), "\(status.jsonText)")
        #expect(status.at("builds.0.reference") == .string("\(base.host)/giteaadmin/app:latest"))
        #expect(status.at("builds.0.step") == 2)
        let lenses = try await second.call("textDocument/codeLens", ["textDocument": ["uri": .string(uri)]])
        #expect(lenses.at("result.0.command.title") == "Building… step 2/2 — cancel", "\(lenses.jsonText)")
        // The same file from the second editor: refused while the first one's build runs.
        let again = try await second.call("workspace/executeCommand", ["command": "idpbuild.build", "arguments": [["uri": .string(uri)]]])
        #expect(again.at("error.code") == .integer(ErrorCode.requestFailed), "\(again.jsonText)")

        // The first editor vanishes mid-build: the second has the file open, so the build goes on, and the first
        // session ends at once (its request answered, its session gone from the status).
        first.closeInput()
        try await TestSupport.waitUntil(timeout: 10, what: "the first session to end") {
            (try? await Self.serverStatus(second).at("sessions")?.arrayValue?.count) == 1
        }
        #expect(Self.running(), "the build was cancelled although another session watches it")
        #expect(try await Self.serverStatus(second).at("builds.0.dockerfilePath") == .string(folder + "/Dockerfile"))
        #expect(server.standardError.contains("the build of \(folder)/Dockerfile goes on: another session has the Dockerfile open"))
        let answered = try await first.response(to: build, timeout: 5)
        #expect(answered.at("result.success") == false)
        #expect(answered.at("result.error")?.stringValue?.hasPrefix("this session ended; the build goes on") == true, "\(answered.jsonText)")

        // Now nobody else watches: the second editor leaving cancels the build, and nothing of it is left.
        second.notify("textDocument/didClose", ["textDocument": ["uri": .string(uri)]])
        second.closeInput()
        try await TestSupport.waitUntil(timeout: 10, what: "the RUN to be killed") { !Self.running() }
        #expect(server.standardError.contains("cancelled 1 running build of this session"))

        // The server is still there for the next editor, with nothing running.
        let third = TestClient(socket: try await connectUnix(socketPath))
        try await third.start(as: "editor-three")
        try await TestSupport.waitUntil(timeout: 10, what: "the cancelled build to end") {
            (try? await Self.serverStatus(third).at("builds")?.arrayValue?.isEmpty) == true
        }
        try await third.finish()
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0, "\(server.standardError)")
    }
}
