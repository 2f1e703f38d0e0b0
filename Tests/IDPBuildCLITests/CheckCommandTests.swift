import Foundation
import Testing

/// Runs the built `idpbuild` binary (next to the test runner) and captures what it prints.
struct CLI {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("idpbuild")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `run` on a thread of its own, so that a test waiting for a process does not hold one of Swift concurrency's
    /// few threads (two on a two-core machine), which the language server suites running beside it need.
    static func runDetached(_ arguments: [String], stdin: String? = nil) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try run(arguments, stdin: stdin) }) }.start()
        }
    }

    static func run(_ arguments: [String], stdin: String? = nil, in directory: URL? = nil) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? repository
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct CheckCommandTests {
    @Test func errorsGiveStatusOneInGNUFormat() throws {
        let output = try CLI.run(["check", "Fixtures/check/invalid/unknown-instructions.Dockerfile"])
        #expect(output.status == 1)
        #expect(output.stdout.hasPrefix("Fixtures/check/invalid/unknown-instructions.Dockerfile:1:1: error: unknown instruction: FORM (did you mean FROM?) [UnknownInstruction]\n"))
    }

    @Test func warningsAloneGiveStatusZero() throws {
        let output = try CLI.run(["check", "Fixtures/check/valid/backtick-escape.Dockerfile", "Fixtures/seed/Dockerfile"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("[WorkdirRelativePath]") == false)
    }

    @Test func standardInputAndIgnore() throws {
        let output = try CLI.run(["check", "-", "--ignore", "JSONArgsRecommended,MaintainerDeprecated"], stdin: "FROM a\nMAINTAINER x\nCMD run\nRUN $\n")
        #expect(output.status == 0)
        #expect(output.stdout.isEmpty)
        let warned = try CLI.run(["check", "-"], stdin: "FROM a\nCMD run\n")
        #expect(warned.stdout == "<stdin>:2:5: warning: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals [JSONArgsRecommended]\n")
    }

    @Test func jsonAndSARIFAreMachineReadable() throws {
        let json = try CLI.run(["check", "--format", "json", "Fixtures/check/invalid/lint.Dockerfile"])
        let items = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(items?.count == 9)
        #expect(items?.first?["code"] as? String == "MaintainerDeprecated")
        #expect(json.status == 0)
        let sarif = try CLI.run(["check", "--format", "sarif", "Fixtures/check/invalid/stages.Dockerfile"])
        let log = try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as? [String: Any]
        #expect(log?["version"] as? String == "2.1.0")
        let results = ((log?["runs"] as? [[String: Any]])?.first?["results"] as? [Any])
        #expect(results?.count == 12)
        #expect(sarif.status == 1)
    }

    @Test func usageErrorsGiveStatusTwo() throws {
        #expect(try CLI.run(["check", "--format", "xml", "Fixtures/seed/Dockerfile"]).status == 2)
        let unknownCode = try CLI.run(["check", "--ignore", "JSONArgsRecomended", "Fixtures/seed/Dockerfile"])
        #expect(unknownCode.status == 2)
        #expect(unknownCode.stderr.contains("did you mean JSONArgsRecommended?"))
        let missing = try CLI.run(["check", "Fixtures/nope/Dockerfile"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read Fixtures/nope/Dockerfile"))
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("idpbuild-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let noFile = try CLI.run(["check"], in: empty)
        #expect(noFile.status == 2)
        #expect(noFile.stderr.contains("no Dockerfile in the current directory"))
    }

    @Test func directoryArgumentChecksItsDockerfile() throws {
        let output = try CLI.run(["check", "Fixtures/seed"])
        #expect(output.status == 0)
        #expect(output.stdout.isEmpty)
    }

    @Test func listRulesIsTheDocumentation() throws {
        let output = try CLI.run(["check", "--list-rules"])
        let documented = try String(contentsOf: CLI.repository.appendingPathComponent("docs/CHECKS.md"), encoding: .utf8)
        #expect(output.stdout == documented)
    }
}
