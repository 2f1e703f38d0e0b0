import Foundation
import JSONRPC
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Real editors, headless, against the built `idpbuild lsp`: Neovim (Debian's 0.7, `vim.lsp.start_client` through
/// editors/neovim) and Emacs with Eglot (editors/emacs/idpbuild.el). Each runs a driver from Fixtures/editors that
/// opens a copy of the fixture, waits for the diagnostics, applies the quick fix through the editor's own
/// code-action command, asks for completion, and writes a JSON report checked here.
@Suite(.serialized) struct EditorTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("idpbuild")
    static let expectedDiagnostics: [JSONValue] = [
        ["line": 1, "col": 5, "end_line": 1, "end_col": 12, "code": "UnknownFlag", "severity": 1],
        ["line": 5, "col": 4, "end_line": 5, "end_col": 8, "code": "JSONArgsRecommended", "severity": 2],
    ]
    static let detected: JSONValue = ["Dockerfile": "dockerfile", "app.Dockerfile": "dockerfile",
                                      "Dockerfile.prod": "dockerfile", "Containerfile": "dockerfile"]

    @Test func neovimShowsDiagnosticsAppliesAQuickFixAndCompletes() async throws {
        let report = try await Self.runEditor(fileName: "Containerfile", arguments: [
            Self.which("nvim"), "--headless", "-u", "NONE", "-i", "NONE",
            "-c", "luafile " + Self.repository.appendingPathComponent("Fixtures/editors/neovim-driver.lua").path])
        #expect(report["ok"] == true, "driver error: \(report["error"]?.stringValue ?? "")")
        #expect(report["filetype"] == "dockerfile")
        #expect(report["client_name"] == "idpbuild")
        #expect(report["diagnostics_arrived"] == true)
        let diagnostics = report["diagnostics"]?.arrayValue?.map { diagnostic -> JSONValue in
            var members = diagnostic.objectValue ?? [:]
            members["message"] = nil
            return .object(members)
        }
        #expect(diagnostics == Self.expectedDiagnostics)
        #expect(report["code_action_titles"]?.arrayValue?.contains("Change to --chown") == true)
        #expect(report["fixed_line"] == "COPY --chown=1000 app /app")
        #expect(report["fix_cleared"] == true)
        let completion = report["completion"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(completion.contains("RUN") && completion.contains("FROM") && completion.count == 18)
        #expect(report["hover"]?.stringValue?.hasPrefix("**FROM**") == true)
        #expect(report["detected"] == Self.detected)
        #expect(report["stopped"] == true)
        try await Self.expectGone(report["server_pid"])
    }

    @Test func emacsEglotShowsDiagnosticsAppliesAQuickFixAndCompletes() async throws {
        let report = try await Self.runEditor(fileName: "build.Dockerfile", arguments: [
            Self.which("emacs"), "--batch", "-l", Self.repository.appendingPathComponent("Fixtures/editors/emacs-driver.el").path])
        #expect(report["ok"] == true, "driver error: \(report["error"]?.stringValue ?? "")")
        #expect(report["mode"] == "idpbuild-dockerfile-mode" || report["mode"] == "dockerfile-mode")
        #expect(report["connected"] == true)
        #expect(report["diagnostics_arrived"] == true)
        #expect(report["diagnostics"] == .array(Self.expectedDiagnostics))
        #expect(report["fixed_line"] == "COPY --chown=1000 app /app")
        #expect(report["fix_cleared"] == true)
        #expect(report["completion"] == ["RUN"])
        let mode = report["mode"] ?? "idpbuild-dockerfile-mode"
        #expect(report["detected"] == ["Dockerfile": mode, "app.Dockerfile": mode, "Dockerfile.prod": mode, "Containerfile": mode])
        #expect(report["stopped"] == true)
        try await Self.expectGone(report["server_pid"])
    }

    /// The path of a program on PATH, or a failure saying which Debian package provides it.
    static func which(_ program: String) throws -> String {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(folder)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let package = program == "nvim" ? "neovim" : "emacs-nox and elpa-eglot"
        throw EditorTestFailure("\(program) is not installed: install Debian's \(package) (scripts/apt-packages lists it)")
    }

    /// Runs an editor with the driver environment in a fresh folder and returns the report; removes the folder.
    /// `prepare` adds files and environment variables (it gets the folder and the edited file's URL); `timeout` is
    /// the editor's whole run.
    static func runEditor(fileName: String, arguments: [String], timeout: Double = 180,
                          prepare: (URL, URL) throws -> [String: String] = { _, _ in [:] }) async throws -> JSONValue {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("idpbuild-editor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("detect"), withIntermediateDirectories: true)
        defer { removeFolder(folder) }
        let file = folder.appendingPathComponent(fileName)
        try FileManager.default.copyItem(at: repository.appendingPathComponent("Fixtures/editors/Dockerfile"), to: file)
        let report = folder.appendingPathComponent("report.json")
        var environment = ProcessInfo.processInfo.environment
        // The editors' own state stays in the folder, never in the user's home.
        environment["HOME"] = folder.path
        environment["XDG_CONFIG_HOME"] = folder.appendingPathComponent("config").path
        environment["XDG_CACHE_HOME"] = folder.appendingPathComponent("cache").path
        environment["XDG_STATE_HOME"] = folder.appendingPathComponent("state").path
        environment["XDG_DATA_HOME"] = folder.appendingPathComponent("data").path
        environment["IDPBUILD_BINARY"] = try linkedBinary(in: folder)
        environment["IDPBUILD_REPO"] = repository.path
        environment["IDPBUILD_FILE"] = file.path
        environment["IDPBUILD_REPORT"] = report.path
        for (name, value) in try prepare(folder, file) { environment[name] = value }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.currentDirectoryURL = folder
        let output = folder.appendingPathComponent("editor.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let log = try FileHandle(forWritingTo: output)
        defer { try? log.close() }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw EditorTestFailure("\(arguments[0]) did not finish within \(Int(timeout)) s; its output:\n\((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let editorOutput = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard let data = FileManager.default.contents(atPath: report.path) else {
            throw EditorTestFailure("\(arguments[0]) exited \(process.terminationStatus) without a report; its output:\n\(editorOutput)")
        }
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Removes a test folder, including files a rootless build left owned by subordinate IDs (through
    /// `idpbuild unshare`, as root of the user namespace that made them).
    static func removeFolder(_ folder: URL) {
        if geteuid() != 0, FileManager.default.isExecutableFile(atPath: binary.path) {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["unshare", "--", "rm", "-rf", folder.path]
            process.standardError = FileHandle.nullDevice
            if (try? process.run()) != nil { process.waitUntilExit() }
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// A link to the built binary inside `folder`, so the servers these tests start have their own command line:
    /// SandboxTests' RunCommandTests asserts that no process of the binary's own path is left on the machine, and
    /// suites run in parallel.
    static func linkedBinary(in folder: URL) throws -> String {
        let link = folder.appendingPathComponent("idpbuild")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: binary)
        return link.path
    }

    /// Polls until the server process the editor started is gone.
    static func expectGone(_ pid: JSONValue?) async throws {
        guard let pid = pid?.intValue, pid > 0 else {
            Issue.record("the editor did not report the server's process id")
            return
        }
        let deadline = Date().addingTimeInterval(20)
        while kill(pid_t(pid), 0) == 0 {
            // A zombie still answers kill(0); its parent (the editor) has exited, so init reaps it soon.
            guard Date() < deadline else {
                Issue.record("the server process \(pid) is still running after the editor exited")
                return
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

struct EditorTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
