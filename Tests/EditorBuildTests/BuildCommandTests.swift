import Foundation
import JSONRPC
import LSPTestSupport
import OCI
import SandboxTestSupport
import Testing
import TestSupport

/// `idpbuild.buildAndPush` / `idpbuild.build` through the server, with real builds in the worker and a real registry.
@Suite(.serialized) struct BuildCommandTests {
    @Test func buildAndPushReportsProgressLogsAndTheResultAndTheImageIsInTheRegistry() async throws {
        try await withSession("push") { session in
            try await session.initialize(capabilities: ["window": ["workDoneProgress": true]])
            let seed = try session.copyFixture("seed", as: "seed")
            let uri = try session.open(seed + "/Dockerfile")
            _ = try await session.diagnostics(uri, version: 1)
            let reference = "\(session.base.host)/giteaadmin/seed:latest"

            // No token from the client: the server creates one (the client declared window.workDoneProgress).
            let id = session.execute("idpbuild.buildAndPush", [["uri": .string(uri)]])
            let create = try await session.client.waitFor("window/workDoneProgress/create") { $0["method"] == "window/workDoneProgress/create" }
            let token = try #require(create.at("params.token"))
            session.client.send(["jsonrpc": "2.0", "id": create["id"]!, "result": nil])
            let response = try await session.client.response(to: id, timeout: 120)
            let result = try #require(response["result"], "\(response.jsonText)")
            #expect(result["success"] == true, "\(result.jsonText)")
            #expect(result["fullTag"] == .string(reference))
            #expect(result["stepsRun"] == 2 && result["stepsCached"] == 0)
            #expect(result["imageID"]?.stringValue?.hasPrefix("sha256:") == true)
            #expect(result["durationMs"]?.intValue != nil)
            let digest = try #require(result["digest"]?.stringValue)

            let progress = session.progress(token)
            #expect(JSONValue.kinds(progress).first == "begin" && JSONValue.kinds(progress).last == "end")
            #expect(progress.first?["title"] == .string("Build and push \(reference)"))
            #expect(progress.first?["cancellable"] == true)
            let reports = progress.filter { $0["kind"] == "report" }
            #expect(!reports.isEmpty)
            #expect(reports.allSatisfy { ($0["percentage"]?.intValue ?? -1) >= 0 && ($0["percentage"]?.intValue ?? 101) <= 100 })
            let percentages = reports.compactMap { $0["percentage"]?.intValue }
            #expect(percentages == percentages.sorted())
            #expect(progress.last?["message"]?.stringValue?.hasPrefix("pushed \(reference)@\(digest) (") == true)
            // The output of every step, batched (far fewer messages than lines), then the outcome as a message.
            let log = session.logMessages
            #expect(log.contains("#3 [stage-0] RUN chmod +x /app"))
            #expect(log.contains("#2 [stage-0] COPY app /app"))
            #expect(session.client.transcript.contains { $0["method"] == "window/showMessage" && $0.at("params.type") == 3
                && $0.at("params.message")?.stringValue == "idpbuild: pushed \(reference)@\(digest)" })

            // What the registry holds, as skopeo sees it.
            let raw = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(reference)"])
            #expect(Digest.sha256(of: Array(raw.utf8)).description == digest)
            let config = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--config", "docker://\(reference)"])
            #expect(config.contains("\"/app\""))

            // Again, from the cache, with the client's own token; build only.
            let again = try await session.call("idpbuild.build", [["uri": .string(uri)]], token: "mine")
            #expect(again.at("result.success") == true)
            #expect(again.at("result.stepsCached") == 2 && again.at("result.stepsRun") == 0)
            #expect(session.progress("mine").first?["title"] == .string("Build \(reference)"))
            #expect(session.progress("mine").last?["message"]?.stringValue?.hasPrefix("built \(reference) sha256:") == true)
            #expect(session.leftovers().isEmpty, "\(session.leftovers())")
            #expect(try await session.finish() == 0)
        }
    }

    @Test func theEditorsUnsavedTextIsWhatIsBuiltAndFieldsOverrideTheDefaults() async throws {
        try await withSession("unsaved") { session in
            try await session.initialize(capabilities: [:])
            let seed = try session.copyFixture("seed", as: "My App")
            let onDisk = try String(contentsOfFile: seed + "/Dockerfile", encoding: .utf8)
            let uri = try session.open(seed + "/Dockerfile", text: onDisk.replacingOccurrences(of: "CMD [\"/app\"]", with: "CMD [\"/app\", \"unsaved\"]"))
            // The folder "My App" gives the default name my-app; imageTag and buildArgs come from the argument.
            let response = try await session.call("idpbuild.buildAndPush", [["uri": .string(uri), "imageTag": "v2", "noCache": true]])
            #expect(response.at("result.success") == true, "\(response.jsonText)")
            let reference = "\(session.base.host)/giteaadmin/my-app:v2"
            #expect(response.at("result.fullTag") == .string(reference))
            let config = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--config", "docker://\(reference)"])
            #expect(config.contains("\"unsaved\""))
            // A client without progress support still gets the log and the result, and no progress at all.
            #expect(!session.client.transcript.contains { $0["method"] == "$/progress" || $0["method"] == "window/workDoneProgress/create" })
            #expect(session.logMessages.contains("from the editor's text (version 1)"))

            // A Dockerfile that is not open is built from the file, by path; another name and namespace.
            let closed = try session.copyFixture("seed", as: "closed")
            let byPath = try await session.call("idpbuild.buildAndPush", [["dockerfilePath": .string(closed + "/Dockerfile"),
                                                                            "imageName": "other", "namespace": "team-a"]])
            #expect(byPath.at("result.success") == true, "\(byPath.jsonText)")
            #expect(byPath.at("result.fullTag") == .string("\(session.base.host)/team-a/other:latest"), "\(byPath.jsonText)")
            #expect(session.logMessages.contains("from the file on disk of \(closed)/Dockerfile"))
            // The seed's contract: dockerfilePath is relative to contextDir, not to the server's working directory.
            #expect(FileManager.default.currentDirectoryPath != closed)
            let relative = try await session.call("idpbuild.build", [["dockerfilePath": "Dockerfile", "contextDir": .string(closed),
                                                                       "imageName": "relative"]])
            #expect(relative.at("result.success") == true, "\(relative.jsonText)")
            let other = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--config", "docker://\(session.base.host)/team-a/other:latest"])
            #expect(!other.contains("\"unsaved\""))
            #expect(try await session.finish() == 0)
        }
    }

    @Test func aFailingRunIsAnErrorOnItsInstructionNextToTheChecksUntilItIsEditedOrFixed() async throws {
        try await withSession("failing") { session in
            try await session.initialize()
            let folder = try session.context("failing", dockerfile: "FROM alpine:3.19\nRUN echo first && echo \"to stderr\" >&2\nRUN echo before failing && exit 3\nCMD /bin/sh\n")
            let uri = try session.open(folder + "/Dockerfile")
            let checks = try await session.diagnostics(uri, version: 1)
            #expect(checks.compactMap { $0["code"]?.stringValue } == ["JSONArgsRecommended"])

            let response = try await session.call("idpbuild.build", [["uri": .string(uri)]], token: "t")
            #expect(response.at("result.success") == false)
            #expect(response.at("result.error")?.stringValue?.contains("failed with exit code 3") == true, "\(response.jsonText)")
            #expect(session.progress("t").last?["message"]?.stringValue?.hasPrefix("failed: ") == true)
            #expect(session.client.transcript.contains { $0["method"] == "window/showMessage" && $0.at("params.type") == 1 })
            #expect(session.logMessages.contains("#2 to stderr"))
            // Published with the check's warning, for the same version.
            let both = try await session.diagnostics(uri, version: 1) { $0.count == 2 }
            let build = try #require(both.first { $0["source"] == "idpbuild build" })
            #expect(build["severity"] == 1)
            #expect(build["code"] == "RunFailed")
            #expect(build.at("range.start.line") == 2 && build.at("range.start.character") == 0)
            #expect(build["message"]?.stringValue == "this RUN failed with exit code 3; its last output:\nbefore failing")
            #expect(both.contains { $0["code"] == "JSONArgsRecommended" })

            // A line added above moves it with its instruction; an edit of the instruction clears it.
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 2],
                                                            "contentChanges": [["range": range(0, 0, 0, 0), "text": "# a comment\n"]]])
            let moved = try await session.diagnostics(uri, version: 2)
            #expect(moved.first { $0["source"] == "idpbuild build" }?.at("range.start.line") == 3)
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 3],
                                                            "contentChanges": [["range": range(3, 32, 3, 33), "text": "0"]]])
            let edited = try await session.diagnostics(uri, version: 3)
            #expect(!edited.contains { $0["source"] == "idpbuild build" }, "\(edited)")
            // Undo the edit: the failure is the same instruction again, until a good build.
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 4],
                                                            "contentChanges": [["range": range(3, 32, 3, 33), "text": "3"]]])
            #expect(try await session.diagnostics(uri, version: 4).contains { $0["source"] == "idpbuild build" })
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 5],
                                                            "contentChanges": [["range": range(3, 32, 3, 33), "text": "0"]]])
            _ = try await session.diagnostics(uri, version: 5)
            let fixed = try await session.call("idpbuild.build", [["uri": .string(uri)]])
            #expect(fixed.at("result.success") == true, "\(fixed.jsonText)")
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 6],
                                                            "contentChanges": [["range": range(3, 32, 3, 33), "text": "3"]]])
            #expect(!(try await session.diagnostics(uri, version: 6)).contains { $0["source"] == "idpbuild build" })
            #expect(try await session.finish() == 0)
        }
    }

    @Test func aMissingCopySourceAndAnUnknownBaseImageMarkTheirOwnInstruction() async throws {
        try await withSession("sources") { session in
            try await session.initialize()
            let copy = try session.context("copy", dockerfile: "FROM alpine:3.19\nCOPY missing.txt /x\n")
            let copyURI = try session.open(copy + "/Dockerfile")
            let copied = try await session.call("idpbuild.build", [["uri": .string(copyURI)]])
            #expect(copied.at("result.success") == false)
            let copyDiagnostics = try await session.diagnostics(copyURI, version: 1) { $0.contains { $0["source"] == "idpbuild build" } }
            let copyFailure = try #require(copyDiagnostics.first { $0["source"] == "idpbuild build" })
            #expect(copyFailure.at("range.start.line") == 1)
            #expect(copyFailure["code"] == "BuildStepFailed")
            #expect(copyFailure["message"]?.stringValue?.contains("missing.txt") == true, "\(copyFailure.jsonText)")

            let base = try session.context("base", dockerfile: "FROM alpine:3.19 AS first\nRUN true\nFROM nosuchimage/anywhere:1\nRUN true\n")
            let baseURI = try session.open(base + "/Dockerfile")
            let based = try await session.call("idpbuild.build", [["uri": .string(baseURI)]])
            #expect(based.at("result.success") == false)
            let baseDiagnostics = try await session.diagnostics(baseURI, version: 1) { $0.contains { $0["source"] == "idpbuild build" } }
            let baseFailure = try #require(baseDiagnostics.first { $0["source"] == "idpbuild build" })
            #expect(baseFailure.at("range.start.line") == 2)
            #expect(baseFailure["message"]?.stringValue?.contains("nosuchimage/anywhere") == true, "\(baseFailure.jsonText)")
            #expect(try await session.finish() == 0)
        }
    }

    @Test func badInputIsAnsweredWithClearErrors() async throws {
        try await withSession("bad-input") { session in
            let capabilities = try await session.initialize()
            #expect(capabilities.at("capabilities.executeCommandProvider.commands") == ["idpbuild.build", "idpbuild.buildAndPush", "idpbuild.cancelBuild"])
            let seed = try session.copyFixture("seed", as: "seed")
            let uri = try session.open(seed + "/Dockerfile")

            func error(_ command: String, _ arguments: [JSONValue]?) async throws -> (Int?, String) {
                let response = try await session.call(command, arguments)
                return (response.at("error.code")?.intValue, response.at("error.message")?.stringValue ?? "no error: \(response.jsonText)")
            }
            let unknown = try await error("idpbuild.buildAndPus", [])
            #expect(unknown.0 == ErrorCode.invalidParams && unknown.1.contains("unknown command \"idpbuild.buildAndPus\""))
            #expect(try await error("idpbuild.build", nil) == (ErrorCode.invalidParams,
                "idpbuild.build: argument 1 is missing: give an object such as {\"uri\": \"file:///path/Dockerfile\"} (see protocol/README.md, Commands)"))
            #expect(try await error("idpbuild.build", ["file:///x"]).1 == "idpbuild.build: arguments[0] must be an object such as {\"uri\": \"file:///path/Dockerfile\"}, not a string")
            #expect(try await error("idpbuild.build", [["uri": .string(uri), "imageName": 5]]).1 == "idpbuild.build: arguments[0].imageName: expected a string")
            #expect(try await error("idpbuild.build", [["uri": .string(uri), "noCache": "yes"]]).1 == "idpbuild.build: arguments[0].noCache: expected a Boolean")
            #expect(try await error("idpbuild.build", [["uri": .string(uri), "imagename": "x"]]).1.hasPrefix(
                "idpbuild.build: arguments[0].imagename is not a build field (did you mean imageName?)"))
            #expect(try await error("idpbuild.build", [["imageName": "x"]]).1 == "idpbuild.build: arguments[0] needs uri (the document, file://…) or dockerfilePath")
            #expect(try await error("idpbuild.build", [["uri": "untitled:1"]]).1.contains("is not a file:// URI"))
            #expect(try await error("idpbuild.build", [["dockerfilePath": "Dockerfile"]]).1 ==
                "idpbuild.build: arguments[0].dockerfilePath \"Dockerfile\" is relative to contextDir, which is missing: give contextDir, an absolute dockerfilePath, or uri")
            #expect(try await error("idpbuild.build", [["uri": .string(uri), "imageName": "Bad Name"]]).1.hasPrefix(
                "idpbuild.build: arguments[0].imageName \"Bad Name\" is not a valid repository name"))
            #expect(try await error("idpbuild.build", [["uri": .string(uri), "registry": "https://x/"]]).1.hasPrefix(
                "idpbuild.build: arguments[0].registry must be a host[:port]"))
            #expect(try await error("idpbuild.cancelBuild", [5]).1.hasPrefix("idpbuild.cancelBuild: arguments[0] must be the Dockerfile's URI"))

            // Not malformed, but no build can start: a result that says why, and a message.
            let broken = try session.context("broken", dockerfile: "FROM alpine:3.19\nCOPY --chwon=1 a /a\nRUNN x\n")
            let brokenURI = try session.open(broken + "/Dockerfile")
            let refused = try await session.call("idpbuild.buildAndPush", [["uri": .string(brokenURI)]])
            #expect(refused.at("result.success") == false)
            #expect(refused.at("result.error")?.stringValue?.hasPrefix(
                "Dockerfile has 2 errors that block the build (line 2: unknown flag: --chwon (did you mean --chown?); line 3: unknown instruction: RUNN (did you mean RUN?)); fix them") == true,
                    "\(refused.jsonText)")
            let noContext = try await session.call("idpbuild.build", [["uri": .string(uri), "contextDir": "/nonexistent/context"]])
            #expect(noContext.at("result.error") == "the build context /nonexistent/context does not exist or is not a folder; give an existing contextDir")
            let noFile = try await session.call("idpbuild.build", [["dockerfilePath": .string(session.folder + "/none/Dockerfile")]])
            #expect(noFile.at("result.error")?.stringValue?.contains("there is no such file") == true)
            #expect(session.client.transcript.filter { $0["method"] == "window/showMessage" && $0.at("params.type") == 1 }.count == 3)
            #expect(try await session.call("idpbuild.cancelBuild", [.string(uri)]).at("result.cancelled") == 0)
            #expect(try await session.call("idpbuild.cancelBuild").at("result.cancelled") == 0)
            #expect(try await session.finish() == 0)
        }
    }

    @Test func aRegistryThatRefusesTheCredentialsIsNamedWithTheSourceButNeverTheSecret() async throws {
        let secret = "s3cret-Pa55word-\(UInt32.random(in: 0...UInt32.max))"
        let folder = try TemporaryDirectory("editor-build-auth")
        defer { folder.remove() }
        let guarded = try await DockerRegistry(directory: folder.path, auth: .htpasswd(user: "giteaAdmin", password: "the-right-one"))
        defer { guarded.stop() }
        try await withSession("auth", configure: { config in
            config.username = "giteaAdmin"
            config.password = secret
        }) { session in
            try await session.initialize(options: ["insecureRegistries": [.string(session.base.host), .string(guarded.host)]])
            let seed = try session.copyFixture("seed", as: "seed")
            let uri = try session.open(seed + "/Dockerfile")
            let response = try await session.call("idpbuild.buildAndPush", [["uri": .string(uri), "registry": .string(guarded.host)]], token: "auth")
            #expect(response.at("result.success") == false)
            let error = try #require(response.at("result.error")?.stringValue)
            #expect(error.contains(guarded.host), "\(error)")
            #expect(error.contains("the build request's credentials"), "\(error)")
            #expect(!session.client.transcript.contains { $0.jsonText.contains(secret) })
            #expect(!session.log.contains { $0.contains(secret) })
            #expect(try await session.finish() == 0)
        }
    }
}

func range(_ startLine: Int, _ startCharacter: Int, _ endLine: Int, _ endCharacter: Int) -> JSONValue {
    ["start": ["line": .integer(startLine), "character": .integer(startCharacter)],
     "end": ["line": .integer(endLine), "character": .integer(endCharacter)]]
}
