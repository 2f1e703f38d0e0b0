import Foundation
import JSONRPC
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Logs to journald through libsystemd's native protocol, received by a real datagram socket the test binds and
/// mounts at journald's path (/run/systemd/journal/socket) inside a mount namespace made with unshare(1) for the
/// child alone (as root; otherwise in a user namespace of its own).
@Suite struct JournaldTests {
    /// The wrapper that runs a command with the test's socket at journald's path.
    static func inJournalNamespace(_ command: [String], journalFolder: String) -> [String] {
        let script = """
            set -e
            if [ ! -d /run/systemd/journal ]; then
              if [ -d /run/systemd ]; then mount -t tmpfs -o mode=0755 tmpfs /run/systemd; else mount -t tmpfs -o mode=0755 tmpfs /run; fi
              mkdir -p /run/systemd/journal
            fi
            mount --bind "$IDPBUILD_TEST_JOURNAL" /run/systemd/journal
            exec "$@"
            """
        let unshare = getuid() == 0 ? ["/usr/bin/unshare", "--mount", "--propagation", "private"]
                                    : ["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
        return unshare + ["/bin/sh", "-c", script, "sh"] + command
    }

    /// A build context: busybox from Debian's busybox-static and a Dockerfile whose RUN writes to both streams and
    /// prints a build secret (which must never reach the journal).
    static func context(in scratch: Scratch) throws -> (context: String, dockerfile: String, secret: String) {
        let context = scratch.file("context")
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context + "/busybox")
        let dockerfile = context + "/Dockerfile"
        try """
            FROM scratch
            COPY busybox /bin/busybox
            RUN --mount=type=secret,id=tok ["/bin/busybox", "sh", "-c", "echo line-one; echo warn-two >&2; /bin/busybox cat /run/secrets/tok; echo"]
            """.write(toFile: dockerfile, atomically: true, encoding: .utf8)
        let secret = scratch.file("secret")
        try "tok-s3cr3t-value-42".write(toFile: secret, atomically: true, encoding: .utf8)
        return (context, dockerfile, secret)
    }

    static func entries(_ datagrams: [[UInt8]]) -> [NativeEntry] { datagrams.map(NativeEntry.init) }

    @Test func buildOutputReachesTheJournalWithItsFieldsAndWithoutSecrets() async throws {
        let scratch = try Scratch("journal")
        chmod(scratch.path, 0o755)
        try FileManager.default.createDirectory(atPath: scratch.file("journal"), withIntermediateDirectories: true)
        let journal = try DatagramListener(path: scratch.file("journal/socket"))
        let (context, dockerfile, secret) = try Self.context(in: scratch)
        let build = try Child(Self.inJournalNamespace([idpbuild, "build", "--no-push", "--no-cache", "--root", scratch.file("store"),
                                                       "-t", "journal-test", "--log", "journald", "--secret", "id=tok,src=\(secret)", context],
                                                      journalFolder: scratch.file("journal")),
                              environment: childEnvironment(["IDPBUILD_TEST_JOURNAL": scratch.file("journal")]), in: scratch, name: "build")
        #expect(try await build.exitStatus(within: 120) == 0, "\(build.standardError)")
        let entries = Self.entries(journal.drain())
        let image = "gitea.cnoe.localtest.me:8443/giteaadmin/journal-test:latest"
        #expect(build.standardOutput.hasPrefix(image + " sha256:"))
        #expect(!build.standardError.contains("line-one"), "step output went to stderr as well")
        // Output lines of one stream travel together (one MESSAGE line each); stdout and stderr never share an entry.
        let lines = { (entry: NativeEntry) in entry["MESSAGE"]?.components(separatedBy: "\n") ?? [] }
        let output = try #require(entries.first { lines($0).contains("#3 line-one") }, "no entry for the RUN's output among \(entries.count)")
        #expect(output["PRIORITY"] == "6")
        #expect(output["IDPBUILD_STEP"] == "3" && output["IDPBUILD_STREAM"] == "stdout" && output["IDPBUILD_EVENT"] == "output")
        #expect(output["CODE_FILE"] == dockerfile && output["CODE_LINE"] == "3")
        #expect(output["IDPBUILD_IMAGE"] == image && output["SYSLOG_IDENTIFIER"] == "idpbuild")
        let buildID = try #require(output["IDPBUILD_BUILD_ID"])
        #expect(entries.allSatisfy { $0["IDPBUILD_BUILD_ID"] == buildID }, "one build, one IDPBUILD_BUILD_ID")
        #expect(entries.first { lines($0).contains("#3 warn-two") }?["PRIORITY"] == "5")
        #expect(entries.contains { lines($0).contains("#3 [redacted]") && $0["IDPBUILD_STREAM"] == "stdout" })
        #expect(entries.first { $0["IDPBUILD_EVENT"] == "stepStarted" && $0["IDPBUILD_STEP"] == "2" }?["CODE_LINE"] == "2")
        #expect(entries.last?["IDPBUILD_EVENT"] == "finished" && entries.last?["MESSAGE"]?.hasPrefix("built \(image) sha256:") == true)
        let everything = journal.drain().map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(!everything.contains("tok-s3cr3t-value-42"), "the secret reached the journal")
    }

    @Test func underSystemdTheJournalStreamSendsTheBuildToTheJournal() async throws {
        let scratch = try Scratch("stream")
        chmod(scratch.path, 0o755)
        try FileManager.default.createDirectory(atPath: scratch.file("journal"), withIntermediateDirectories: true)
        let journal = try DatagramListener(path: scratch.file("journal/socket"))
        let (context, _, secret) = try Self.context(in: scratch)
        // systemd sets JOURNAL_STREAM to the DEVICE:INODE of the service's stderr; here stderr is a file of ours.
        let stderrPath = scratch.file("stderr")
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        var status = stat()
        fstat(handle.fileDescriptor, &status)
        let build = try Child(Self.inJournalNamespace([idpbuild, "build", "--no-push", "--no-cache", "--root", scratch.file("store"),
                                                       "-t", "stream-test", "--secret", "id=tok,src=\(secret)", context],
                                                      journalFolder: scratch.file("journal")),
                              environment: childEnvironment(["IDPBUILD_TEST_JOURNAL": scratch.file("journal"),
                                                             "JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"]),
                              in: scratch, name: "build", errorHandle: handle)
        #expect(try await build.exitStatus(within: 120) == 0)
        try handle.close()
        let entries = Self.entries(journal.drain())
        #expect(entries.contains { $0["MESSAGE"]?.components(separatedBy: "\n").contains("#3 line-one") == true
            && $0["IDPBUILD_IMAGE"]?.hasSuffix("/stream-test:latest") == true })
        let written = try String(contentsOfFile: stderrPath, encoding: .utf8)
        #expect(!written.contains("line-one"), "with JOURNAL_STREAM set to stderr the step log must go to the journal only: \(written)")
    }

    @Test func languageServerLogsGoToTheJournalWithTheirPriorities() async throws {
        let scratch = try Scratch("lspjournal")
        chmod(scratch.path, 0o755)
        try FileManager.default.createDirectory(atPath: scratch.file("journal"), withIntermediateDirectories: true)
        let journal = try DatagramListener(path: scratch.file("journal/socket"))
        var input = Framing.frame(Data(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"journal-editor"}}}"#.utf8))
        input.append(Framing.frame(Data(#"{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"file:///nope","version":2},"contentChanges":[]}}"#.utf8)))
        input.append(Framing.frame(Data(#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#.utf8)))
        input.append(Framing.frame(Data(#"{"jsonrpc":"2.0","method":"exit"}"#.utf8)))
        try input.write(to: URL(fileURLWithPath: scratch.file("input")))
        let server = try Child(Self.inJournalNamespace([idpbuild, "lsp", "--log", "journald", "--log-level", "debug"], journalFolder: scratch.file("journal")),
                               environment: childEnvironment(["IDPBUILD_TEST_JOURNAL": scratch.file("journal")]), in: scratch, name: "lsp",
                               input: try FileHandle(forReadingFrom: URL(fileURLWithPath: scratch.file("input"))))
        #expect(try await server.exitStatus() == 0)
        let entries = Self.entries(journal.drain())
        let initialized = try #require(entries.first { $0["MESSAGE"]?.hasPrefix("initialized by journal-editor") == true })
        #expect(initialized["PRIORITY"] == "6" && initialized["IDPBUILD_COMPONENT"] == "lsp" && initialized["SYSLOG_IDENTIFIER"] == "idpbuild")
        #expect(entries.contains { $0["PRIORITY"] == "4" && $0["MESSAGE"]?.contains("file:///nope") == true })
        #expect(entries.contains { $0["PRIORITY"] == "7" })
        #expect(!server.standardError.contains("initialized by"), "the log went to stderr as well")
    }
}
