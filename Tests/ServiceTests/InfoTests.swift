import Foundation
import JSONRPC
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild info`: the paths in use, as a person reads them and as JSON.
@Suite struct InfoTests {
    @Test func infoNamesEveryPathAndTheSharedServersState() async throws {
        let scratch = try Scratch("info")
        chmod(scratch.path, 0o700)
        let environment = childEnvironment(["XDG_RUNTIME_DIR": scratch.path, "XDG_DATA_HOME": scratch.file("data")])
        let before = try Child([idpbuild, "info", "--json"], environment: environment, in: scratch, name: "before")
        #expect(try await before.exitStatus() == 0)
        let report = try JSONDecoder().decode(JSONValue.self, from: Data(before.standardOutput.utf8))
        for key in ["version", "userNamespaces", "overlay", "runNetwork", "store", "cgroups", "limits", "systemd", "logs", "languageServer", "registry"] {
            #expect(report[key]?["value"]?.stringValue?.isEmpty == false, "no \(key) in \(before.standardOutput)")
        }
        #expect(report["store"]?["value"]?.stringValue?.hasPrefix(scratch.file("data") + "/idpbuild") == true)
        // slirp4netns is installed here (and /dev/net/tun is open to root): RUN's network says which it is.
        #expect(report["runNetwork"]?["value"]?.stringValue?.contains("slirp4netns version") == true, "\(before.standardOutput)")
        #expect(report["languageServer"]?["value"] == .string("unix:\(scratch.path)/idpbuild/lsp.sock: not running"))
        #expect(report["systemd"]?["value"]?.stringValue?.contains("user manager unreachable") == true)
        if geteuid() == 0 {
            // As root: a cgroup of idpbuild's own here (no systemd); a system scope on machines that run systemd.
            let limits = report["limits"]?["value"]?.stringValue ?? ""
            #expect(limits.hasPrefix("a cgroup made by idpbuild") || limits.hasPrefix("a transient scope of the systemd"), "\(limits)")
            #expect(report["userNamespaces"]?["value"]?.stringValue?.hasPrefix("root: builds need no user namespace") == true)
        }
        let server = try Child([idpbuild, "lsp", "--listen", "auto"], environment: environment, in: scratch, name: "server")
        defer { server.stop() }
        try await waitForFile(scratch.path + "/idpbuild/lsp.sock")
        let after = try Child([idpbuild, "doctor"], environment: environment, in: scratch, name: "after")
        #expect(try await after.exitStatus() == 0)
        let lines = after.standardOutput.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("shared server") && $0.hasSuffix("lsp.sock: listening") }, "\(after.standardOutput)")
        #expect(lines.contains { $0.hasPrefix("build limits") })
        kill(server.pid, SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }
}
