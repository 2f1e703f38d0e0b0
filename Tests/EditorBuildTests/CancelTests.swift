import Foundation
import JSONRPC
import LSPTestSupport
import SandboxTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Cancelling from every path the editor has, shutting down and disconnecting mid-build, a crashing worker, and the
/// server's other work while a build runs.
@Suite(.serialized) struct CancelTests {
    /// A Dockerfile whose RUN prints a marker and then sleeps (`sleep 297`: a number no other suite uses, so the
    /// process check below sees only this build's).
    static func longBuild(_ session: BuildSession, _ name: String) throws -> String {
        let folder = try session.context(name, dockerfile: "FROM alpine:3.19\nRUN echo started-\(name) && sleep 297\n")
        return try session.open(folder + "/Dockerfile")
    }

    static func expectNothingLeft(_ session: BuildSession, store: Bool = true) async throws {
        try await waitUntil("the RUN's processes to go", timeout: 5) { hostProcesses(containing: "sleep 297").isEmpty }
        try await waitUntil("no leftovers (\(session.leftovers(store: store)))", timeout: 5) { session.leftovers(store: store).isEmpty }
    }

    @Test func cancelFromProgressFromCancelRequestAndFromTheCommandStopsTheWorkerWithinTwoSeconds() async throws {
        try await withSession("cancel") { session in
            try await session.initialize()
            for path in ["progress", "request", "command"] {
                let uri = try Self.longBuild(session, path)
                let token = JSONValue.string("cancel-\(path)")
                let id = session.execute("idpbuild.buildAndPush", [["uri": .string(uri)]], token: token)
                try await session.waitForOutput("started-\(path)")
                try await waitUntil("the RUN's sleep to start", timeout: 10) { !hostProcesses(containing: "sleep 297").isEmpty }
                let started = Date()
                switch path {
                case "progress": session.client.notify("window/workDoneProgress/cancel", ["token": token])
                case "request": session.client.notify("$/cancelRequest", ["id": .integer(id)])
                default: #expect(try await session.call("idpbuild.cancelBuild", [.string(uri)]).at("result.cancelled") == 1)
                }
                let response = try await session.client.response(to: id, timeout: 10)
                let elapsed = Date().timeIntervalSince(started)
                #expect(elapsed < 2.5, "\(path): answered after \(elapsed) s")
                #expect(response.at("result.success") == false, "\(path): \(response.jsonText)")
                #expect(response.at("result.error") == "the build was cancelled; nothing was pushed")
                #expect(session.progress(token).last?["message"]?.stringValue?.hasPrefix("cancelled") == true)
                try await Self.expectNothingLeft(session)
            }
            // cancelBuild without an argument cancels every build, and a cancel leaves the last result's diagnostics.
            let first = try Self.longBuild(session, "all-1")
            let second = try Self.longBuild(session, "all-2")
            let a = session.execute("idpbuild.build", [["uri": .string(first)]])
            let b = session.execute("idpbuild.build", [["uri": .string(second)]])
            try await session.waitForOutput("started-all-1")
            try await session.waitForOutput("started-all-2")
            #expect(try await session.call("idpbuild.cancelBuild").at("result.cancelled") == 2)
            #expect(try await session.client.response(to: a, timeout: 10).at("result.success") == false)
            #expect(try await session.client.response(to: b, timeout: 10).at("result.success") == false)
            try await Self.expectNothingLeft(session)
            #expect(try await session.finish() == 0)
        }
    }

    @Test func oneBuildPerDockerfileWhileOtherFilesBuildSideBySide() async throws {
        try await withSession("one-per-file") { session in
            try await session.initialize(capabilities: ["window": ["workDoneProgress": true], "workspace": ["codeLens": ["refreshSupport": true]]])
            let uri = try Self.longBuild(session, "long")
            let running = session.execute("idpbuild.build", [["uri": .string(uri)]], token: "long")
            try await session.waitForOutput("started-long")
            // The same file again: refused with RequestFailed, naming the file and how to cancel.
            let again = try await session.call("idpbuild.buildAndPush", [["uri": .string(uri)]])
            #expect(again.at("error.code") == .integer(ErrorCode.requestFailed))
            #expect(again.at("error.message")?.stringValue?.hasPrefix("a build of \(session.folder)/long/Dockerfile (\(session.base.host)/giteaadmin/long:latest) is already running") == true,
                    "\(again.jsonText)")
            #expect(again.at("error.data.uri") == .string(uri))
            // The lens shows the running build's step and cancels it; the client was asked to refresh its lenses.
            let lenses = try await session.client.call("textDocument/codeLens", ["textDocument": ["uri": .string(uri)]])
            #expect(lenses.at("result.0.command.title") == "Building… step 2/2 — cancel", "\(lenses.jsonText)")
            #expect(lenses.at("result.0.command.command") == "idpbuild.cancelBuild")
            #expect(lenses.at("result.0.command.arguments") == [.string(uri)])
            let actions = try await session.client.call("textDocument/codeAction", ["textDocument": ["uri": .string(uri)],
                "range": range(0, 0, 0, 0), "context": ["diagnostics": [], "only": ["source"]]])
            #expect(actions.at("result.0.kind") == "source.idpbuild.cancelBuild")
            let refresh = try await session.client.waitFor("workspace/codeLens/refresh") { $0["method"] == "workspace/codeLens/refresh" }
            #expect(refresh["params"] == nil)
            session.client.send(["jsonrpc": "2.0", "id": refresh["id"]!, "result": nil])
            // Another file builds meanwhile.
            let seed = try session.copyFixture("seed", as: "seed")
            let other = try session.open(seed + "/Dockerfile")
            let side = try await session.call("idpbuild.build", [["uri": .string(other)]], token: "side")
            #expect(side.at("result.success") == true, "\(side.jsonText)")
            #expect(try await session.call("idpbuild.cancelBuild", [.string(uri)]).at("result.cancelled") == 1)
            #expect(try await session.client.response(to: running, timeout: 10).at("result.success") == false)
            try await Self.expectNothingLeft(session)
            #expect(try await session.finish() == 0)
        }
    }

    @Test func shutdownDuringABuildCancelsItAndAnswers() async throws {
        try await withSession("shutdown") { session in
            try await session.initialize()
            let uri = try Self.longBuild(session, "shutdown")
            let id = session.execute("idpbuild.buildAndPush", [["uri": .string(uri)]], token: "s")
            try await session.waitForOutput("started-shutdown")
            let started = Date()
            let shutdown = session.client.request("shutdown")
            // The build's answer comes first (shutdown waits for the requests before it), within the 2 s budget.
            let response = try await session.client.response(to: id, timeout: 10)
            #expect(response.at("result.error") == "the build was cancelled; nothing was pushed")
            #expect(try await session.client.response(to: shutdown, timeout: 10)["result"] == .null)
            #expect(Date().timeIntervalSince(started) < 3)
            session.client.notify("exit")
            #expect(await session.run.value == 0)
            try await Self.expectNothingLeft(session)
        }
    }

    @Test func aClientThatDisconnectsMidBuildHasItsBuildCancelled() async throws {
        try await withSession("disconnect") { session in
            try await session.initialize()
            let uri = try Self.longBuild(session, "disconnect")
            _ = session.execute("idpbuild.buildAndPush", [["uri": .string(uri)]])
            try await session.waitForOutput("started-disconnect")
            let started = Date()
            session.client.closeInput()
            // The server ends (status 1: no shutdown) once the cancelled build has answered into the void.
            #expect(await session.run.value == 1)
            #expect(Date().timeIntervalSince(started) < 3)
            try await Self.expectNothingLeft(session)
        }
    }

    @Test func theServerAnswersWhileABuildRunsAndSurvivesAWorkerCrash() async throws {
        try await withSession("crash") { session in
            try await session.initialize()
            let uri = try Self.longBuild(session, "crash")
            let id = session.execute("idpbuild.buildAndPush", [["uri": .string(uri)]])
            try await session.waitForOutput("started-crash")
            // Requests and diagnostics keep coming while the build runs.
            let started = Date()
            let hover = try await session.client.call("textDocument/hover", ["textDocument": ["uri": .string(uri)], "position": ["line": 1, "character": 1]])
            #expect(hover.at("result.contents.value")?.stringValue?.contains("RUN") == true)
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 2],
                                                            "contentChanges": [["range": range(2, 0, 2, 0), "text": "RUNN x\n"]]])
            let diagnostics = try await session.diagnostics(uri, version: 2)
            #expect(diagnostics.contains { $0["code"] == "UnknownInstruction" })
            #expect(Date().timeIntervalSince(started) < 1, "answers took \(Date().timeIntervalSince(started)) s during a build")
            // The worker dies (SIGKILL to the real worker process, as the kernel's OOM killer would): a failed result,
            // never a dead server.
            let workers = hostProcesses(containing: session.folder + "/idpbuild build-worker")
            #expect(workers.count == 1)
            for pid in workers { kill(pid, SIGKILL) }
            let response = try await session.client.response(to: id, timeout: 10)
            #expect(response.at("result.success") == false)
            #expect(response.at("result.error")?.stringValue?.contains("the build worker failed") == true, "\(response.jsonText)")
            let after = try await session.client.call("textDocument/completion", ["textDocument": ["uri": .string(uri)], "position": ["line": 2, "character": 2]])
            #expect(after["result"] != nil)
            try await Self.expectNothingLeft(session, store: false)
            #expect(try await session.finish() == 0)
        }
    }
}
