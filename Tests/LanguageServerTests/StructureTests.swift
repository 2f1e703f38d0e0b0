import Foundation
import JSONRPC
import LSPTestSupport
import Testing

@Suite struct StructureTests {
    static let text = """
    # syntax=docker/dockerfile:1
    ARG BASE=alpine
    # build the tool
    # with make
    FROM ${BASE} AS build
    ENV A=1 B=2
    RUN set -eux; \\
        make
    FROM scratch
    COPY --from=build /out /out
    LABEL org.example=1

    """

    @Test func symbolsNestInstructionsInStages() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open(Self.text)
        let symbols = try await harness.request("textDocument/documentSymbol", [:])
        #expect(symbols.arrayValue?.map { $0["name"]?.stringValue ?? "" } == ["ARG", "build", "stage 1"])
        #expect(symbols.at("0.children.0.name") == "BASE")
        #expect(symbols.at("0.children.0.detail") == "alpine")
        #expect(symbols.at("1.kind") == 2)
        #expect(symbols.at("1.detail") == "FROM ${BASE}")
        #expect(symbols.at("1.range") == range(4, 0, 7, 8))
        #expect(symbols.at("1.selectionRange") == range(4, 16, 4, 21))
        #expect(symbols.at("1.children.0.name") == "ENV")
        #expect(symbols.at("1.children.0.children.1.name") == "B")
        #expect(symbols.at("1.children.1.detail") == "set -eux;     make")
        #expect(symbols.at("2.children.1.children.0.name") == "org.example")
        #expect(try await harness.finish() == 0)
    }

    @Test func flatSymbolsForOlderClients() async throws {
        let harness = Harness()
        try await harness.initialize(capabilities: [:])
        harness.open(Self.text)
        let symbols = try await harness.request("textDocument/documentSymbol", [:])
        let names = symbols.arrayValue?.map { "\($0["containerName"]?.stringValue ?? "-")/\($0["name"]?.stringValue ?? "")" }
        #expect(names == ["-/ARG", "ARG/BASE", "-/build", "build/ENV", "ENV/A", "ENV/B", "build/RUN", "-/stage 1", "stage 1/COPY",
                          "stage 1/LABEL", "LABEL/org.example"])
        #expect(symbols.at("0.location.uri") == .string(Harness.uri))
        #expect(try await harness.finish() == 0)
    }

    @Test func foldingCoversStagesContinuationsAndCommentBlocks() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open(Self.text + "RUN <<EOF\necho one\necho two\nEOF\n")
        let ranges = try await harness.request("textDocument/foldingRange", [:])
        let shown = ranges.arrayValue?.map { "\($0["startLine"]!.intValue!)-\($0["endLine"]!.intValue!):\($0["kind"]?.stringValue ?? "")" }
        #expect(shown == ["2-3:comment", "4-7:region", "6-7:", "8-14:region", "11-14:"])
        #expect(try await harness.finish() == 0)
    }

    @Test func semanticTokensClassifyTheSyntax() async throws {
        let harness = Harness()
        try await harness.initialize(capabilities: [:])
        harness.open("# escape=\\\nFROM alpine AS b\nARG V=1\nRUN --mount=type=cache echo ${V}\n# done\nMAINTAINER x\n")
        let tokens = try await harness.request("textDocument/semanticTokens/full", [:])
        let data = tokens["data"]?.arrayValue?.compactMap(\.intValue) ?? []
        #expect(data.count % 5 == 0)
        // Decode to absolute (line, start, length, type, modifiers).
        var decoded: [[Int]] = []
        var line = 0
        var start = 0
        for index in stride(from: 0, to: data.count, by: 5) {
            line += data[index]
            start = data[index] == 0 ? start + data[index + 1] : data[index + 1]
            decoded.append([line, start, data[index + 2], data[index + 3], data[index + 4]])
        }
        let legend = ["keyword", "comment", "macro", "parameter", "string", "variable", "property", "namespace"]
        let named = decoded.map { "\($0[0]):\($0[1]):\($0[2]) \(legend[$0[3]])\($0[4] == 0 ? "" : "+\($0[4])")" }
        let expected: [String] = ["0:2:6 macro", "0:9:1 string", "1:0:4 keyword", "1:12:2 keyword", "1:15:1 namespace+1",
                          "2:0:3 keyword", "2:4:1 variable+1", "3:0:3 keyword", "3:4:7 parameter", "3:12:10 string",
                          "3:28:4 variable", "4:0:6 comment", "5:0:10 keyword+2"]
        #expect(named == expected)
        #expect(try await harness.finish() == 0)
    }
}

@Suite struct FormattingTests {
    static let messy = [
        "from alpine AS build\n",
        "run   set -eux; \\\n",
        "\tapt-get update; \\\n",
        "\tapt-get install -y \\\n",
        "\t\tcurl \\\n",
        "\t\tgit ;   \n",
        "Run echo \"a \\\n",
        "   b\"   \n",
        "COPY <<EOF /etc/x\n",
        "   keep   \n",
        "EOF\n",
        "   # a comment   \n",
        "ENV A=1 \\\n",
        "  B=2\n",
        "   \n",
        "onbuild   run make\n",
        "\n\n",
    ].joined()

    @Test func normalisesCaseSpacingAndIndentationButNotMeaning() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open(Self.messy)
        let edits = try await harness.request("textDocument/formatting", ["options": ["tabSize": 4, "insertSpaces": true, "trimFinalNewlines": true]])
        let formatted = apply(edits.arrayValue ?? [], to: Self.messy)
        let expected = [
            "from alpine AS build\n",
            "run set -eux; \\\n",
            "    apt-get update; \\\n",
            "    apt-get install -y \\\n",
            "        curl \\\n",
            "        git ;\n",
            "run echo \"a \\\n",
            "   b\"   \n",
            "copy <<EOF /etc/x\n",
            "   keep   \n",
            "EOF\n",
            "# a comment\n",
            "env A=1 \\\n",
            "    B=2\n",
            "\n",
            "onbuild run make\n",
        ].joined()
        #expect(formatted == expected)
        // Formatting a formatted file changes nothing.
        harness.change([["text": .string(formatted)]], version: 2)
        let again = try await harness.request("textDocument/formatting", ["options": ["tabSize": 4, "insertSpaces": true, "trimFinalNewlines": true]])
        #expect(again == [])
        #expect(try await harness.finish() == 0)
    }

    @Test func tabsWhenTheEditorIndentsWithTabsAndAFinalNewline() async throws {
        let harness = Harness()
        try await harness.initialize()
        let text = "FROM alpine\nRUN a && \\\n  b && \\\n      c"
        harness.open(text)
        let edits = try await harness.request("textDocument/formatting", ["options": ["tabSize": 4, "insertSpaces": false, "insertFinalNewline": true]])
        #expect(apply(edits.arrayValue ?? [], to: text) == "FROM alpine\nRUN a && \\\n\tb && \\\n\t\tc\n")
        #expect(try await harness.finish() == 0)
    }
}
