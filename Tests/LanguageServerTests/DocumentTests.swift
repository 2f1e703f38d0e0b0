import Foundation
import JSONRPC
import LSPTestSupport
import Testing

@Suite struct DocumentTests {
    @Test func diagnosticsFollowOpenChangeAndCloseWithVersions() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open("FROM alpine\nCOPY --chwon=1 a /a\n")
        let opened = try await harness.diagnostics(version: 1)
        #expect(opened.codes == ["UnknownFlag"])
        #expect(opened.first?["range"] == range(1, 5, 1, 12))
        #expect(opened.first?["severity"] == 1)
        #expect(opened.first?["source"] == "idpbuild")
        // Fix the flag with an incremental change; a second change in the same notification adds a new problem.
        harness.change([["range": range(1, 7, 1, 12), "text": "chown"],
                        ["range": range(2, 0, 2, 0), "text": "MAINTAINER me\n"]], version: 2)
        let changed = try await harness.diagnostics(version: 2)
        #expect(changed.codes == ["MaintainerDeprecated"])
        #expect(changed.first?["range"] == range(2, 0, 2, 10))
        #expect(changed.first?.at("codeDescription.href") == "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/")
        // A change without a range replaces the text.
        harness.change([["text": "FROM alpine\n"]], version: 3)
        #expect(try await harness.diagnostics(version: 3).isEmpty)
        harness.client.notify("textDocument/didClose", ["textDocument": ["uri": .string(Harness.uri)]])
        let cleared = try await harness.client.notification("textDocument/publishDiagnostics") { $0.at("params.version") == nil }
        #expect(cleared.at("params.diagnostics") == [])
        #expect(try await harness.finish() == 0)
    }

    @Test func aBurstOfKeystrokesEndsWithTheNewestVersion() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open("FROM alpine\nRUN echo \n")
        _ = try await harness.diagnostics(version: 1)
        // Type "hello" one character per change, then an unknown instruction, all in one write.
        var burst = Data()
        let word = Array("hello")
        for (index, character) in word.enumerated() {
            let message: JSONValue = ["jsonrpc": "2.0", "method": "textDocument/didChange", "params": [
                "textDocument": ["uri": .string(Harness.uri), "version": .integer(index + 2)],
                "contentChanges": [["range": range(1, 9 + index, 1, 9 + index), "text": .string(String(character))]]]]
            burst.append(Framing.frame(try JSONText.encoder().encode(message)))
        }
        let last: JSONValue = ["jsonrpc": "2.0", "method": "textDocument/didChange", "params": [
            "textDocument": ["uri": .string(Harness.uri), "version": 7],
            "contentChanges": [["range": range(2, 0, 2, 0), "text": "RUNN x\n"]]]]
        burst.append(Framing.frame(try JSONText.encoder().encode(last)))
        harness.client.sendRaw(burst)
        let final = try await harness.diagnostics(version: 7)
        #expect(final.codes == ["UnknownInstruction"])
        // Every publication was for an increasing version; none after the newest.
        let versions = harness.client.transcript.filter { $0["method"] == "textDocument/publishDiagnostics" }.compactMap { $0.at("params.version")?.intValue }
        #expect(versions == versions.sorted())
        #expect(versions.count <= 7)
        let hover = try await harness.request("textDocument/hover", ["position": position(1, 10)])
        #expect(hover == .null)  // "hello" is a plain word
        let symbols = try await harness.request("textDocument/documentSymbol", [:])
        #expect(symbols.at("0.children.0.detail") == "echo hello")
        #expect(try await harness.finish() == 0)
    }

    @Test func utf8PositionsWhenTheClientOffersThem() async throws {
        let harness = Harness()
        let result = try await harness.initialize(capabilities: ["general": ["positionEncodings": ["utf-8", "utf-16"]],
                                                                "textDocument": ["documentSymbol": ["hierarchicalDocumentSymbolSupport": true]]])
        #expect(result.at("capabilities.positionEncoding") == "utf-8")
        // "é" is 2 UTF-8 bytes and 1 UTF-16 unit; "😀" is 4 bytes and 2 units.
        harness.open("FROM alpine\nLABEL x=\"é😀\" y=1\nCOPY --chwon=1 a /a\n")
        _ = try await harness.diagnostics(version: 1)
        // Replace "y" (UTF-8 column 17) with "zz".
        harness.change([["range": range(1, 17, 1, 18), "text": "zz"]], version: 2)
        _ = try await harness.diagnostics(version: 2)
        let symbols = try await harness.request("textDocument/documentSymbol", [:])
        let label = symbols.at("0.children.0")
        #expect(label?.at("children.1.name") == "zz")
        #expect(label?.at("children.1.selectionRange") == range(1, 17, 1, 19))
        let flag = try await harness.request("textDocument/hover", ["position": position(2, 6)])
        #expect(flag == .null)  // an unknown flag has no documentation
        #expect(try await harness.finish() == 0)
    }

    @Test func utf16PositionsCountSurrogatePairs() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open("FROM alpine\nLABEL x=\"😀\" y=1\n")
        _ = try await harness.diagnostics(version: 1)
        harness.change([["range": range(1, 13, 1, 14), "text": "w"]], version: 2)
        _ = try await harness.diagnostics(version: 2)
        let symbols = try await harness.request("textDocument/documentSymbol", [:])
        #expect(symbols.at("0.children.0.children.1.name") == "w")
        #expect(symbols.at("0.children.0.children.1.selectionRange") == range(1, 13, 1, 14))
        #expect(try await harness.finish() == 0)
    }

    @Test func aChangeThatCannotApplyIsReported() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open("FROM alpine\n")
        _ = try await harness.diagnostics(version: 1)
        harness.change([["range": range(0, 4, 0, 1), "text": "x"]], version: 2)
        let logged = try await harness.client.notification("window/logMessage")
        #expect(logged.at("params.message")?.stringValue?.contains("could not be applied") == true)
        #expect(logged.at("params.type") == 2)
        #expect(try await harness.finish() == 0)
    }
}
