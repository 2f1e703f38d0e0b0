import Testing
@testable import DockerfileSyntax

@Suite struct ParserTests {
    @Test func directivesOnlyAtTheTopAndEscapeChangesContinuation() {
        let file = Dockerfile(parsing: "# escape=`\n# SYNTAX = docker/dockerfile:1\nFROM a\nRUN dir `\n  c:\\\n# escape=\\\n")
        #expect(file.directives.map(\.name) == ["escape", "syntax"])
        #expect(file.directive("syntax")?.value.text == "docker/dockerfile:1")
        #expect(file.escape == UInt8(ascii: "`"))
        #expect(file.instructions[1].logicalText == "RUN dir   c:\\")
        #expect(file.problems.map(\.code) == ["MisplacedDirective"])
    }

    @Test func blankLineOrCommentEndsDirectives() {
        let file = Dockerfile(parsing: "# a comment\n# escape=`\nFROM a\n")
        #expect(file.directives.isEmpty)
        #expect(file.escape == UInt8(ascii: "\\"))
        let unknown = Dockerfile(parsing: "# foo=bar\n# syntax=x\nFROM a\n")
        #expect(unknown.directives.isEmpty)
    }

    @Test func keywordsAreCaseInsensitiveAndKeepTheirSpelling() {
        let file = Dockerfile(parsing: "from alpine\nRun echo\n")
        #expect(file.instructions.map(\.kind) == [.from, .run])
        #expect(file.instructions.map(\.keyword.text) == ["from", "Run"])
    }

    @Test func continuationDropsCommentsAndEmptyLines() {
        let file = Dockerfile(parsing: "FROM a\nRUN a \\\n# note\n\n  b \\\n   \n  c\nCMD x\n")
        let run = file.instructions[1]
        #expect(run.logicalText == "RUN a   b   c")
        #expect(run.lines == 1...6)
        #expect(run.emptyContinuationLines == [3, 5])
        #expect(run.innerComments.map(\.text) == ["note"])
        #expect(file.instructions[2].keyword.range.start == Position(line: 7, character: 0))
        #expect(file.problems.map(\.code) == ["NoEmptyContinuation"])
        #expect(file.problems[0].fix?.edits.count == 2)
    }

    @Test func escapedEscapeAtLineEndIsNotAContinuation() {
        let file = Dockerfile(parsing: "FROM a\nRUN echo \\\\\nRUN echo next\n")
        #expect(file.instructions.count == 3)
        #expect(file.instructions[1].arguments.first?.value == "echo \\\\")
    }

    @Test func trailingBlanksAfterTheContinuationCharacterAreAllowed() {
        let file = Dockerfile(parsing: "FROM a\nRUN a \\  \t\n b\n")
        #expect(file.instructions[1].logicalText == "RUN a  b")
    }

    @Test func crlfLineEndingsAndBOM() {
        let file = Dockerfile(bytes: [0xEF, 0xBB, 0xBF] + Array("FROM a\r\nRUN b \\\r\n c\r\n".utf8))
        #expect(file.instructions.count == 2)
        #expect(file.instructions[0].keyword.range.start == Position(line: 0, character: 0))
        #expect(file.instructions[1].logicalText == "RUN b  c")
        #expect(file.instructions[1].range.end == Position(line: 2, character: 2))
    }

    @Test func execFormIsUnescapedJSON() {
        let file = Dockerfile(parsing: #"CMD ["a\"b", "\u00e9\ud83d\ude00", "\\n", "\/"]"#)
        let cmd = file.instructions[0]
        #expect(cmd.form == .exec)
        #expect(cmd.arguments.map(\.value) == ["a\"b", "é😀", "\\n", "/"])
        #expect(cmd.arguments[0].range.start.character == 5)
        #expect(cmd.arguments[0].range.end.character == 11)
    }

    @Test func invalidJSONFallsBackToShellForm() {
        for text in [#"CMD ["a", "b""#, #"CMD ["a",]"#, #"CMD ["a"] trailing"#, "CMD [\"a\u{1}\"]", #"CMD [tru]"#] {
            let file = Dockerfile(parsing: text)
            #expect(file.instructions[0].form == .shell, "\(text)")
            #expect(file.instructions[0].arguments.count == 1)
            #expect(file.problems.map(\.code) == ["InvalidJSONArray"], "\(text)")
        }
    }

    @Test func jsonWithNonStringsIsAnError() {
        for text in [#"CMD ["a", 1]"#, #"CMD [null]"#, #"CMD [{"a": [1, 2.5e3, true]}]"#, #"CMD ["a", ["b"]]"#] {
            let file = Dockerfile(parsing: text)
            #expect(file.problems.map(\.code) == ["JSONArrayNotStrings"], "\(text)")
        }
    }

    @Test func singleQuotedJSONGetsAFix() {
        let file = Dockerfile(parsing: "CMD ['nginx', '-g', 'daemon off;']")
        #expect(file.problems.first?.code == "JSONInSingleQuotes")
        #expect(file.problems.first?.fix?.edits.first?.newText == #"["nginx", "-g", "daemon off;"]"#)
    }

    @Test func copyAcceptsJSONOrWhitespaceList() {
        let file = Dockerfile(parsing: "COPY [\"a b\", \"c\"]\nCOPY  x   y\tz\n")
        #expect(file.instructions[0].arguments.map(\.value) == ["a b", "c"])
        #expect(file.instructions[1].arguments.map(\.value) == ["x", "y", "z"])
        #expect(file.instructions[1].arguments[2].range.start.character == 12)
    }

    @Test func flagsWithQuotesEscapesAndDoubleDash() {
        let file = Dockerfile(parsing: #"RUN --mount=type=secret,id="my id" --network=none -- --not-a-flag"#)
        let run = file.instructions[0]
        #expect(run.flags.map(\.name) == ["mount", "network"])
        #expect(run.flags[0].value == "type=secret,id=my id")
        #expect(run.flags[0].rawValue?.text == #"type=secret,id="my id""#)
        #expect(run.flags[0].nameRange.end.character == 11)
        #expect(run.arguments.first?.value == "--not-a-flag")
        let single = Dockerfile(parsing: "COPY -from=x a b")
        #expect(single.instructions[0].flags.isEmpty)
        #expect(single.instructions[0].arguments.map(\.value) == ["-from=x", "a", "b"])
    }

    @Test func boolFlagWithoutValueAndStringFlagWithEmptyValue() {
        let file = Dockerfile(parsing: "COPY --link --chmod= a b")
        #expect(file.instructions[0].flags.map(\.value) == [nil, ""])
    }

    @Test func heredocsSeveralOnALineWithChompAndQuotes() {
        let text = "RUN <<A cat && <<-'B' cat && 3<<C cat\nbody a $X\nA\n\tbody b\n\tB\nc\nC\nCMD x\n"
        let file = Dockerfile(parsing: text)
        let run = file.instructions[0]
        #expect(run.heredocs.map(\.name) == ["A", "B", "C"])
        #expect(run.heredocs.map(\.expand) == [true, false, true])
        #expect(run.heredocs.map(\.chomp) == [false, true, false])
        #expect(run.heredocs.map(\.fileDescriptor) == [nil, nil, 3])
        #expect(run.heredocs[0].content == "body a $X\n")
        #expect(run.heredocs[1].effectiveContent == "body b\n")
        #expect(run.heredocs[2].terminatorRange?.start.line == 6)
        #expect(run.heredocs[0].marker.start.character == 4)
        #expect(run.range.end == Position(line: 6, character: 1))
        #expect(file.instructions[1].keyword.text == "CMD")
        #expect(file.problems.isEmpty)
    }

    @Test func heredocNeedsAWordAndIsNotInJSONOrOtherInstructions() {
        #expect(Dockerfile(parsing: "RUN cat <<\nFROM a\n").instructions.count == 2)
        #expect(Dockerfile(parsing: "RUN cat<<EOF\nFROM a\n").instructions.count == 2)
        #expect(Dockerfile(parsing: "RUN [\"cat\", \"<<EOF\"]\nFROM a\n").instructions.count == 2)
        #expect(Dockerfile(parsing: "ENV A=<<EOF\nFROM a\n").instructions.count == 2)
        #expect(Dockerfile(parsing: "RUN cat <<<EOF\nFROM a\n").instructions.count == 2)
        let spaced = Dockerfile(parsing: "RUN cat << EOF\nx\nEOF\n")
        #expect(spaced.instructions[0].heredocs.first?.name == "EOF")
    }

    @Test func heredocTerminatorMustMatchExactly() {
        let file = Dockerfile(parsing: "RUN <<EOF\n EOF\nEOF \nEOF\nCMD x\n")
        #expect(file.instructions[0].heredocs[0].content == " EOF\nEOF \n")
        #expect(file.instructions.count == 2)
    }

    @Test func unterminatedHeredocRunsToTheEnd() {
        let file = Dockerfile(parsing: "RUN <<EOF\necho\nCMD x\n")
        #expect(file.instructions.count == 1)
        #expect(file.problems.map(\.code) == ["UnterminatedHeredoc"])
        #expect(file.problems[0].range.start == Position(line: 0, character: 4))
    }

    @Test func onbuildCarriesItsTriggerAndHeredocs() {
        let file = Dockerfile(parsing: "ONBUILD RUN --mount=type=cache,target=/c <<EOF\necho\nEOF\n")
        let onbuild = file.instructions[0]
        #expect(onbuild.trigger.first?.kind == .run)
        #expect(onbuild.trigger.first?.flags.first?.name == "mount")
        #expect(onbuild.heredocs.first?.name == "EOF")
        #expect(onbuild.trigger.first?.heredocs.first?.name == "EOF")
    }

    @Test func keyValueWordsKeepQuotes() {
        let file = Dockerfile(parsing: #"ENV A="x y" B='z w' C=a\ b D"#)
        #expect(file.instructions[0].arguments.map(\.value) == [#"A="x y""#, "B='z w'", #"C=a\ b"#, "D"])
    }

    @Test func healthcheckTypeThenCommand() {
        let file = Dockerfile(parsing: "HEALTHCHECK --interval=5s CMD [\"curl\", \"-f\"]\nHEALTHCHECK NONE\n")
        #expect(file.instructions[0].arguments.map(\.value) == ["CMD", "curl", "-f"])
        #expect(file.instructions[0].form == .exec)
        #expect(file.instructions[1].arguments.map(\.value) == ["NONE"])
    }

    @Test func utf16PositionsCountSurrogatePairs() {
        let file = Dockerfile(parsing: "FROM a\nLABEL x=\"😀é\" y=1\n")
        let words = file.instructions[1].arguments
        // `LABEL x="` is 9 units, 😀 two UTF-16 units (4 bytes), é one (2 bytes), then `" `.
        #expect(words[1].range.start == Position(line: 1, character: 14))
        #expect(words[1].range.startOffset == 24)
        #expect(file.source.offset(of: Position(line: 1, character: 14)) == 24)
        #expect(file.source.offset(of: Position(line: 1, character: 10)) == 20)  // inside the pair: next scalar
        #expect(file.source.offset(ofUTF8: Position(line: 1, character: 17)) == 24)
        #expect(file.source.utf8Column(ofOffset: 24, line: 1) == 17)
    }

    @Test func elementsCoverEveryLine() {
        let text = "# syntax=x\n\n# comment\nFROM a \\\n  AS b\nRUN <<EOF\nbody\nEOF\n\nCMD x"
        let file = Dockerfile(parsing: text)
        var covered: [Int] = []
        for element in file.elements {
            covered += Array(element.range.start.line...element.range.end.line)
        }
        #expect(covered == Array(0..<file.source.lineCount))
        #expect(file.elements.count == 7)
    }

    @Test func emptyAndCommentOnlyFilesHaveNoInstructions() {
        #expect(Dockerfile(parsing: "").problems.map(\.code) == ["NoInstructions"])
        #expect(Dockerfile(parsing: "# x\n\n").problems.map(\.code) == ["NoInstructions"])
    }

    @Test func loneContinuationCharacterIsNotAnInstruction() {
        let file = Dockerfile(parsing: "FROM a\n\\\n\n")
        #expect(file.instructions.count == 1)
        #expect(file.problems.map(\.code) == ["NoEmptyContinuation"])
    }
}
