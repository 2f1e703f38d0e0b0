import BuildEngine
import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import JSONRPC
@testable import LanguageServer
import LSPTypes
import Testing

/// The pieces that need no build: anchoring diagnostics, progress arithmetic, URIs.
@Suite struct BuildPieceTests {
    @Test func anchoredDiagnosticsFollowTheirInstructionAndVanishWhenItChanges() throws {
        let built = Dockerfile(parsing: "FROM a\nRUN x\nRUN y\nRUN x\n")
        let diagnostic = LSPTypes.Diagnostic(range: LSPRange(start: LSPTypes.Position(line: 0, character: 0), end: LSPTypes.Position(line: 0, character: 0)),
                                                   severity: .error, code: "RunFailed", codeDescription: nil, source: "idpbuild build",
                                                   message: "failed", tags: nil)
        // The second "RUN x" (line 3) failed.
        let anchor = try #require(AnchoredDiagnostic.anchor(at: built.instructions[3].range, in: built, diagnostic: diagnostic))
        #expect(anchor.occurrence == 1 && anchor.instructionText == Array("RUN x".utf8))
        func located(_ text: String) -> [Int] {
            let dockerfile = Dockerfile(parsing: text)
            let converter = PositionConverter(source: dockerfile.source, encoding: .utf16)
            return AnchoredDiagnostic.locate([anchor], in: dockerfile, converter: converter).map(\.range.start.line)
        }
        #expect(located("FROM a\nRUN x\nRUN y\nRUN x\n") == [3])
        #expect(located("# new\nFROM a\nRUN x\nRUN y\nRUN x\n") == [4])
        #expect(located("FROM a\nRUN x\nRUN y\nRUN x --changed\n") == [])
        #expect(located("FROM a\nRUN y\nRUN x\n") == [])
        // A multi-line instruction keeps its whole range.
        let multi = Dockerfile(parsing: "FROM a\nRUN one \\\n  two\n")
        let multiAnchor = try #require(AnchoredDiagnostic.anchor(at: multi.instructions[1].range, in: multi, diagnostic: diagnostic))
        let placed = AnchoredDiagnostic.locate([multiAnchor], in: multi, converter: PositionConverter(source: multi.source, encoding: .utf8))
        #expect(placed.first?.range == LSPRange(start: LSPTypes.Position(line: 1, character: 0), end: LSPTypes.Position(line: 2, character: 5)))
    }

    @Test func progressCountsStepsThenPushedBytes() {
        var progress = BuildProgress(push: true, reference: "r")
        var started = BuildEvent(.stepStarted)
        started.step = 3
        started.totalSteps = 5
        started.instruction = "RUN make"
        started.stage = "stage-0"
        let update = progress.apply(started)
        #expect(update.report == "step 3/5: RUN make")
        #expect(update.stepChanged)
        #expect(update.log.map(\.0) == ["#3 [stage-0] RUN make"])
        #expect(progress.percentage == 32)
        var cached = BuildEvent(.stepCached)
        cached.step = 3
        cached.instruction = "RUN make"
        #expect(progress.apply(cached).report == "step 3/5: RUN make (cached)")
        var pushed = BuildEvent(.bytes)
        pushed.phase = "push"
        pushed.message = "sha256:a"
        pushed.bytes = 500_000
        pushed.totalBytes = 1_000_000
        #expect(progress.apply(pushed).report == "pushing r: 0.5 MB of 1.0 MB (1 blob)")
        #expect(progress.percentage == 90)
        var failed = BuildEvent(.stepFailed)
        failed.step = 4
        // The editor's text travels with the job: messages name the real Dockerfile, no private copy to map back.
        failed.message = "COPY x /x (line 4): source \"x\" not found in /src/Dockerfile"
        let failure = progress.apply(failed)
        #expect(failure.log.first?.0 == "#4 ERROR COPY x /x (line 4): source \"x\" not found in /src/Dockerfile")
        #expect(failure.log.first?.1 == .error)
        #expect(progress.failure?.step == 4)
        var pull = BuildProgress(push: false, reference: "r")
        var pulled = BuildEvent(.bytes)
        pulled.phase = "pull"
        pulled.message = "sha256:b"
        pulled.bytes = 2_000_000
        pulled.totalBytes = 4_000_000
        #expect(pull.apply(pulled).report == "pulling the base image: 2.0 MB of 4.0 MB")
        #expect(EditorBuild.message(failed).hasPrefix("COPY x /x (line 4)"))
        var run = BuildEvent(.stepFailed)
        run.exitCode = 2
        run.tail = (1...12).map { "line \($0)" }
        #expect(EditorBuild.message(run) == "this RUN failed with exit code 2; its last output:\n" + (3...12).map { "line \($0)" }.joined(separator: "\n"))
    }

    @Test func fileURIsAndPaths() {
        #expect(DocumentURI.path(of: "file:///src/My%20App/Dockerfile") == "/src/My App/Dockerfile")
        #expect(DocumentURI.path(of: "file://localhost/src/Dockerfile") == "/src/Dockerfile")
        #expect(DocumentURI.path(of: "file:///src/./a/../Dockerfile") == "/src/Dockerfile")
        #expect(DocumentURI.path(of: "untitled:Untitled-1") == nil)
        #expect(DocumentURI.uri(forPath: "/src/My App/Dockerfile") == "file:///src/My%20App/Dockerfile")
        #expect(BuildFeatures.runningTitle(BuildCoordinator.Status(dockerfilePath: "/x", reference: "r", push: true, step: 3, totalSteps: 7,
                                                                   startedAt: Date(), session: 1)) == "Building… step 3/7 — cancel")
    }
}
