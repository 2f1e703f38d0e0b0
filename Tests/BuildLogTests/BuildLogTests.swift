import BuildEvents
import BuildLog
import DockerfileSyntax
import Foundation
import Systemd
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Collects entries a journal would get.
final class EntryRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [JournalEntry] = []
    var entries: [JournalEntry] { lock.withLock { items } }
    var send: @Sendable (JournalEntry) throws(SystemdError) -> Void {
        { [self] entry throws(SystemdError) in lock.withLock { items.append(entry) } }
    }
}

@Suite struct BuildJournalTests {
    static func range(line: Int) -> SourceRange {
        SourceRange(start: Position(line: line, character: 0), end: Position(line: line, character: 10), startOffset: 0, endOffset: 10)
    }

    @Test func eventsBecomeEntriesWithTheBuildsFields() throws {
        let recorder = EntryRecorder()
        let journal = BuildJournal(buildID: "b1", image: "registry.test/giteaadmin/seed:latest", dockerfile: "/src/Dockerfile",
                                   redactor: SecretRedactor(secrets: ["s3cr3t-value"]), send: recorder.send)
        var started = BuildEvent(.stepStarted)
        started.step = 3
        started.totalSteps = 4
        started.stage = "stage-0"
        started.instruction = "RUN make"
        started.range = Self.range(line: 6)
        journal.record(started)
        var output = BuildEvent(.output)
        output.step = 3
        output.line = "using s3cr3t-value"
        output.stream = "stderr"
        journal.record(output)
        var bytes = BuildEvent(.bytes)
        bytes.bytes = 10
        journal.record(bytes)
        var failed = BuildEvent(.stepFailed)
        failed.step = 3
        failed.range = Self.range(line: 6)
        failed.exitCode = 2
        failed.message = "RUN make (line 7) failed with exit code 2"
        journal.record(failed)
        journal.record(.warning("the base image is old"))
        journal.record(.finished(BuildSummary(success: false, error: "RUN make (line 7) failed")))
        let entries = recorder.entries
        #expect(entries.count == 5, "byte counts are not logged")
        #expect(entries.allSatisfy { $0["IDPBUILD_BUILD_ID"] == "b1" && $0["IDPBUILD_IMAGE"] == "registry.test/giteaadmin/seed:latest" && $0["CODE_FILE"] == "/src/Dockerfile" })
        #expect(entries[0].message == "#3 [stage-0] RUN make" && entries[0]["CODE_LINE"] == "7" && entries[0]["IDPBUILD_STEP"] == "3")
        #expect(entries[0].priority == .info && entries[0]["IDPBUILD_EVENT"] == "stepStarted")
        #expect(entries[1].message == "#3 using [redacted]" && entries[1]["CODE_LINE"] == "7" && entries[1]["IDPBUILD_STREAM"] == "stderr")
        #expect(entries[1].priority == .notice)
        #expect(entries[2].priority == .error && entries[2]["IDPBUILD_EXIT_CODE"] == "2" && entries[2]["CODE_LINE"] == "7")
        #expect(entries[3].message == "warning: the base image is old" && entries[3].priority == .warning && entries[3]["IDPBUILD_STEP"] == nil)
        #expect(entries[4].message == "build failed: RUN make (line 7) failed" && entries[4].priority == .error)
        #expect(journal.sendFailure == nil)
    }

    static func output(_ line: String, step: Int = 2, stream: String = "stdout") -> BuildEvent {
        var event = BuildEvent(.output)
        event.step = step
        event.line = line
        event.stream = stream
        return event
    }

    @Test func outputLinesAreGatheredUntilTheStepOrStreamChanges() {
        let recorder = EntryRecorder()
        let journal = BuildJournal(image: "img", dockerfile: "/Dockerfile", flushDelay: 60, send: recorder.send)
        var started = BuildEvent(.stepStarted)
        started.step = 2
        started.range = Self.range(line: 4)
        journal.record(started)
        for index in 1...3 { journal.record(Self.output("line \(index)")) }
        journal.record(Self.output("to stderr", stream: "stderr"))
        journal.record(Self.output("back"))
        #expect(recorder.entries.count == 3, "the last batch waits")
        journal.flush()
        let entries = recorder.entries
        #expect(entries.map(\.message) == ["#2 [] ", "#2 line 1\n#2 line 2\n#2 line 3", "#2 to stderr", "#2 back"])
        #expect(entries[1]["IDPBUILD_LINES"] == "3" && entries[1]["CODE_LINE"] == "5" && entries[1]["IDPBUILD_STREAM"] == "stdout")
        #expect(entries[2].priority == .notice && entries[2]["IDPBUILD_LINES"] == "1")
        journal.flush()
        #expect(recorder.entries.count == 4, "flushing twice sends nothing more")
    }

    @Test func aBatchIsSentWhenItIsFullOrHasWaitedTheFlushDelay() async throws {
        let recorder = EntryRecorder()
        let journal = BuildJournal(image: "img", dockerfile: "/Dockerfile", flushDelay: 0.05, send: recorder.send)
        let long = String(repeating: "x", count: 1_000)
        for _ in 0..<20 { journal.record(Self.output(long)) }  // 20 KB: more than one batch
        #expect(recorder.entries.count == 1 && recorder.entries[0]["IDPBUILD_LINES"].flatMap(Int.init) ?? 0 < 20)
        let deadline = Date().addingTimeInterval(10)
        while recorder.entries.count < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        let lines = recorder.entries.compactMap { $0["IDPBUILD_LINES"].flatMap(Int.init) }
        #expect(lines.reduce(0, +) == 20, "the timer sent the rest: \(lines)")
    }

    @Test func stepLinesAndASuccessfulEndReadLikeTheTerminalLog() throws {
        let journal = BuildJournal(image: "img", dockerfile: "/Dockerfile", send: { _ throws(SystemdError) in })
        #expect(journal.buildID.count == 32)
        var cached = BuildEvent(.stepCached)
        cached.step = 1
        #expect(journal.entry(for: cached)?.message == "#1 CACHED")
        var done = BuildEvent(.stepDone)
        done.step = 2
        done.durationMs = 1_234
        #expect(journal.entry(for: done)?.message == "#2 DONE 1.2s")
        let success = journal.entry(for: .finished(BuildSummary(success: true, manifestDigest: "sha256:ab", tags: ["img"], pushedReference: "r/img:1",
                                                               pushedDigest: "sha256:cd", stepsCached: 1, stepsRun: 2)))
        #expect(success?.message == "built r/img:1 sha256:cd (1 cached, 2 run)" && success?.priority == .info)
        #expect(journal.entry(for: BuildEvent(.finished)) == nil)
        var unnumbered = BuildEvent(.stepFailed)
        unnumbered.range = Self.range(line: 0)
        #expect(journal.entry(for: unnumbered)?["CODE_LINE"] == "1")
    }

    @Test func entriesThatCannotBeSentAreCounted() {
        let journal = BuildJournal(image: "img", dockerfile: "/Dockerfile", send: { _ throws(SystemdError) in throw .journalUnavailable(errno: ECONNREFUSED) })
        journal.record(.warning("one"))
        journal.record(.warning("two"))
        #expect(journal.sendFailure?.count == 2)
        #expect(journal.sendFailure?.error == .journalUnavailable(errno: ECONNREFUSED))
    }
}

@Suite struct JournalLogAndDestinationTests {
    @Test func logLinesKeepTheirPriorityAndComponent() {
        let recorder = EntryRecorder()
        let log = JournalLog(component: "lsp", send: recorder.send)
        #expect(log.log(.warning, "Authorization: Bearer x", session: 2))
        log.log(.error, "e")
        log.log(.info, "i")
        log.log(.debug, "d")
        let entries = recorder.entries
        #expect(entries.map(\.priority) == [.warning, .error, .info, .debug])
        #expect(entries[0].message == "Authorization: [redacted]" && entries[0]["IDPBUILD_SESSION"] == "2" && entries[0]["IDPBUILD_COMPONENT"] == "lsp")
        #expect(entries[1]["IDPBUILD_SESSION"] == nil)
        let failing = JournalLog(component: "lsp", send: { _ throws(SystemdError) in throw .journalUnavailable(errno: EPIPE) })
        #expect(!failing.log(.info, "lost"))
    }

    @Test func autoPicksTheJournalOnlyWhenStandardErrorIsIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString)").path
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        var status = stat()
        fstat(fd, &status)
        let environment = ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"]
        #expect(LogDestination.auto.resolved(environment: environment, standardError: fd) == .journald)
        #expect(LogDestination.auto.resolved(environment: [:], standardError: fd) == .stderr)
        #expect(LogDestination.stderr.resolved(environment: environment, standardError: fd) == .stderr)
        #expect(LogDestination.journald.resolved(environment: [:], standardError: fd) == .journald)
        if !Journal.isAvailable { #expect(LogDestination.journaldProblem()?.contains("use --log stderr") == true) }
    }
}
