import Foundation
import JSONRPC
import LanguageServer
import LSPTestSupport
import Testing

@Suite struct LifecycleTests {
    @Test func requestsBeforeInitializeAreRefusedAndNotificationsDropped() async throws {
        let harness = Harness()
        let early = try await harness.client.call("textDocument/hover", ["textDocument": ["uri": "file:///a"], "position": position(0, 0)])
        #expect(early.at("error.code") == .integer(ErrorCode.serverNotInitialized))
        #expect(early.at("error.message")?.stringValue?.contains("send initialize before") == true)
        harness.open("FROM alpine\n")  // dropped: not initialized
        let result = try await harness.initialize()
        #expect(result.at("serverInfo.name") == "idpbuild")
        #expect(result.at("capabilities.positionEncoding") == "utf-16")
        #expect(result.at("capabilities.textDocumentSync.change") == 2)
        #expect(result.at("capabilities.executeCommandProvider.commands") == ["idpbuild.build", "idpbuild.buildAndPush", "idpbuild.cancelBuild"])
        let hover = try await harness.client.call("textDocument/hover", ["textDocument": ["uri": .string(Harness.uri)], "position": position(0, 0)])
        #expect(hover.at("error.code") == .integer(ErrorCode.invalidParams))
        #expect(hover.at("error.message")?.stringValue?.contains("is not open") == true)
        #expect(try await harness.finish() == 0)
    }

    @Test func initializeTwiceAndRequestsAfterShutdownAreInvalid() async throws {
        let harness = Harness()
        try await harness.initialize()
        let again = try await harness.client.call("initialize", ["capabilities": [:]])
        #expect(again.at("error.code") == .integer(ErrorCode.invalidRequest))
        #expect(try await harness.client.call("shutdown")["result"] == .null)
        let late = try await harness.client.call("textDocument/documentSymbol", ["textDocument": ["uri": "file:///a"]])
        #expect(late.at("error.code") == .integer(ErrorCode.invalidRequest))
        #expect(late.at("error.message")?.stringValue?.contains("shutting down") == true)
        harness.client.notify("exit")
        #expect(await harness.run.value == 0)
    }

    @Test func exitWithoutShutdownOrAVanishedClientGivesStatusOne() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.client.notify("exit")
        #expect(await harness.run.value == 1)

        let vanished = Harness()
        try await vanished.initialize()
        vanished.client.sendRaw(Data("Content-Length: 500\r\n\r\n{\"jsonrpc\":\"2.0\",".utf8))
        vanished.client.closeInput()
        #expect(await vanished.run.value == 1)
        #expect(vanished.log.contains { $0.contains("went away in the middle of a message") })
    }

    @Test func badInputGetsTheRightErrorsAndTheServerKeepsWorking() async throws {
        let harness = Harness(maximumMessageSize: 64 * 1024)
        try await harness.initialize()
        harness.client.sendRaw(Data("Content-Lenght: 12\r\n\r\n{\"bad\":true}".utf8))
        #expect(try await harness.client.next().at("error.code") == .integer(ErrorCode.parseError))
        harness.client.sendText("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"textDocument/hover\",\"params\":")
        #expect(try await harness.client.next().at("error.code") == .integer(ErrorCode.parseError))
        let unknown = try await harness.client.call("textDocument/unknownThing", [:])
        #expect(unknown.at("error.code") == .integer(ErrorCode.methodNotFound))
        let wrongTypes = try await harness.client.call("textDocument/hover", ["textDocument": ["uri": 5], "position": position(0, 0)])
        #expect(wrongTypes.at("error.code") == .integer(ErrorCode.invalidParams))
        #expect(wrongTypes.at("error.message") == "params.textDocument.uri: expected a string")
        // A didOpen larger than the limit is skipped with a log line; a large request gets an error with its id.
        harness.open(String(repeating: "# comment line\n", count: 10_000))
        let big = try await harness.client.call("textDocument/hover", ["textDocument": ["uri": .string(String(repeating: "x", count: 100_000))], "position": position(0, 0)])
        #expect(big.at("error.code") == .integer(ErrorCode.invalidRequest))
        #expect(big.at("error.message")?.stringValue?.contains("over the limit of 65536 bytes") == true)
        #expect(harness.log.contains { $0.contains("textDocument/didOpen") && $0.contains("over the limit") })
        // Notifications that fail are logged, never answered.
        harness.client.notify("textDocument/didChange", ["textDocument": ["uri": "file:///nowhere", "version": 2], "contentChanges": []])
        harness.client.notify("textDocument/didOpen", ["textDocument": 7])
        harness.client.notify("custom/unknown", [:])
        let logged = try await harness.client.notification("window/logMessage")
        #expect(logged.at("params.message")?.stringValue?.contains("file:///nowhere is not open") == true)
        #expect(try await harness.finish() == 0)
        #expect(harness.log.contains { $0.contains("ignoring textDocument/didOpen: params.textDocument: expected") })
        #expect(harness.log.contains { $0.contains("ignoring unknown notification custom/unknown") })
    }

    @Test func fiftyMegabyteMessageIsRefusedWithoutStoppingTheServer() async throws {
        let harness = Harness()
        try await harness.initialize()
        let text = String(repeating: "RUN echo 0123456789012345678901234567890123456789\n", count: 1_000_001)
        #expect(text.utf8.count > 50_000_000)
        await Task.detached { harness.open(text) }.value
        try await waitUntil("the oversized message to be logged") {
            harness.log.contains { $0.contains("textDocument/didOpen") && $0.contains("over the limit of 16777216 bytes") }
        }
        harness.open("FROM alpine\n")
        #expect(try await harness.diagnostics(version: 1).isEmpty)
        #expect(try await harness.finish() == 0)
    }
}
