import Testing
@testable import DockerfileSyntax

@Suite struct ShellLexerTests {
    let environment = ["V": "1.2.3", "EMPTY": "", "PATH": "/opt/app/bin/tool.tar.gz", "NAME": "world"]

    func expand(_ word: String, _ configure: (inout ShellLexer) -> Void = { _ in }) throws -> String {
        var lexer = ShellLexer()
        configure(&lexer)
        return try lexer.process(word, environment: environment).value
    }

    @Test(arguments: [
        ("$V", "1.2.3"), ("${V}", "1.2.3"), ("x${V}y", "x1.2.3y"), ("$UNSET", ""), ("$", "$"), ("$-x", "x"),
        ("${UNSET:-w}", "w"), ("${EMPTY:-w}", "w"), ("${EMPTY-w}", ""), ("${V:-w}", "1.2.3"),
        ("${V:+w}", "w"), ("${EMPTY:+w}", ""), ("${EMPTY+w}", "w"), ("${UNSET+w}", ""),
        ("${PATH#*/}", "opt/app/bin/tool.tar.gz"), ("${PATH##*/}", "tool.tar.gz"),
        ("${PATH%.*}", "/opt/app/bin/tool.tar"), ("${PATH%%.*}", "/opt/app/bin/tool"),
        ("${V/./_}", "1_2.3"), ("${V//./_}", "1_2_3"), ("${V/?/x}", "x.2.3"), ("${UNSET:-$NAME}", "world"),
        (#"\$V"#, "$V"), (#"\${V}"#, "${V}"), ("'$V'", "$V"), (#""$V""#, "1.2.3"), (#""a\"b""#, #"a"b"#),
        (#""a\b""#, #"a\b"#), (#"a\ b"#, "a b"), ("${V:-a b}", "1.2.3"), ("${PATH#\\/opt}", "/app/bin/tool.tar.gz"),
    ])
    func expandsLikeDocker(_ word: String, _ expected: String) throws {
        #expect(try expand(word) == expected)
    }

    @Test(arguments: [
        ("${V", "syntax error: missing '}'"), ("${}", "syntax error: bad substitution"),
        ("${:x}", "syntax error: bad substitution"), ("${{V}", "syntax error: bad substitution"),
        ("${V:#x}", "unsupported modifier (:#) in substitution"), ("${V!}", "unsupported modifier (!) in substitution"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"), ("${EMPTY:?must be set}", "EMPTY: must be set"),
        ("'abc", "unexpected end of statement while looking for matching single-quote"),
        ("\"abc", "unexpected end of statement while looking for matching double-quote"),
        ("${V/x", "syntax error: missing '/' in ${}"), ("${V#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'"),
    ])
    func reportsDockersErrors(_ word: String, _ message: String) {
        #expect(throws: ExpansionError.self) { try expand(word) }
        do {
            _ = try expand(word)
        } catch let error as ExpansionError {
            #expect(error.message == message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func recordsEveryReferenceWithItsRange() throws {
        let expansion = try ShellLexer().process("a$V-${UNSET:-$NAME}", environment: environment)
        #expect(expansion.references.map(\.name) == ["V", "NAME", "UNSET"])
        #expect(expansion.references.map(\.isSet) == [true, true, false])
        #expect(expansion.references[0].range == 1..<3)
        #expect(expansion.references[2].range == 4..<19)
    }

    @Test func rawModesKeepQuotesEscapesAndUnsetVariables() throws {
        #expect(try expand(#"'a' "b" \c"#) { $0.rawQuotes = true; $0.rawEscapes = true } == #"'a' "b" \c"#)
        #expect(try expand("$UNSET ${UNSET} ${UNSET:-x}") { $0.skipUnsetEnv = true } == "$UNSET ${UNSET} ${UNSET:-x}")
        #expect(try expand(#"say "$NAME""#) { $0.skipProcessQuotes = true } == #"say "world""#)
    }

    @Test func backtickEscape() throws {
        var lexer = ShellLexer(escape: UInt8(ascii: "`"))
        lexer.rawEscapes = false
        #expect(try lexer.process("C:\\a `$V", environment: environment).value == "C:\\a $V")
    }

    @Test func unicodeNamesAndSpecialParameters() throws {
        #expect(try ShellLexer().process("$é", environment: ["é": "x"]).value == "x")
        let special = try ShellLexer().process("$@$1$12", environment: ["@": "a", "1": "b", "12": "c"])
        #expect(special.value == "abc")
    }

    @Test func goDurations() throws {
        #expect(try GoDuration.parse("1h30m").get() == 5400)
        #expect(try GoDuration.parse("1.5s").get() == 1.5)
        #expect(try GoDuration.parse("250ms").get() == 0.25)
        #expect(try GoDuration.parse("0").get() == 0)
        #expect(try GoDuration.parse("-2us").get() == -0.000002)
        #expect(throws: GoDuration.DurationError.self) { try GoDuration.parse("5").get() }
        #expect(throws: GoDuration.DurationError.self) { try GoDuration.parse("5x").get() }
        #expect(throws: GoDuration.DurationError.self) { try GoDuration.parse("").get() }
        #expect(throws: GoDuration.DurationError.self) { try GoDuration.parse("s").get() }
    }

    @Test func suggestions() {
        #expect(Suggest.closest(to: "chwon", in: ["chown", "chmod", "from"]) == "chown")
        #expect(Suggest.closest(to: "FORM", in: InstructionKind.allCases.map(\.rawValue)) == "FROM")
        #expect(Suggest.closest(to: "xyz", in: ["chown"]) == nil)
        #expect(Suggest.closest(to: "from", in: ["from"]) == nil)
        #expect(shown(String(repeating: "a", count: 100)).count == 61)
        #expect(shown("a\u{0}b") == "a\\u{0}b")
    }
}
