import DockerfileCheck
import DockerfileSyntax
import Testing

/// Applies a fix's edits to the text (edits are non-overlapping; applied from the end).
func apply(_ fix: Fix, to text: String) -> String {
    var bytes = Array(text.utf8)
    for edit in fix.edits.sorted(by: { $0.range.startOffset > $1.range.startOffset }) {
        bytes.replaceSubrange(edit.range.startOffset..<edit.range.endOffset, with: Array(edit.newText.utf8))
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite struct CheckTests {
    func diagnostics(_ text: String, _ options: CheckOptions = CheckOptions()) -> [Diagnostic] {
        Checker.check(text, options: options)
    }

    func fixed(_ text: String, code: String) -> String? {
        guard let fix = diagnostics(text).first(where: { $0.code == code })?.fix else { return nil }
        return apply(fix, to: text)
    }

    @Test(arguments: [
        ("FROM a\nRUNN x\n", "UnknownInstruction", "FROM a\nRUN x\n"),
        ("FROM a\nCOPY --chwon=1 a b\n", "UnknownFlag", "FROM a\nCOPY --chown=1 a b\n"),
        ("FROM a\nCOPY --chown=1 --chown=2 a b\n", "DuplicateFlag", "FROM a\nCOPY --chown=1 a b\n"),
        ("FROM a AS Build\n", "StageNameCasing", "FROM a AS build\n"),
        ("FROM a as b\n", "FromAsCasing", "FROM a AS b\n"),
        ("FROM a\nrun x\nRUN y\nRUN z\n", "ConsistentInstructionCasing", "FROM a\nRUN x\nRUN y\nRUN z\n"),
        ("FROM a\nCMD nginx -g daemon\n", "JSONArgsRecommended", "FROM a\nCMD [\"nginx\", \"-g\", \"daemon\"]\n"),
        ("FROM a\nMAINTAINER Jo \"J\"\n", "MaintainerDeprecated", "FROM a\nLABEL org.opencontainers.image.authors=\"Jo \\\"J\\\"\"\n"),
        ("FROM a\nENV K some value\n", "LegacyKeyValueFormat", "FROM a\nENV K=\"some value\"\n"),
        ("FROM a\nLABEL k v\n", "LegacyKeyValueFormat", "FROM a\nLABEL k=v\n"),
        ("FROM --platform=$TARGETPLATFORM a\n", "RedundantTargetPlatform", "FROM a\n"),
        ("FROM a\nEXPOSE 80/TCP\n", "ExposeProtoCasing", "FROM a\nEXPOSE 80/tcp\n"),
        ("FROM a\nCOPY x y /d\n", "CopyDestinationNotDirectory", "FROM a\nCOPY x y /d/\n"),
        ("FROM a\nENV GREETING=hi\nWORKDIR /$GRETING\n", "UndefinedVar", "FROM a\nENV GREETING=hi\nWORKDIR /$GREETING\n"),
        ("FROM a AS build\nFROM a\nCOPY --from=biuld /x /y\n", "CopyFromUnknownStage", "FROM a AS build\nFROM a\nCOPY --from=build /x /y\n"),
        ("# escape=x\nFROM a\n", "InvalidEscapeDirective", "# escape=\\\nFROM a\n"),
        ("FROM a\nRUN x \\\n\n  y\n", "NoEmptyContinuation", "FROM a\nRUN x \\\n  y\n"),
        ("FROM a\nHEALTHCHECK curl x\n", "HealthcheckType", "FROM a\nHEALTHCHECK CMD x\n"),
        ("FROM a\nCOPY app /app --chown=1000\n", "MisplacedFlag", "FROM a\nCOPY --chown=1000 app /app\n"),
    ])
    func quickFixProducesTheExpectedText(_ text: String, _ code: String, _ expected: String) {
        #expect(fixed(text, code: code) == expected)
    }

    @Test func fixedTextsAreClean() {
        let text = "FROM a as Build\nrun x\nRUN y\n"
        var current = text
        for _ in 0..<5 {
            guard let fix = diagnostics(current).first(where: { $0.fix != nil && $0.severity <= .warning })?.fix else { break }
            current = apply(fix, to: current)
        }
        #expect(diagnostics(current).isEmpty, "\(current)")
    }

    @Test func checkDirectiveSkipsAndPromotes() {
        let directive = CheckDirective.parse("skip=JSONArgsRecommended,StageNameCasing;error=true")
        #expect(directive.1 == nil)
        #expect(directive.0.skipped == ["JSONArgsRecommended", "StageNameCasing"])
        #expect(directive.0.warningsAreErrors)
        #expect(CheckDirective.parse("skip=A, B").0.skipped == ["A"])
        #expect(CheckDirective.parse("skip=A;skip=B").0.skipped == ["B"])
        #expect(CheckDirective.parse("skip=all").0.skipAll)
        #expect(CheckDirective.parse("error=maybe").1 != nil)
        #expect(CheckDirective.parse("nonsense").1 != nil)

        // Docker fails on BuildKit's checks only: a frontend idpbuild does not run (moby/buildkit's own
        // `# syntax=docker/dockerfile-upstream:master` with `check=error=true`) stays a warning.
        let promoted = diagnostics("# syntax=docker/dockerfile-upstream:master\n# check=error=true\nFROM a\nCMD x\n")
        #expect(promoted.map(\.code) == ["UnsupportedByEngine", "JSONArgsRecommended"])
        #expect(promoted.map(\.severity) == [.warning, .error])

        let skipAll = diagnostics("# check=skip=all\nFROM a\nCMD x\nRUNN y\n")
        #expect(skipAll.map(\.code) == ["UnknownInstruction"], "skip never hides errors")
    }

    @Test func ignoredCodesLeaveAnySeverity() {
        let options = CheckOptions(ignoredCodes: ["UnknownInstruction", "JSONArgsRecommended"])
        #expect(diagnostics("FROM a\nCMD x\nRUNN y\n", options).isEmpty)
    }

    @Test func buildArgumentsFeedExpansion() {
        let text = "ARG TAG\nFROM alpine:$TAG\n"
        #expect(diagnostics(text).map(\.code) == ["InvalidDefaultArgInFrom"])
        #expect(diagnostics(text, CheckOptions(buildArguments: ["TAG": "3.19"])).isEmpty)
    }

    @Test func undefinedVarSeverityDependsOnWhatTheBaseCouldSet() {
        let fromImage = diagnostics("FROM alpine\nWORKDIR $SOMEWHERE\n")
        #expect(fromImage.map(\.severity) == [.information])
        let fromScratch = diagnostics("FROM scratch AS s\nFROM s\nWORKDIR $SOMEWHERE\n")
        #expect(fromScratch.map(\.severity) == [.warning])
        #expect(fromScratch.first?.range.start == Position(line: 2, character: 8))
        #expect(fromScratch.first?.range.end == Position(line: 2, character: 18))
    }

    @Test func copyHeredocBodiesAreExpandedOnlyWhenUnquoted() {
        let expanded = diagnostics("FROM scratch\nCOPY <<EOF /a\n$MISSING\nEOF\n")
        #expect(expanded.map(\.code) == ["UndefinedVar"])
        #expect(expanded.first?.range.start.line == 2)
        #expect(diagnostics("FROM scratch\nCOPY <<'EOF' /a\n$MISSING\nEOF\n").isEmpty)
    }

    @Test func secretsRuleMatchesWordParts() {
        let codes = diagnostics("FROM a\nARG AUTH_BUILD\nARG AUTHOR\nENV GITHUB_TOKEN=x PUBLIC_KEY=y KEY_FILE=z\n").map(\.message)
        #expect(codes.count == 2)
    }

    @Test func everyRuleIsDocumentedWithExampleAndFix() {
        for rule in Rules.all {
            #expect(!rule.summary.isEmpty && !rule.example.isEmpty && !rule.fix.isEmpty, "\(rule.code)")
        }
        #expect(Set(Rules.all.map(\.code)).count == Rules.all.count)
        #expect(Rules.byCode["JSONArgsRecommended"]?.url == "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/")
        #expect(Rules.byCode["UndefinedArgInFrom"]?.url == "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/")
    }

    @Test func gnuColumnsCountCharacters() {
        let text = "FROM a\nLABEL é=1 x y\n"
        let dockerfile = Dockerfile(parsing: text)
        let file = CheckedFile(path: "D", source: dockerfile.source, diagnostics: Checker.check(dockerfile))
        // `x` is the 11th character of the line but its 12th byte.
        #expect(DiagnosticFormatter.gnu([file]) == "D:2:11: error: Syntax error - can't find = in \"x\". Must be of the form: name=value [InvalidKeyValue]\n")
    }

    /// BuildKit copies several sources into `.`, `..` and `dir/.` (it appends the separator), and Windows images write
    /// directories as `C:\\dir\\` (ollama's `COPY go.mod go.sum .`, mongo's nanoserver image): none is an error.
    @Test(arguments: ["COPY a b .", "COPY a b ..", "COPY a b src/.", "COPY a b ../..", "COPY a b C:\\\\Windows\\\\System32\\\\",
                      "COPY a b /d/"])
    func severalSourcesIntoADirectory(_ line: String) {
        #expect(!diagnostics("FROM a\n\(line)\n").contains { $0.code == "CopyDestinationNotDirectory" })
    }

    @Test(arguments: ["COPY a b /d", "COPY a b d.", "COPY a b ./d", "ADD a b /d/.x"])
    func severalSourcesOntoAFile(_ line: String) {
        #expect(diagnostics("FROM a\n\(line)\n").map(\.code) == ["CopyDestinationNotDirectory"])
    }

    @Test func windowsWorkdirIsAbsolute() {
        #expect(diagnostics("# escape=`\nFROM a\nWORKDIR C:\\app\n").isEmpty)
        #expect(diagnostics("FROM a\nWORKDIR C:/app\n").isEmpty)
    }
}
