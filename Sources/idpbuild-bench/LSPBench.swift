import ArgumentParser
import DockerfileSyntax
import Foundation
import JSONRPC
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild-bench lsp`: keystroke-to-diagnostics latency on a 5,000-line document, and the time from process start
/// to the `initialize` response, measured against the real `idpbuild lsp` binary over pipes.
struct LSPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Measure idpbuild lsp: didChange → publishDiagnostics on a 5,000-line document (target p99 ≤ 10 ms) and start → initialize response (target ≤ 50 ms).",
        discussion: "Build both in release first: swift build -c release --product idpbuild && swift run -c release idpbuild-bench lsp"
    )

    @Option(help: "The idpbuild binary (default: the one next to this benchmark).")
    var binary: String?

    @Option(help: "Lines in the edited document.")
    var lines = 5_000

    @Option(help: "Keystrokes measured per document profile (after 20 warm-up keystrokes).")
    var keystrokes = 500

    @Option(help: "Server starts measured.")
    var starts = 40

    @Option(help: "Document profiles: typical, dense. Default: both.")
    var profile: [DockerfileGenerator.Profile] = DockerfileGenerator.Profile.allCases

    func run() throws {
        let path = binary ?? URL(fileURLWithPath: Swift.CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("idpbuild").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("no idpbuild binary at \(path): build it with `swift build -c release --product idpbuild`, or pass --binary")
        }
        print("idpbuild lsp benchmark — \(path)")
        var startTimes: [Double] = []
        for _ in 0..<starts {
            let server = try LSPProcess(binary: path)
            startTimes.append(try server.initialize())
            try server.stop()
        }
        print(String(format: "start → initialize response (%d starts): median %.1f ms, p99 %.1f ms, max %.1f ms (target ≤ 50 ms)",
                     starts, percentile(startTimes, 0.5), percentile(startTimes, 0.99), startTimes.max() ?? 0))
        for profile in profile {
            try measureKeystrokes(path, profile)
        }
    }

    private func measureKeystrokes(_ path: String, _ profile: DockerfileGenerator.Profile) throws {
        let text = DockerfileGenerator.generate(lines: lines, profile: profile)
        let dockerfile = Dockerfile(parsing: text)
        let server = try LSPProcess(binary: path)
        _ = try server.initialize()
        let uri = "file:///bench/Dockerfile"
        server.send(method: "textDocument/didOpen", params: ["textDocument": ["uri": .string(uri), "languageId": "dockerfile",
                                                                              "version": 1, "text": .string(text)]])
        let opened = try server.waitForDiagnostics(version: 1)
        // Type on a RUN line in the middle of the file: a character, then delete it, and so on.
        let middle = dockerfile.instructions[dockerfile.instructions.count / 2]
        let target = dockerfile.instructions[(dockerfile.instructions.count / 2)...].first { $0.kind == .run } ?? middle
        let line = target.keyword.range.start.line
        let column = target.keyword.range.end.character + 1
        var latencies: [Double] = []
        var version = 1
        for index in 0..<(keystrokes + 20) {
            version += 1
            let typing = index % 2 == 0
            let change: JSONValue = typing
                ? ["range": range(line, column, line, column), "text": "x"]
                : ["range": range(line, column, line, column + 1), "text": ""]
            let sent = DispatchTime.now().uptimeNanoseconds
            server.send(method: "textDocument/didChange", params: ["textDocument": ["uri": .string(uri), "version": .integer(version)],
                                                                   "contentChanges": [change]])
            _ = try server.waitForDiagnostics(version: version)
            let latency = Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6
            if index >= 20 { latencies.append(latency) }
        }
        try server.stop()
        print(String(format: "%@ document, %d lines, %d instructions, %d diagnostics: didChange → publishDiagnostics over %d keystrokes: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 ≤ 10 ms)",
                      profile.rawValue, source(text).lineCount, dockerfile.instructions.count, opened, latencies.count,
                      percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99), latencies.max() ?? 0))
    }

    private func source(_ text: String) -> SourceText { SourceText(text) }

    private func range(_ line: Int, _ start: Int, _ endLine: Int, _ end: Int) -> JSONValue {
        ["start": ["line": .integer(line), "character": .integer(start)], "end": ["line": .integer(endLine), "character": .integer(end)]]
    }

    private func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
    }
}

/// An `idpbuild lsp` process and a blocking client for it.
final class LSPProcess {
    private let process = Process()
    private let input: FileHandle
    private let output: Int32
    private var decoder = FrameDecoder(maximumMessageSize: 1 << 30)
    private var nextID = 0
    private let started: UInt64

    init(binary: String) throws {
        let stdin = Pipe()
        let stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["lsp", "--log-level", "error"]
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        started = DispatchTime.now().uptimeNanoseconds
        try process.run()
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading.fileDescriptor
    }

    /// Sends `initialize` and `initialized`; returns the milliseconds from process start to the response.
    func initialize() throws -> Double {
        let id = request("initialize", ["processId": nil, "rootUri": nil, "capabilities": [:]])
        _ = try waitFor { $0.id == id }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        send(method: "initialized", params: [:])
        return elapsed
    }

    func stop() throws {
        let id = request("shutdown", nil)
        _ = try waitFor { $0.id == id }
        send(method: "exit", params: nil)
        try? input.close()
        process.waitUntilExit()
    }

    func send(method: String, params: JSONValue?) {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        write(.object(message))
    }

    private func request(_ method: String, _ params: JSONValue?) -> Int {
        nextID += 1
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .integer(nextID), "method": .string(method)]
        if let params { message["params"] = params }
        write(.object(message))
        return nextID
    }

    private func write(_ message: JSONValue) {
        input.write(Framing.frame(try! JSONText.encoder().encode(message)))
    }

    /// Waits for the diagnostics of `version`; returns how many there are.
    func waitForDiagnostics(version: Int) throws -> Int {
        try waitFor { $0.method == "textDocument/publishDiagnostics" && $0.params?.version == version }.params?.diagnostics?.count ?? 0
    }

    struct Envelope: Decodable {
        struct Params: Decodable {
            var version: Int?
            var diagnostics: [Skipped]?
        }
        struct Skipped: Decodable {}
        var id: Int?
        var method: String?
        var params: Params?
    }

    private func waitFor(_ predicate: (Envelope) -> Bool) throws -> Envelope {
        let deadline = Date().addingTimeInterval(60)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while Date() < deadline {
            while let event = decoder.next() {
                guard case .message(let body) = event else { continue }
                let envelope = try JSONDecoder().decode(Envelope.self, from: body)
                if predicate(envelope) { return envelope }
            }
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1_000) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            guard count > 0 else { throw ValidationError("the server closed its output") }
            decoder.append(Array(buffer[0..<count]))
        }
        throw ValidationError("no answer from the server within 60 s")
    }
}
