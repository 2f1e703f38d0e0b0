import BuildService
import Foundation
import JSONRPC
import LanguageServer
import LSPTestSupport
import Testing

/// A language server running in-process over real pipes, and the client side that talks to it.
final class Harness: @unchecked Sendable {
    let client = TestClient()
    let run: Task<Int32, Never>
    private let logLines = LogLines()
    static let uri = "file:///work/project/Dockerfile"
    /// The capabilities of a current client (hierarchical symbols, Markdown, code action literals).
    static let modernClient: JSONValue = ["textDocument": [
        "documentSymbol": ["hierarchicalDocumentSymbolSupport": true],
        "hover": ["contentFormat": ["markdown", "plaintext"]],
        "completion": ["completionItem": ["documentationFormat": ["markdown"]]],
        "codeAction": ["codeActionLiteralSupport": ["codeActionKind": ["valueSet": ["quickfix", "source"]]]],
        "publishDiagnostics": ["tagSupport": ["valueSet": [1, 2]]],
    ]]

    init(commands: [any ServerCommand] = [], maximumMessageSize: Int = 16 << 20) {
        let lines = logLines
        // Builds are on, as in `idpbuild lsp` (the transcripts show its capabilities); these tests never start one.
        let server = LanguageServer(input: client.serverInput, output: client.serverOutput, options: LanguageServer.Options(
            version: "test", commands: commands, log: ServerLog(level: .debug) { lines.append($0) },
            maximumMessageSize: maximumMessageSize, builds: BuildCoordinator(config: BuilderConfig(useKubernetes: false, environment: [:]))))
        run = Task { await server.run() }
    }

    /// What the server logged.
    var log: [String] { logLines.lines }

    /// Sends `initialize` and `initialized`; returns the initialize result.
    @discardableResult
    func initialize(capabilities: JSONValue = Harness.modernClient, options: JSONValue? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["processId": nil, "rootUri": "file:///work/project", "capabilities": capabilities,
                                           "clientInfo": ["name": "harness", "version": "1"]]
        if let options { params["initializationOptions"] = options }
        let response = try await client.call("initialize", .object(params))
        guard let result = response["result"] else { throw TestClientError("initialize failed: \(response.jsonText)") }
        client.notify("initialized", [:])
        return result
    }

    func open(_ text: String, uri: String = Harness.uri, version: Int = 1) {
        client.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "dockerfile",
                                                                "version": .integer(version), "text": .string(text)]])
    }

    func change(_ changes: [JSONValue], version: Int, uri: String = Harness.uri) {
        client.notify("textDocument/didChange", ["textDocument": ["uri": .string(uri), "version": .integer(version)],
                                                 "contentChanges": .array(changes)])
    }

    /// The diagnostics published for `version` (skipping older publications).
    func diagnostics(version: Int?, uri: String = Harness.uri) async throws -> [JSONValue] {
        let message = try await client.notification("textDocument/publishDiagnostics") {
            $0.at("params.uri") == .string(uri) && $0.at("params.version") == version.map { .integer($0) }
        }
        return message.at("params.diagnostics")?.arrayValue ?? []
    }

    /// A request about the test document.
    func request(_ method: String, _ params: [String: JSONValue], uri: String = Harness.uri) async throws -> JSONValue {
        var full = params
        full["textDocument"] = ["uri": .string(uri)]
        let response = try await client.call(method, .object(full))
        if let error = response["error"] { throw TestClientError("\(method) failed: \(error.jsonText)") }
        return response["result"] ?? .null
    }

    /// `shutdown` then `exit`; returns the exit status.
    func finish() async throws -> Int32 {
        let response = try await client.call("shutdown")
        #expect(response["result"] == .null)
        client.notify("exit")
        return await run.value
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

func position(_ line: Int, _ character: Int) -> JSONValue { ["line": .integer(line), "character": .integer(character)] }

func range(_ startLine: Int, _ startCharacter: Int, _ endLine: Int, _ endCharacter: Int) -> JSONValue {
    ["start": position(startLine, startCharacter), "end": position(endLine, endCharacter)]
}

extension Array where Element == JSONValue {
    /// The `code` of each diagnostic.
    var codes: [String] { compactMap { $0["code"]?.stringValue } }
}

/// Applies LSP text edits (UTF-16 positions) to a text, as an editor would.
func apply(_ edits: [JSONValue], to text: String) -> String {
    var lines = text.components(separatedBy: "\n").map { Array($0.utf16) }
    func index(_ position: JSONValue) -> (Int, Int) { (position["line"]!.intValue!, position["character"]!.intValue!) }
    let sorted = edits.sorted {
        let a = index($0["range"]!["start"]!), b = index($1["range"]!["start"]!)
        return a.0 != b.0 ? a.0 > b.0 : a.1 > b.1
    }
    for edit in sorted {
        let (startLine, startCharacter) = index(edit["range"]!["start"]!)
        let (endLine, endCharacter) = index(edit["range"]!["end"]!)
        let before = Array(lines[startLine].prefix(startCharacter))
        let after = endLine < lines.count ? Array(lines[endLine].dropFirst(endCharacter)) : []
        let inserted = (String(decoding: before, as: UTF16.self) + edit["newText"]!.stringValue! + String(decoding: after, as: UTF16.self))
            .components(separatedBy: "\n").map { Array($0.utf16) }
        lines.replaceSubrange(startLine...min(endLine, lines.count - 1), with: inserted)
    }
    return lines.map { String(decoding: $0, as: UTF16.self) }.joined(separator: "\n")
}

/// Polls `condition` until it holds or `timeout` seconds pass.
func waitUntil(_ what: String, timeout: Double = 20, _ condition: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { throw TestClientError("timed out after \(timeout) s waiting for \(what)") }
        try await Task.sleep(nanoseconds: 2_000_000)
    }
}
