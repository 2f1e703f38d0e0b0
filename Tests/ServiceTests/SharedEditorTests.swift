import Foundation
import JSONRPC
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The editor set-ups for the shared server (editors/neovim/lua/idpbuild/shared.lua, editors/emacs/idpbuild-shared.el)
/// in Debian's headless Neovim (0.7: through the stdio bridge) and Emacs with Eglot (straight to the unix socket).
@Suite(.serialized) struct SharedEditorTests {
    static let repository = URL(fileURLWithPath: fixtures).deletingLastPathComponent().path

    static func which(_ program: String) throws -> String {
        for folder in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(program)") {
            return "\(folder)/\(program)"
        }
        throw ServiceTestFailure("\(program) is not installed (scripts/apt-packages lists neovim, emacs-nox and elpa-eglot)")
    }

    /// Runs an editor driver against a shared server; returns its report and the server's log.
    static func run(_ editor: [String], driver: String, asOneArgument prefix: String = "") async throws -> (JSONValue, String) {
        let scratch = try Scratch("editor")
        chmod(scratch.path, 0o700)
        let socket = scratch.file("idpbuild/lsp.sock")
        let environment = childEnvironment(["XDG_RUNTIME_DIR": scratch.path, "HOME": scratch.path, "XDG_CONFIG_HOME": scratch.file("config"),
                                            "XDG_CACHE_HOME": scratch.file("cache"), "XDG_STATE_HOME": scratch.file("state"),
                                            "XDG_DATA_HOME": scratch.file("data")])
        let server = try Child([idpbuild, "lsp", "--listen", "auto", "--log", "stderr"], environment: environment, in: scratch, name: "server")
        defer { server.stop() }
        try await waitForFile(socket)
        let file = scratch.file("Dockerfile")
        try FileManager.default.copyItem(atPath: fixtures + "/editors/Dockerfile", toPath: file)
        var driverEnvironment = environment
        driverEnvironment["IDPBUILD_REPO"] = repository
        driverEnvironment["IDPBUILD_BINARY"] = idpbuild
        driverEnvironment["IDPBUILD_SOCKET"] = socket
        driverEnvironment["IDPBUILD_FILE"] = file
        driverEnvironment["IDPBUILD_REPORT"] = scratch.file("report.json")
        let editorProcess = try Child(editor + [prefix + fixtures + "/systemd/" + driver], environment: driverEnvironment, in: scratch, name: "editor")
        _ = try await editorProcess.exitStatus(within: 120)
        guard let data = FileManager.default.contents(atPath: scratch.file("report.json")) else {
            throw ServiceTestFailure("the editor wrote no report:\n\(editorProcess.standardOutput)\n\(editorProcess.standardError)")
        }
        // The server outlives the editor: it is shared, not the editor's child.
        #expect(server.isRunning)
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0)
        return (try JSONDecoder().decode(JSONValue.self, from: data), server.standardError)
    }

    @Test func neovimReachesTheSharedServer() async throws {
        let (report, log) = try await Self.run([try Self.which("nvim"), "--headless", "-u", "NONE", "-i", "NONE", "-c"], driver: "neovim-shared.lua",
                                              asOneArgument: "luafile ")
        #expect(report["ok"] == true, "driver error: \(report["error"]?.stringValue ?? "")")
        // Debian 12's Neovim is 0.7: it starts the bridge; 0.10+ would connect to the socket itself.
        #expect(report["transport"] == "bridge" || report["transport"] == "socket")
        #expect(report["diagnostics_arrived"] == true)
        #expect(report["codes"] == ["JSONArgsRecommended", "UnknownFlag"])
        #expect(report["sessions"] == 1)
        #expect(report["stopped"] == true)
        #expect(log.contains("initialized by Neovim"), "\(log)")
    }

    @Test func emacsEglotConnectsToTheSocket() async throws {
        let (report, log) = try await Self.run([try Self.which("emacs"), "--batch", "-l"], driver: "emacs-shared.el")
        #expect(report["ok"] == true, "driver error: \(report["error"]?.stringValue ?? "")")
        #expect(report["connected"] == true)
        #expect(report["network"] == true, "Eglot should talk to the socket, not a process")
        #expect(report["codes"] == ["JSONArgsRecommended", "UnknownFlag"])
        #expect(report["sessions"] == 1)
        #expect(report["stopped"] == true)
        #expect(log.contains("initialized by"), "\(log)")
    }
}
