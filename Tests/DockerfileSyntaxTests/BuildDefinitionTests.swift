import Testing
@testable import DockerfileSyntax

@Suite struct BuildDefinitionTests {
    @Test func stagesGlobalArgsAndTypedCommands() throws {
        let text = """
        ARG BASE=alpine
        FROM ${BASE}:3.19 AS Build
        ENV A=1 B="two words"
        COPY --from=x --chown=1:1 --link a b /dest/
        ADD --checksum=sha256:abc --keep-git-dir=false --unpack https://x/y.tar /opt/
        RUN --mount=type=cache,target=/c,id=go,sharing=locked --network=none make
        HEALTHCHECK --interval=30s --retries=3 CMD curl -f localhost
        FROM build
        USER app
        """
        let definition = BuildDefinition(Dockerfile(parsing: text))
        #expect(definition.globalArgIndices == [0])
        #expect(definition.stages.count == 2)
        #expect(definition.stages[0].name == "build")
        #expect(definition.stages[0].instructionIndices == 2..<7)
        #expect(definition.stages[1].instructionIndices == 8..<9)
        #expect(definition.stage(named: "BUILD")?.index == 0)
        #expect(definition.stage(containing: 5)?.index == 0)
        #expect(definition.problems.isEmpty)

        guard case .env(let pairs)? = definition.commands[2] else { Issue.record("ENV not typed"); return }
        #expect(pairs.map(\.key) == ["A", "B"])
        #expect(pairs.map(\.value) == ["1", "\"two words\""])
        #expect(pairs[1].valueRange?.start.character == 10)

        guard case .copy(let copy)? = definition.commands[3] else { Issue.record("COPY not typed"); return }
        #expect(copy.sources.map(\.value) == ["a", "b"])
        #expect(copy.destination?.value == "/dest/")
        #expect(copy.from?.value == "x")
        #expect(copy.link)

        guard case .copy(let add)? = definition.commands[4] else { Issue.record("ADD not typed"); return }
        #expect(add.isAdd && add.unpack == true && !add.keepGitDir && add.checksum?.value == "sha256:abc")

        guard case .run(let run)? = definition.commands[5] else { Issue.record("RUN not typed"); return }
        #expect(run.network == "none")
        #expect(run.mounts.first?.type == "cache")
        #expect(run.mounts.first?.target == "/c")
        #expect(run.mounts.first?.fields["sharing"] == "locked")
        #expect(run.command == CommandLine(arguments: ["make"], isExec: false))

        guard case .healthcheck(let check)? = definition.commands[6] else { Issue.record("HEALTHCHECK not typed"); return }
        #expect(check.interval == 30 && check.retries == 3)
        #expect(check.command?.arguments == ["curl -f localhost"])
    }

    @Test func copyHeredocSourcesAndLegacyEnv() {
        let definition = BuildDefinition(Dockerfile(parsing: "FROM a\nCOPY <<A <<B /etc/\na\nA\nb\nB\nENV K some value\n"))
        guard case .copy(let copy)? = definition.commands[1] else { Issue.record("COPY not typed"); return }
        #expect(copy.heredocSources.map(\.name) == ["A", "B"])
        #expect(copy.sources.isEmpty)
        guard case .env(let pairs)? = definition.commands[2] else { Issue.record("ENV not typed"); return }
        #expect(pairs.first?.key == "K")
        #expect(pairs.first?.value == "some value")
    }

    @Test func scopesFollowDockerOrdering() {
        let text = """
        ARG VERSION=1
        ARG UNUSED
        FROM alpine AS base
        ARG VERSION
        ENV A=old
        ENV A=new B=$A
        ARG A=from-arg
        RUN true
        FROM base AS child
        RUN true
        """
        let definition = BuildDefinition(Dockerfile(parsing: text))
        let inBase = definition.variables(before: 6)
        #expect(inBase["VERSION"]?.value == "1")
        #expect(inBase["A"]?.value == "new")
        #expect(inBase["B"]?.value == "old")
        let afterArg = definition.variables(before: 7)
        #expect(afterArg["A"]?.value == "new", "ENV wins over a later ARG")
        let child = definition.variables(before: 9)
        #expect(child["A"]?.value == "new")
        #expect(child["VERSION"] == nil, "ARGs do not cross stages")
        #expect(child["PATH"] != nil)
        let global = definition.variables(before: 2)
        #expect(global["UNUSED"] != nil && global["UNUSED"]?.value == nil)
        #expect(global["TARGETARCH"]?.value == HostPlatform.architecture)
        let withBuildArg = definition.variables(before: 4, buildArguments: ["VERSION": "9"])
        #expect(withBuildArg["VERSION"]?.value == "9")
    }

    @Test func typingErrorsAreReported() {
        let definition = BuildDefinition(Dockerfile(parsing: "FROM a AS b c\nFROM a\nCOPY --chown=1 --chown=2 x y\nEXPOSE\n"))
        #expect(definition.problems.map(\.code) == ["InvalidFromArguments", "DuplicateFlag", "MissingArguments"])
        #expect(definition.allProblems.count == 3)
    }

    @Test func onbuildTriggerErrorsAreWarnings() {
        let definition = BuildDefinition(Dockerfile(parsing: "FROM a\nONBUILD FOO bar\nONBUILD ONBUILD RUN x\n"))
        #expect(definition.problems.map(\.severity) == [.warning, .error])
    }
}
