import Foundation
import JSONRPC
import LSPTestSupport
import Testing
import TestSupport

/// Code lenses, source actions and inlay hints against real builds.
@Suite(.serialized) struct LensAndHintTests {
    @Test func lensesAndSourceActionsOfferTheBuildsAndHintsFollowTheCache() async throws {
        try await withSession("lenses") { session in
            let result = try await session.initialize(capabilities: ["workspace": ["inlayHint": ["refreshSupport": true]]])
            #expect(result.at("capabilities.codeLensProvider") == ["resolveProvider": false])
            #expect(result.at("capabilities.inlayHintProvider") == true)
            #expect(result.at("capabilities.codeActionProvider.codeActionKinds") == ["quickfix", "source.fixAll", "source.idpbuild.buildAndPush",
                "source.idpbuild.build", "source.idpbuild.buildStage", "source.idpbuild.cancelBuild"])
            let folder = try session.context("stages", dockerfile: """
                FROM alpine:3.19 AS tools
                RUN echo tools > /tools.txt
                FROM alpine:3.19
                COPY app.txt /app.txt
                COPY --from=tools /tools.txt /tools.txt
                ENV MODE=prod
                CMD ["cat", "/app.txt"]

                """, files: ["app.txt": "hello\n"])
            let uri = try session.open(folder + "/Dockerfile")
            let reference = "\(session.base.host)/giteaadmin/stages:latest"
            let lenses = try await session.client.call("textDocument/codeLens", ["textDocument": ["uri": .string(uri)]])
            let titles = lenses.at("result")?.arrayValue?.compactMap { $0.at("command.title")?.stringValue }
            #expect(titles == ["Build and push → \(reference)", "Build only", "Build stage tools"])
            #expect(lenses.at("result.0.range.start") == ["line": 0, "character": 0])
            #expect(lenses.at("result.0.command.arguments") == [["uri": .string(uri)]])
            #expect(lenses.at("result.2.command.arguments") == [["uri": .string(uri), "target": "tools"]])

            // Source actions: at a line of the first stage, its stage too; "only" filters by kind.
            let actions = try await session.client.call("textDocument/codeAction", ["textDocument": ["uri": .string(uri)],
                "range": range(1, 3, 1, 3), "context": ["diagnostics": []]])
            #expect(actions.at("result")?.arrayValue?.compactMap { $0["title"]?.stringValue } ==
                    ["Build and push → \(reference)", "Build only (\(reference))", "Build stage tools"])
            let quickfixes = try await session.client.call("textDocument/codeAction", ["textDocument": ["uri": .string(uri)],
                "range": range(1, 3, 1, 3), "context": ["diagnostics": [], "only": ["quickfix"]]])
            #expect(quickfixes["result"] == [])
            let atLastStage = try await session.client.call("textDocument/codeAction", ["textDocument": ["uri": .string(uri)],
                "range": range(3, 0, 3, 0), "context": ["diagnostics": [], "only": ["source.idpbuild"]]])
            #expect(atLastStage.at("result")?.arrayValue?.count == 2)

            // Hints before any build: every file-system step will run; config-only instructions get none.
            let before = try await hints(session, uri)
            #expect(before == [0: "will run", 1: "will run", 2: "will run", 3: "will run", 4: "will run"])

            // Build the "tools" stage through its lens: its steps become cached, the rest still will run.
            let lens = try #require(lenses.at("result.2.command"))
            let built = try await session.call(lens["command"]!.stringValue!, lens["arguments"]?.arrayValue)
            #expect(built.at("result.success") == true, "\(built.jsonText)")
            let refresh = try await session.client.waitFor("workspace/inlayHint/refresh") { $0["method"] == "workspace/inlayHint/refresh" }
            session.client.send(["jsonrpc": "2.0", "id": refresh["id"]!, "result": nil])
            #expect(try await hints(session, uri) == [0: "cached", 1: "cached", 2: "cached", 3: "will run", 4: "will run"])

            // The whole image: everything cached.
            #expect(try await session.call("idpbuild.build", [["uri": .string(uri)]]).at("result.success") == true)
            #expect(try await hints(session, uri) == [0: "cached", 1: "cached", 2: "cached", 3: "cached", 4: "cached"])
            // A context file changes: its COPY will run (from the files' metadata, nothing runs).
            try "changed\n".write(toFile: folder + "/app.txt", atomically: true, encoding: .utf8)
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 2],
                                                            "contentChanges": [["range": range(5, 13, 5, 13), "text": "uction"]]])
            _ = try await session.diagnostics(uri, version: 2)
            #expect(try await hints(session, uri) == [0: "cached", 1: "cached", 2: "cached", 3: "will run", 4: "will run"])
            // An edit of a RUN: it and what follows in its stage will run.
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 3],
                                                            "contentChanges": [["range": range(1, 9, 1, 14), "text": "other"]]])
            _ = try await session.diagnostics(uri, version: 3)
            #expect(try await hints(session, uri)[1] == "will run")
            // A document with errors gets no hints (nothing could be built).
            session.client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": 4],
                                                            "contentChanges": [["range": range(1, 0, 1, 3), "text": "RUNN"]]])
            _ = try await session.diagnostics(uri, version: 4)
            #expect(try await hints(session, uri).isEmpty)
            #expect(try await session.finish() == 0)
        }
    }

    /// The inlay hints of the whole document, by line.
    func hints(_ session: BuildSession, _ uri: String) async throws -> [Int: String] {
        let response = try await session.client.call("textDocument/inlayHint", ["textDocument": ["uri": .string(uri)], "range": range(0, 0, 100, 0)])
        var byLine: [Int: String] = [:]
        for hint in response.at("result")?.arrayValue ?? [] {
            guard let line = hint.at("position.line")?.intValue, let label = hint["label"]?.stringValue else { continue }
            #expect(hint["paddingLeft"] == true)
            byLine[line] = label
        }
        return byLine
    }
}
