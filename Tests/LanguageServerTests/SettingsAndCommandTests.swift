import Foundation
import JSONRPC
import LanguageServer
import LSPTestSupport
import LSPTypes
import Testing

@Suite struct SettingsTests {
    @Test func initializationOptionsApplyAndProblemsAreShown() async throws {
        let harness = Harness()
        try await harness.initialize(options: ["ignoredChecks": ["JSONArgsRecommended"], "registry": "https://example.com",
                                               "namespace": "Team", "colour": "red", "buildArg": [:]])
        let shown = try await harness.client.notification("window/showMessage")
        let message = shown.at("params.message")?.stringValue ?? ""
        #expect(shown.at("params.type") == 2)
        #expect(message.contains("registry must be a host[:port] such as gitea.cnoe.localtest.me:8443, not \"https://example.com\""))
        #expect(message.contains("namespace must be a lowercase repository path component"))
        #expect(message.contains("unknown setting \"colour\""))
        #expect(message.contains("unknown setting \"buildArg\" (did you mean buildArgs?)"))
        harness.open("FROM alpine\nCMD echo hi\n")
        #expect(try await harness.diagnostics(version: 1).isEmpty)
        // A push for this server replaces the client settings and re-checks open documents.
        harness.client.notify("workspace/didChangeConfiguration", ["settings": ["idpbuild": ["ignoredChecks": [], "caFile": "/nonexistent/ca.pem"]]])
        let warning = try await harness.client.notification("window/showMessage")
        #expect(warning.at("params.message")?.stringValue?.contains("caFile /nonexistent/ca.pem is not a readable file") == true)
        #expect(try await harness.diagnostics(version: 1).codes == ["JSONArgsRecommended"])
        // Another tool's section is not for us: nothing changes, nothing is reported.
        harness.client.notify("workspace/didChangeConfiguration", ["settings": ["pylsp": ["x": 1]]])
        #expect(try await harness.finish() == 0)
        #expect(!harness.client.transcript.contains { $0.at("params.message")?.stringValue?.contains("pylsp") == true })
    }

    @Test func settingsArePulledWhenTheClientAnswersConfiguration() async throws {
        let harness = Harness()
        var capabilities = Harness.modernClient.objectValue!
        capabilities["workspace"] = ["configuration": true]
        try await harness.initialize(capabilities: .object(capabilities))
        let request = try await harness.client.waitFor("workspace/configuration") { $0["method"] == "workspace/configuration" }
        #expect(request.at("params.items.0.section") == "idpbuild")
        harness.client.send(["jsonrpc": "2.0", "id": request["id"]!, "result": [["buildArgs": ["TAG": "9", "N": 1], "namespace": "team-a"]]])
        harness.open("ARG TAG=1\nFROM alpine:${TAG}\n")
        let value = { () async throws -> String? in
            try await harness.request("textDocument/hover", ["position": position(1, 5)]).at("contents.value")?.stringValue
        }
        try await waitUntilAsync("the pulled build argument to apply") { try await value() == "Base image `alpine:9` (expanded from `alpine:${TAG}`)" }
        // A notification without settings makes the server ask again.
        harness.client.notify("workspace/didChangeConfiguration", ["settings": nil])
        let again = try await harness.client.waitFor("workspace/configuration") { $0["method"] == "workspace/configuration" }
        harness.client.send(["jsonrpc": "2.0", "id": again["id"]!, "result": [nil]])
        try await waitUntilAsync("the defaults to return") { try await value() == "Base image `alpine:1` (expanded from `alpine:${TAG}`)" }
        #expect(try await harness.finish() == 0)
    }

    @Test func settingsValuesAreValidated() {
        var settings = ServerSettings()
        #expect(settings.registry == "gitea.cnoe.localtest.me:8443" && settings.namespace == "giteaadmin")
        let (applied, problems) = settings.applying(["registry": "127.0.0.1:5000", "insecureRegistries": ["127.0.0.1:5000", "[::1]:5000"],
                                                     "caFile": "", "buildArgs": ["A": "x", "B": true, "C": [1]], "ignoredChecks": "all"])
        settings = applied
        #expect(settings.registry == "127.0.0.1:5000")
        #expect(settings.insecureRegistries == ["127.0.0.1:5000", "[::1]:5000"])
        #expect(settings.caFile == nil)
        #expect(settings.buildArgs == ["A": "x", "B": "true"])
        #expect(problems == ["buildArgs values must be strings; ignoring C",
                             "ignoredChecks must be a list of check codes such as [\"JSONArgsRecommended\"], not \"all\""])
        #expect(settings.applying(.string("x")).problems == ["settings must be an object, not a string; keeping the current settings"])
        #expect(settings.applying(["registry": "host:99999"]).problems.count == 1)
        #expect(settings.applying(["insecureRegistries": [1]]).problems.count == 1)
        #expect(settings.json["registry"] == "127.0.0.1:5000")
    }

    @Test func buildLimitsAreSettingsLikeTheCommandLineFlags() {
        let (limited, problems) = ServerSettings().applying(["idpbuild": ["memory": "512m", "cpus": .double(1.5), "pidsLimit": 200]])
        #expect(problems.isEmpty)
        #expect(limited.limits.memoryBytes == 512 << 20 && limited.limits.cpus == 1.5 && limited.limits.pids == 200)
        #expect(limited.json["memory"] == JSONValue.integer(512 << 20) && limited.json["cpus"] == JSONValue.double(1.5) && limited.json["pidsLimit"] == 200)
        #expect(limited.applying(["memory": 67_108_864, "cpus": 2, "pidsLimit": nil]).settings.limits.memoryBytes == 64 << 20)
        #expect(limited.applying(["cpus": "0.5"]).settings.limits.cpus == 0.5)
        let (kept, refused) = limited.applying(["memory": "1k", "cpus": 0, "pidsLimit": "many"])
        #expect(kept.limits == limited.limits)
        #expect(refused == [
            "cpus must be a number of CPUs from 0.01, such as 1.5, not 0; keeping 1.5",
            "memory must be a size such as \"512m\" or \"2g\" (or bytes), of at least 6m, not \"1k\"; keeping 512 MiB",
            "pidsLimit must be a whole number of processes of at least 1, not \"many\"; keeping 200",
        ])
        #expect(ServerSettings().applying(["memory": true]).problems.first?.contains("keeping no limit") == true)
        #expect(ServerSettings().json["memory"] == JSONValue.null)
    }
}

/// Commands that exercise the routing, progress and server-to-client plumbing the build commands will use.
private struct ArgumentCommand: ServerCommand {
    struct Arguments: Decodable { var name: String }
    let name = "test.arguments"
    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        .string(try context.argument(arguments, 0, as: Arguments.self).name)
    }
}

private struct ProgressCommand: ServerCommand {
    let name = "test.progress"
    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let reporter = await context.beginProgress(title: "Testing", cancellable: false, message: "starting")
        for step in 1...10 {
            await reporter.report(message: "step \(step)/10", percentage: step * 10)
            try await Task.sleep(nanoseconds: 30_000_000)
        }
        await reporter.end(message: "done")
        return ["steps": 10]
    }
}

private struct WaitCommand: ServerCommand {
    let name = "test.wait"
    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let reporter = await context.beginProgress(title: "Waiting", cancellable: true)
        do {
            while true { try await Task.sleep(nanoseconds: 5_000_000) }
        } catch {
            await reporter.end(message: "cancelled")
            throw error
        }
    }
}

private struct EditCommand: ServerCommand {
    let name = "test.edit"
    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let uri = try context.argument(arguments, 0, as: String.self)
        guard let document = await context.document(uri) else { return ["open": false] }
        let insert = TextEdit(range: LSPRange(start: Position(line: 0, character: 0), end: Position(line: 0, character: 0)),
                              newText: "# version \(document.version)\n")
        let result = try await context.client.send(ApplyWorkspaceEditRequest(label: "test", edit: WorkspaceEdit(changes: [uri: [insert]])))
        return ["applied": .bool(result.applied), "registry": .string(context.settings.registry)]
    }
}

@Suite struct CommandTests {
    private let commands: [any ServerCommand] = [ArgumentCommand(), ProgressCommand(), WaitCommand(), EditCommand()]

    @Test func commandsAreListedAndArgumentsChecked() async throws {
        let harness = Harness(commands: commands)
        let result = try await harness.initialize()
        #expect(result.at("capabilities.executeCommandProvider.commands") == ["idpbuild.build", "idpbuild.buildAndPush", "idpbuild.cancelBuild",
                                                                              "test.arguments", "test.edit", "test.progress", "test.wait"])
        let unknown = try await harness.client.call("workspace/executeCommand", ["command": "idpbuild.nothing"])
        #expect(unknown.at("error.code") == .integer(ErrorCode.invalidParams))
        #expect(unknown.at("error.message")?.stringValue?.contains("available: idpbuild.build, idpbuild.buildAndPush, idpbuild.cancelBuild, test.arguments, test.edit") == true)
        let good = try await harness.client.call("workspace/executeCommand", ["command": "test.arguments", "arguments": [["name": "x"]]])
        #expect(good["result"] == "x")
        let wrong = try await harness.client.call("workspace/executeCommand", ["command": "test.arguments", "arguments": [["name": 5]]])
        #expect(wrong.at("error.message") == "test.arguments: arguments[0].name: expected a string")
        let missing = try await harness.client.call("workspace/executeCommand", ["command": "test.arguments"])
        #expect(missing.at("error.message") == "test.arguments: argument 1 is missing")
        #expect(try await harness.finish() == 0)
    }

    @Test func progressUsesACreatedTokenAndIsRateLimited() async throws {
        let harness = Harness(commands: commands)
        try await harness.initialize(capabilities: ["window": ["workDoneProgress": true]])
        let id = harness.client.request("workspace/executeCommand", ["command": "test.progress"])
        let create = try await harness.client.waitFor("window/workDoneProgress/create") { $0["method"] == "window/workDoneProgress/create" }
        let token = create.at("params.token")!
        harness.client.send(["jsonrpc": "2.0", "id": create["id"]!, "result": nil])
        let response = try await harness.client.response(to: id)
        #expect(response.at("result.steps") == 10)
        let progress = harness.client.transcript.filter { $0["method"] == "$/progress" && $0.at("params.token") == token }
        let kinds = progress.compactMap { $0.at("params.value.kind")?.stringValue }
        #expect(kinds.first == "begin" && kinds.last == "end")
        #expect(progress.first?.at("params.value.title") == "Testing")
        #expect(progress.first?.at("params.value.cancellable") == false)
        #expect(progress.last?.at("params.value.message") == "done")
        let percentages = progress.compactMap { $0.at("params.value.percentage")?.intValue }
        #expect(percentages == percentages.sorted())
        // Ten steps 30 ms apart, at most one report per 100 ms.
        #expect(kinds.filter { $0 == "report" }.count < 10)
        #expect(kinds.filter { $0 == "report" }.count >= 1)
        #expect(try await harness.finish() == 0)
    }

    @Test func theClientsTokenIsUsedAndClientsWithoutProgressStillGetResults() async throws {
        let harness = Harness(commands: commands)
        try await harness.initialize(capabilities: [:])
        let withToken = try await harness.client.call("workspace/executeCommand", ["command": "test.progress", "workDoneToken": "mine"])
        #expect(withToken.at("result.steps") == 10)
        #expect(harness.client.transcript.contains { $0["method"] == "$/progress" && $0.at("params.token") == "mine" })
        let before = harness.client.transcript.filter { $0["method"] == "$/progress" }.count
        #expect(try await harness.client.call("workspace/executeCommand", ["command": "test.progress"]).at("result.steps") == 10)
        #expect(harness.client.transcript.filter { $0["method"] == "$/progress" }.count == before)
        #expect(!harness.client.transcript.contains { $0["method"] == "window/workDoneProgress/create" })
        #expect(try await harness.finish() == 0)
    }

    @Test func aClientThatNeverAcceptsTheProgressTokenGetsTheResultWithoutProgress() async throws {
        let harness = Harness(commands: commands)
        try await harness.initialize(capabilities: ["window": ["workDoneProgress": true]])
        let started = Date()
        let id = harness.client.request("workspace/executeCommand", ["command": "test.progress"])
        _ = try await harness.client.waitFor("window/workDoneProgress/create") { $0["method"] == "window/workDoneProgress/create" }
        // Never answered: after five seconds the command runs without progress (and the request is withdrawn).
        let response = try await harness.client.response(to: id, timeout: 20)
        #expect(response.at("result.steps") == 10)
        #expect(Date().timeIntervalSince(started) >= 5)
        #expect(!harness.client.transcript.contains { $0["method"] == "$/progress" })
        #expect(harness.client.transcript.contains { $0["method"] == "$/cancelRequest" })
        #expect(try await harness.finish() == 0)
        #expect(harness.log.contains { $0.contains("did not answer window/workDoneProgress/create within 5") })
    }

    @Test func cancelFromProgressOrFromTheRequestStopsTheCommand() async throws {
        let harness = Harness(commands: commands)
        try await harness.initialize(capabilities: ["window": ["workDoneProgress": true]])
        let first = harness.client.request("workspace/executeCommand", ["command": "test.wait", "workDoneToken": 42])
        _ = try await harness.client.notification("$/progress") { $0.at("params.value.kind") == "begin" && $0.at("params.token") == 42 }
        harness.client.notify("window/workDoneProgress/cancel", ["token": 42])
        #expect(try await harness.client.response(to: first).at("error.code") == .integer(ErrorCode.requestCancelled))
        #expect(try await harness.client.notification("$/progress") { $0.at("params.token") == 42 && $0.at("params.value.kind") == "end" }
            .at("params.value.message") == "cancelled")
        let second = harness.client.request("workspace/executeCommand", ["command": "test.wait", "workDoneToken": "t2"])
        _ = try await harness.client.notification("$/progress") { $0.at("params.token") == "t2" }
        harness.client.notify("$/cancelRequest", ["id": .integer(second)])
        #expect(try await harness.client.response(to: second).at("error.code") == .integer(ErrorCode.requestCancelled))
        // A finished command's token and an unknown token are ignored.
        harness.client.notify("window/workDoneProgress/cancel", ["token": 42])
        harness.client.notify("window/workDoneProgress/cancel", ["token": "nope"])
        #expect(try await harness.finish() == 0)
        #expect(harness.log.contains { $0.hasSuffix("window/workDoneProgress/cancel for unknown token 42") })
        #expect(harness.log.contains { $0.hasSuffix("window/workDoneProgress/cancel for unknown token \"nope\"") })
    }

    @Test func commandsCanAskTheClientToApplyEdits() async throws {
        let harness = Harness(commands: commands)
        try await harness.initialize(capabilities: ["workspace": ["applyEdit": true]], options: ["registry": "127.0.0.1:5000"])
        harness.open("FROM alpine\n", version: 3)
        let id = harness.client.request("workspace/executeCommand", ["command": "test.edit", "arguments": [.string(Harness.uri)]])
        let apply = try await harness.client.waitFor("workspace/applyEdit") { $0["method"] == "workspace/applyEdit" }
        #expect(apply.at("params.edit.changes.\(Harness.uri).0.newText") == "# version 3\n")
        harness.client.send(["jsonrpc": "2.0", "id": apply["id"]!, "result": ["applied": true]])
        let result = try await harness.client.response(to: id)
        #expect(result["result"] == ["applied": true, "registry": "127.0.0.1:5000"])
        let closed = try await harness.client.call("workspace/executeCommand", ["command": "test.edit", "arguments": ["file:///other"]])
        #expect(closed["result"] == ["open": false])
        #expect(try await harness.finish() == 0)
    }
}

/// Polls an async condition until it holds or `timeout` seconds pass.
func waitUntilAsync(_ what: String, timeout: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !(try await condition()) {
        guard Date() < deadline else { throw TestClientError("timed out after \(timeout) s waiting for \(what)") }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
}
