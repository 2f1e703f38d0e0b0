import Foundation
import JSONRPC
import Testing

/// `idpbuild lsp` as a process: what it writes on standard output and how it exits.
@Suite struct LspCommandTests {
    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `idpbuild lsp ARGUMENTS` with `input` on standard input (then end of input), with a deadline.
    static func run(_ arguments: [String], input: Data) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("idpbuild-lsp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let inputFile = folder.appendingPathComponent("in")
        try input.write(to: inputFile)
        let outFile = folder.appendingPathComponent("out")
        let errFile = folder.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try EditorTests.linkedBinary(in: folder))
        process.arguments = ["lsp"] + arguments
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw EditorTestFailure("idpbuild lsp did not exit within 60 s")
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: outFile),
                      stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    static func frame(_ json: String) -> Data { Framing.frame(Data(json.utf8)) }

    /// Splits standard output into messages; fails on any byte that is not part of a well-formed frame.
    static func messages(_ data: Data) throws -> [JSONValue] {
        var decoder = FrameDecoder(maximumMessageSize: 1 << 30)
        decoder.append(Array(data))
        var found: [JSONValue] = []
        while let event = decoder.next() {
            guard case .message(let body) = event else { throw EditorTestFailure("standard output holds a bad frame: \(event)") }
            found.append(try JSONDecoder().decode(JSONValue.self, from: body))
        }
        guard decoder.isBetweenMessages else { throw EditorTestFailure("standard output ends inside a frame") }
        return found
    }

    @Test func standardOutputHoldsOnlyFramesWhateverTheInput() async throws {
        var input = Data("garbage before anything\r\n\r\n".utf8)
        input.append(Self.frame(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#))
        input.append(Data("Content-Length: 5\r\n\r\n{bad}".utf8))
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///a/Dockerfile","languageId":"dockerfile","version":1,"text":"FROM alpine\nRUNN x\n"}}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///a/Dockerfile"},"position":{"line":0,"character":1}}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"exit"}"#))
        let result = try await Self.run(["--stdio", "--log-level", "debug"], input: input)
        #expect(result.status == 0)
        let messages = try Self.messages(result.stdout)
        #expect(messages.filter { $0["id"] == .null && $0["error"] != nil }.count == 2)  // the two framing/JSON errors
        #expect(messages.contains { $0["id"] == 1 && $0["result"] != nil })
        #expect(messages.contains { $0["id"] == 2 && $0["result"] != nil })
        #expect(messages.contains { $0["id"] == 3 && $0["result"] == .null })
        #expect(result.stderr.contains("idpbuild lsp: info: initialized"))
    }

    @Test func exitStatusIsOneWithoutShutdownAndTwoForAWrongCommandLine() async throws {
        var input = Self.frame(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#)
        input.append(Data("Content-Length: 40\r\n\r\n{\"jsonrpc\"".utf8))  // the client vanishes mid-message
        let vanished = try await Self.run([], input: input)
        #expect(vanished.status == 1)
        #expect(try Self.messages(vanished.stdout).count == 1)
        #expect(vanished.stderr.contains("went away in the middle of a message"))
        let exitOnly = try await Self.run([], input: Self.frame(#"{"jsonrpc":"2.0","method":"exit"}"#))
        #expect(exitOnly.status == 1)
        #expect(exitOnly.stdout.isEmpty)
        let usage = try await Self.run(["--log-level", "loud"], input: Data())
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("--log-level takes error, warning, info or debug"))
        #expect(usage.stdout.isEmpty)
        let registry = try await Self.run(["--insecure-registry", "https://example.test/"], input: Data())
        #expect(registry.status == 2)
        #expect(registry.stderr.contains("--insecure-registry must be a list of host[:port] strings"), "\(registry.stderr)")
    }

    @Test func theBuildOptionsAreTheSettingsDefaults() async throws {
        var input = Self.frame(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#)
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///src/app/Dockerfile","languageId":"dockerfile","version":1,"text":"FROM alpine\n"}}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","id":2,"method":"textDocument/codeLens","params":{"textDocument":{"uri":"file:///src/app/Dockerfile"}}}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#))
        input.append(Self.frame(#"{"jsonrpc":"2.0","method":"exit"}"#))
        let result = try await Self.run(["--registry", "registry.example:5000", "--namespace", "team"], input: input)
        #expect(result.status == 0)
        let lenses = try Self.messages(result.stdout).first { $0["id"] == 2 }
        #expect(lenses?["result"]?.arrayValue?.first?["command"]?["title"] == "Build and push → registry.example:5000/team/app:latest")
    }
}
