import BuildService
import BuildTestSupport
import Foundation
import JSONRPC
import LanguageServer
import LSPTestSupport
import SandboxTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A language server running in-process over real pipes whose builds run in the real worker process (the built
/// `idpbuild`, started through a link in the session's folder so other suites' process checks never see it), against
/// Debian's docker-registry on 127.0.0.1 with the busybox base image as `alpine:3.19`. Everything lives in one
/// folder that `stop()` removes.
final class BuildSession: @unchecked Sendable {
    let folder: String
    let base: BaseImageRegistry
    let client = TestClient()
    let coordinator: BuildCoordinator
    let run: Task<Int32, Never>
    private let logLines = LogLines()

    /// The idpbuild executable built next to the test bundle.
    static let idpbuild: String = {
        let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("idpbuild").path
    }()

    /// Starts the registry and the server; `configure` adjusts the builder settings (credentials, registry).
    init(_ label: String, base existing: BaseImageRegistry? = nil, configure: (inout BuilderConfig) -> Void = { _ in }) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.idpbuild) else {
            throw TestFailure("\(Self.idpbuild) is missing: build the idpbuild product first (swift build --build-tests does)")
        }
        var template = Array("/tmp/idpbuild-editor-build-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestFailure("mkdtemp failed") }
        folder = String(cString: made)
        chmod(folder, 0o755)
        do {
            if let existing { base = existing } else { base = try await BaseImageRegistry(directory: folder) }
            let worker = folder + "/idpbuild"
            try FileManager.default.createSymbolicLink(atPath: worker, withDestinationPath: Self.idpbuild)
            try FileManager.default.createDirectory(atPath: folder + "/tmp", withIntermediateDirectories: true)
            var config = BuilderConfig(registry: base.host, insecureRegistries: [base.host], registriesConf: base.registriesConf,
                                       storeRoot: folder + "/store", workerExecutable: worker, useKubernetes: false, environment: [:])
            configure(&config)
            coordinator = BuildCoordinator(config: config, temporaryDirectory: folder + "/tmp")
        } catch {
            removeTreeAsNamespaceRoot(folder)
            throw error
        }
        var settings = ServerSettings()
        settings.registry = base.host
        settings.insecureRegistries = [base.host]
        let lines = logLines
        let server = LanguageServer(input: client.serverInput, output: client.serverOutput, options: LanguageServer.Options(
            version: "test", log: ServerLog(level: .debug) { lines.append($0) }, builds: coordinator, settings: settings))
        run = Task { await server.run() }
    }

    /// What the server logged.
    var log: [String] { logLines.lines }

    /// `initialize` and `initialized`.
    @discardableResult
    func initialize(capabilities: JSONValue = [:], options: JSONValue? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["processId": nil, "rootUri": .string("file://" + folder), "capabilities": capabilities]
        if let options { params["initializationOptions"] = options }
        let response = try await client.call("initialize", .object(params))
        guard let result = response["result"] else { throw TestClientError("initialize failed: \(response.jsonText)") }
        client.notify("initialized", [:])
        return result
    }

    /// Copies a fixture folder (under Fixtures/) into the session's folder as `name`; returns the copy's path.
    func copyFixture(_ fixture: String, as name: String) throws -> String {
        let target = folder + "/" + name
        try TestSupport.check(["cp", "-R", TestSupport.fixtures.appendingPathComponent(fixture).path, target])
        return target
    }

    /// Writes a context folder with a Dockerfile (and files); returns the folder.
    func context(_ name: String, dockerfile: String, files: [String: String] = [:]) throws -> String {
        let target = folder + "/" + name
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try dockerfile.write(toFile: target + "/Dockerfile", atomically: true, encoding: .utf8)
        for (file, text) in files { try text.write(toFile: target + "/" + file, atomically: true, encoding: .utf8) }
        return target
    }

    /// Opens a file (its text on disk, or `text`); returns its URI.
    @discardableResult
    func open(_ path: String, text: String? = nil, version: Int = 1) throws -> String {
        let uri = "file://" + path
        let content = try text ?? String(contentsOfFile: path, encoding: .utf8)
        client.notify("textDocument/didOpen", ["textDocument": ["uri": .string(uri), "languageId": "dockerfile",
                                                                "version": .integer(version), "text": .string(content)]])
        return uri
    }

    /// Sends `workspace/executeCommand`; returns the request id.
    func execute(_ command: String, _ arguments: [JSONValue]? = nil, token: JSONValue? = nil) -> Int {
        var params: [String: JSONValue] = ["command": .string(command)]
        if let arguments { params["arguments"] = .array(arguments) }
        if let token { params["workDoneToken"] = token }
        return client.request("workspace/executeCommand", .object(params))
    }

    /// Runs a command and returns its response (result or error).
    func call(_ command: String, _ arguments: [JSONValue]? = nil, token: JSONValue? = nil, timeout: Double = 120) async throws -> JSONValue {
        try await client.response(to: execute(command, arguments, token: token), timeout: timeout)
    }

    /// The `$/progress` values sent for a token so far.
    func progress(_ token: JSONValue) -> [JSONValue] {
        client.transcript.filter { $0["method"] == "$/progress" && $0.at("params.token") == token }.compactMap { $0.at("params.value") }
    }

    /// Every `window/logMessage` text so far, joined.
    var logMessages: String {
        client.transcript.filter { $0["method"] == "window/logMessage" }.compactMap { $0.at("params.message")?.stringValue }
            .joined(separator: "\n")
    }

    /// The diagnostics published for `uri` at `version` that satisfy `predicate`.
    func diagnostics(_ uri: String, version: Int, timeout: Double = 20,
                     where predicate: @escaping ([JSONValue]) -> Bool = { _ in true }) async throws -> [JSONValue] {
        let message = try await client.notification("textDocument/publishDiagnostics", timeout: timeout) {
            $0.at("params.uri") == .string(uri) && $0.at("params.version") == .integer(version)
                && predicate($0.at("params.diagnostics")?.arrayValue ?? [])
        }
        return message.at("params.diagnostics")?.arrayValue ?? []
    }

    /// Waits until a build's worker is running a RUN that printed `marker` (seen in the build output).
    func waitForOutput(_ marker: String, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !logMessages.contains(marker) {
            guard Date() < deadline else { throw TestClientError("no build output \(marker) within \(timeout) s; log:\n\(logMessages)") }
            try await client.receive(for: 0.02)
        }
    }

    /// What a build may leave behind: private copies, mounts, and (with `store`) partial blobs and step folders.
    /// A worker that was killed cannot tidy the store; its step folders wait for the store's garbage collection.
    func leftovers(store: Bool = true) -> [String] {
        let root = folder + "/store"
        var found = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/tmp")) ?? [])
            + mountTable().split(separator: "\n").filter { $0.contains(folder) }.map(String.init)
        if store {
            found += ((try? FileManager.default.contentsOfDirectory(atPath: root + "/tmp")) ?? [])
                + ((try? FileManager.default.contentsOfDirectory(atPath: root + "/layers")) ?? []).filter { $0.hasPrefix(".") }
        }
        return found
    }

    /// `shutdown` and `exit`; returns the exit status.
    func finish() async throws -> Int32 {
        let response = try await client.call("shutdown", timeout: 20)
        #expect(response["result"] == .null)
        client.notify("exit")
        return await run.value
    }

    /// Stops the server (if still running), the registry, and removes the folder.
    func stop(keepRegistry: Bool = false) async {
        client.closeInput()
        _ = await run.value
        if !keepRegistry { base.stop() }
        removeTreeAsNamespaceRoot(folder)
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// Polls `condition` until it holds or `timeout` seconds pass.
func waitUntil(_ what: String, timeout: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !(try await condition()) {
        guard Date() < deadline else { throw TestClientError("timed out after \(timeout) s waiting for \(what)") }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

extension JSONValue {
    /// The kinds of a list of progress values.
    static func kinds(_ values: [JSONValue]) -> [String] { values.compactMap { $0["kind"]?.stringValue } }
}

/// Runs `body` with a fresh session and always stops it (server, registry, folder), whether the body throws or not.
func withSession(_ label: String, configure: (inout BuilderConfig) -> Void = { _ in },
                 _ body: (BuildSession) async throws -> Void) async throws {
    let session = try await BuildSession(label, configure: configure)
    do {
        try await body(session)
    } catch {
        await session.stop()
        throw error
    }
    await session.stop()
}
