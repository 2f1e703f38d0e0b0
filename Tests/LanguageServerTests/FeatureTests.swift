import Foundation
import JSONRPC
import LSPTestSupport
import Testing

@Suite struct CodeActionTests {
    static let text = """
    FROM alpine AS Build
    COPY --chwon=1 a /a
    MAINTAINER me
    EXPOSE 80/TCP

    """

    @Test func quickFixesAreLinkedToTheirDiagnosticsAndFixAllAppliesThemAll() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open(Self.text)
        let diagnostics = try await harness.diagnostics(version: 1)
        #expect(diagnostics.codes == ["StageNameCasing", "UnknownFlag", "MaintainerDeprecated", "ExposeProtoCasing"])
        let actions = try await harness.request("textDocument/codeAction", ["range": range(1, 8, 1, 8), "context": ["diagnostics": []]])
        let quickFixes = actions.arrayValue?.filter { $0["kind"] == "quickfix" } ?? []
        #expect(quickFixes.map { $0["title"]?.stringValue ?? "" } == ["Change to --chown"])
        let fix = quickFixes[0]
        #expect(fix["isPreferred"] == true)
        #expect(fix.at("diagnostics.0.code") == "UnknownFlag")
        let edits = fix.at("edit.changes.\(Harness.uri)")?.arrayValue ?? []
        #expect(apply(edits, to: Self.text).contains("COPY --chown=1 a /a"))

        let all = actions.arrayValue?.first { $0["kind"] == "source.fixAll" }
        #expect(all?["title"] == "Fix 4 auto-fixable problems")
        let fixed = apply(all?.at("edit.changes.\(Harness.uri)")?.arrayValue ?? [], to: Self.text)
        #expect(fixed == "FROM alpine AS build\nCOPY --chown=1 a /a\nLABEL org.opencontainers.image.authors=\"me\"\nEXPOSE 80/tcp\n")
        harness.change([["text": .string(fixed)]], version: 2)
        #expect(try await harness.diagnostics(version: 2).isEmpty)
        #expect(try await harness.finish() == 0)
    }

    @Test func onlyFiltersKindsAndVersionedEditsWhenSupported() async throws {
        let harness = Harness()
        var capabilities = Harness.modernClient.objectValue!
        capabilities["workspace"] = ["workspaceEdit": ["documentChanges": true]]
        try await harness.initialize(capabilities: .object(capabilities))
        harness.open(Self.text, version: 5)
        _ = try await harness.diagnostics(version: 5)
        let source = try await harness.request("textDocument/codeAction", ["range": range(0, 0, 0, 0), "context": ["diagnostics": [], "only": ["source"]]])
        // "source" covers fix-all and the build actions (source.idpbuild.*).
        #expect(source.arrayValue?.compactMap { $0["kind"]?.stringValue } == ["source.fixAll", "source.idpbuild.buildAndPush", "source.idpbuild.build"])
        #expect(source.at("0.edit.documentChanges.0.textDocument.version") == 5)
        #expect(source.at("0.edit.documentChanges.0.textDocument.uri") == .string(Harness.uri))
        let none = try await harness.request("textDocument/codeAction", ["range": range(0, 0, 0, 0), "context": ["diagnostics": [], "only": ["refactor"]]])
        #expect(none == [])
        #expect(try await harness.finish() == 0)
    }

    @Test func buildKitWarningsCanBeSkippedForTheFile() async throws {
        let harness = Harness()
        try await harness.initialize()
        let text = "# syntax=docker/dockerfile:1\nFROM alpine\nCMD echo hi\n"
        harness.open(text)
        #expect(try await harness.diagnostics(version: 1).codes == ["JSONArgsRecommended"])
        let actions = try await harness.request("textDocument/codeAction", ["range": range(2, 5, 2, 5), "context": ["diagnostics": []]])
        let skip = actions.arrayValue?.first { $0["title"]?.stringValue?.hasPrefix("Skip JSONArgsRecommended") == true }
        let skipped = apply(skip?.at("edit.changes.\(Harness.uri)")?.arrayValue ?? [], to: text)
        #expect(skipped == "# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended\nFROM alpine\nCMD echo hi\n")
        harness.change([["text": .string(skipped + "MAINTAINER x\n")]], version: 2)
        #expect(try await harness.diagnostics(version: 2).codes == ["MaintainerDeprecated"])
        // With a check directive in place, the next skip extends it.
        let more = try await harness.request("textDocument/codeAction", ["range": range(4, 1, 4, 1), "context": ["diagnostics": []]])
        let extend = more.arrayValue?.first { $0["title"]?.stringValue?.hasPrefix("Skip MaintainerDeprecated") == true }
        let extended = apply(extend?.at("edit.changes.\(Harness.uri)")?.arrayValue ?? [], to: skipped + "MAINTAINER x\n")
        #expect(extended.contains("# check=skip=JSONArgsRecommended,MaintainerDeprecated\n"))
        #expect(try await harness.finish() == 0)
    }
}

@Suite struct HoverTests {
    static let text = """
    # syntax=docker/dockerfile:1
    ARG BASE=alpine
    ARG TAG=3.19
    FROM ${BASE}:${TAG} AS build
    ARG VERSION
    ENV APP=/srv/app
    RUN --mount=type=cache,target=/root/.cache echo $APP $VERSION $MISSING
    FROM build
    COPY --from=build /a /b
    COPY --from=nowhere /a /b
    ONBUILD RUN make

    """

    private func hover(_ harness: Harness, _ line: Int, _ character: Int) async throws -> String? {
        try await harness.request("textDocument/hover", ["position": position(line, character)]).at("contents.value")?.stringValue
    }

    @Test func explainsInstructionsFlagsDirectivesVariablesStagesAndImages() async throws {
        let harness = Harness()
        try await harness.initialize(options: ["buildArgs": ["TAG": "3.20"]])
        harness.open(Self.text)
        _ = try await harness.diagnostics(version: 1)
        let keyword = try await harness.request("textDocument/hover", ["position": position(6, 1)])
        #expect(keyword.at("contents.kind") == "markdown")
        #expect(keyword["range"] == range(6, 0, 6, 3))
        #expect(keyword.at("contents.value")?.stringValue?.hasPrefix("**RUN** — Runs a command") == true)
        #expect(try await hover(harness, 6, 6)?.contains("RUN `--mount=type=<type>,…`") == true)
        #expect(try await hover(harness, 0, 3)?.contains("parser directive") == true)
        let app = try await hover(harness, 6, 49)
        #expect(app?.contains("**`$APP`** = `/srv/app`") == true)
        #expect(app?.contains("Set by the ENV on line 6.") == true)
        #expect(app?.contains("The shell expands it") == true)
        #expect(try await hover(harness, 6, 58)?.contains("has no value") == true)
        #expect(try await hover(harness, 6, 68)?.contains("is not set before this line") == true)
        let image = try await hover(harness, 3, 12)
        #expect(image == "Base image `alpine:3.20` (expanded from `${BASE}:${TAG}`)")
        #expect(try await hover(harness, 3, 17)?.contains("**`$TAG`** = `3.20`") == true)
        #expect(try await hover(harness, 7, 6)?.contains("Stage **build** (stage 0, line 4)") == true)
        #expect(try await hover(harness, 8, 14)?.contains("Stage **build**") == true)
        #expect(try await hover(harness, 9, 14)?.contains("is not the name of an earlier stage") == true)
        #expect(try await hover(harness, 10, 9)?.hasPrefix("**RUN**") == true)
        #expect(try await hover(harness, 10, 2)?.hasPrefix("**ONBUILD**") == true)
        #expect(try await harness.request("textDocument/hover", ["position": position(11, 0)]) == .null)
        #expect(try await harness.finish() == 0)
    }

    @Test func plainTextForClientsWithoutMarkdown() async throws {
        let harness = Harness()
        try await harness.initialize(capabilities: [:])
        harness.open("FROM alpine\n")
        let hover = try await harness.request("textDocument/hover", ["position": position(0, 1)])
        #expect(hover.at("contents.kind") == "plaintext")
        let value = hover.at("contents.value")?.stringValue ?? ""
        #expect(value.hasPrefix("FROM — Starts a build stage"))
        #expect(!value.contains("**") && !value.contains("```"))
        #expect(value.hasSuffix("Reference: https://docs.docker.com/reference/dockerfile/#from"))
        #expect(try await harness.finish() == 0)
    }
}

@Suite struct CompletionTests {
    private func labels(_ harness: Harness, _ line: Int, _ character: Int) async throws -> [String] {
        let list = try await harness.request("textDocument/completion", ["position": position(line, character)])
        #expect(list["isIncomplete"] == false)
        return list["items"]?.arrayValue?.compactMap { $0["label"]?.stringValue } ?? []
    }

    @Test func completesWhatFitsTheCursor() async throws {
        let harness = Harness()
        try await harness.initialize()
        let text = """
        # syntax=docker/dockerfile:1
        # check=skip=JSONArgsRecommended,
        ARG BASE=alpine
        FROM $BASE AS build
        ENV APP=/srv
        FROM build AS final
        COPY --from=b
        COPY --ch
        RUN --mount=type=c
        RUN --mount=type=cache,sh
        RUN echo ${A
        HEALTHCHECK --interval=5s N
        FROM alpine A
        RU
        RUN --network=

        """
        harness.open(text)
        _ = try await harness.diagnostics(version: 1)
        let keywords = try await labels(harness, 13, 2)
        #expect(keywords.count == 18 && keywords.contains("RUN") && keywords.contains("FROM"))
        let list = try await harness.request("textDocument/completion", ["position": position(13, 2)])
        let run = list["items"]?.arrayValue?.first { $0["label"] == "RUN" }
        #expect(run?.at("textEdit.range") == range(13, 0, 13, 2))
        #expect(run?.at("textEdit.newText") == "RUN")
        #expect(run?.at("documentation.kind") == "markdown")
        #expect(try await labels(harness, 6, 13) == ["build"])
        #expect(try await labels(harness, 7, 9).contains("--chown"))
        #expect(try await labels(harness, 7, 9).contains("--from"))
        #expect(try await labels(harness, 8, 18) == ["bind", "cache", "tmpfs", "secret", "ssh"])
        #expect(try await labels(harness, 9, 25).contains("sharing"))
        let variables = try await labels(harness, 10, 12)
        // In a stage, global ARGs and the builder's arguments need an ARG of their own; PATH is always there.
        #expect(variables.contains("APP") && !variables.contains("BASE") && !variables.contains("TARGETARCH") && variables.contains("PATH"))
        #expect(try await labels(harness, 11, 27) == ["CMD", "NONE"])
        #expect(try await labels(harness, 12, 13) == ["AS"])
        #expect(try await labels(harness, 3, 6).contains("BASE"))
        #expect(try await labels(harness, 14, 14) == ["default", "none", "host"])
        let codes = try await labels(harness, 1, 34)
        #expect(codes.contains("StageNameCasing") && !codes.contains("JSONArgsRecommended") && !codes.contains("UnknownFlag"))
        #expect(try await finishCleanly(harness))
    }

    @Test func directivesAtTheTopAndKeywordsInTheFilesCase() async throws {
        let harness = Harness()
        try await harness.initialize()
        harness.open("# \nfrom alpine\nrun true\n\n")
        _ = try await harness.diagnostics(version: 1)
        #expect(try await labels(harness, 0, 2) == ["syntax", "escape", "check"])
        let keywords = try await labels(harness, 3, 0)
        #expect(keywords.contains("run") && !keywords.contains("RUN"))
        let stages = try await labels(harness, 1, 5)
        #expect(stages == ["scratch"])
        #expect(try await finishCleanly(harness))
    }

    private func finishCleanly(_ harness: Harness) async throws -> Bool { try await harness.finish() == 0 }
}
