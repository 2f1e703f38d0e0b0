import BuildTestSupport
import Foundation
import JSONRPC
import Testing
import TestSupport

/// "Build and push" from real editors, headless: Neovim 0.7 runs the code lens on FROM (through editors/neovim), Emacs
/// runs the source action through `eglot-code-actions` (through editors/emacs/idpbuild.el). Both push the seed fixture
/// to Debian's docker-registry on 127.0.0.1 (busybox as `alpine:3.19` behind a registries.conf mirror), show the
/// progress, and then build a Dockerfile whose RUN fails on line 3 and get the Error diagnostic there.
@Suite(.serialized) struct BuildInEditorTests {
    static let failing = "FROM alpine:3.19\nRUN echo preparing\nRUN echo \"about to fail\" && exit 3\nCMD [\"/bin/sh\"]\n"

    /// Starts the registry, runs the editor on a copy of the seed fixture (with `failing.Dockerfile` next to it), and
    /// checks the report and the pushed image (while the registry runs); returns the report and the reference.
    static func run(_ arguments: [String], check: (JSONValue, String) throws -> Void) async throws -> (JSONValue, String) {
        let work = try TemporaryDirectory("editor-build-registry")
        defer { work.remove() }
        let base = try await BaseImageRegistry(directory: work.path)
        defer { base.stop() }
        var folderName = ""
        let report = try await EditorTests.runEditor(fileName: "seed.txt", arguments: arguments, timeout: 300) { folder, _ in
            let seed = folder.appendingPathComponent("seed")
            folderName = seed.lastPathComponent
            try FileManager.default.copyItem(at: EditorTests.repository.appendingPathComponent("Fixtures/seed"), to: seed)
            try failing.write(to: seed.appendingPathComponent("failing.Dockerfile"), atomically: true, encoding: .utf8)
            return ["IDPBUILD_FILE": seed.appendingPathComponent("Dockerfile").path,
                    "IDPBUILD_FAILING": seed.appendingPathComponent("failing.Dockerfile").path,
                    "IDPBUILD_REGISTRY": base.host, "IDPBUILD_REGISTRIES_CONF": base.registriesConf,
                    "IDPBUILD_STORE": folder.appendingPathComponent("store").path]
        }
        let reference = "\(base.host)/giteaadmin/\(folderName):latest"
        try check(report, reference)
        return (report, reference)
    }

    /// What both editors must have seen: the push's result and progress, the image in the registry, the failure.
    static func check(_ report: JSONValue, reference: String, progress: [JSONValue]) throws {
        #expect(report["ok"] == true, "driver error: \(report["error"]?.stringValue ?? "")")
        let result = try #require(report["push_result"], "no result: \(report.jsonText)")
        #expect(result["success"] == true, "\(result.jsonText)")
        #expect(result["fullTag"] == .string(reference))
        let digest = try #require(result["digest"]?.stringValue)
        let raw = try TestSupport.check(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://\(reference)"])
        #expect(OCIDigest.of(raw) == digest)
        // The push's progress (the failing build's comes after it, under another token).
        let progress = progress.filter { $0["token"] == progress.first?["token"] }
        let kinds = progress.compactMap { $0["kind"]?.stringValue }
        #expect(kinds.first == "begin" && kinds.last == "end" && kinds.contains("report"), "\(kinds)")
        #expect(progress.first?["title"] == .string("Build and push \(reference)"))
        #expect(progress.last?["message"]?.stringValue?.hasPrefix("pushed \(reference)@\(digest)") == true)
        let failed = try #require(report["failed_result"])
        #expect(failed["success"] == false)
        #expect(failed["error"]?.stringValue?.contains("failed with exit code 3") == true)
        let diagnostics = report["build_diagnostics"]?.arrayValue ?? []
        let build = try #require(diagnostics.first { $0["source"] == "idpbuild build" }, "\(diagnostics)")
        #expect(build["line"] == 2)
        #expect(build["severity"] == 1)
        #expect(report["log_has_output"] == true)
        #expect(report["stopped"] == true)
    }

    @Test func neovimBuildsAndPushesFromTheLensAndShowsTheFailingRun() async throws {
        let (report, reference) = try await Self.run([
            try EditorTests.which("nvim"), "--headless", "-u", "NONE", "-i", "NONE",
            "-c", "luafile " + EditorTests.repository.appendingPathComponent("Fixtures/editors/neovim-build-driver.lua").path]) { report, reference in
            try Self.check(report, reference: reference, progress: report["progress"]?.arrayValue ?? [])
        }
        #expect(report["lenses"] == .array([.string("Build and push → \(reference)"), "Build only"]))
        #expect(report["build_diagnostics"]?.arrayValue?.first { $0["source"] == "idpbuild build" }?["message"]?.stringValue?
            .contains("exit code 3") == true)
        try await EditorTests.expectGone(report["server_pid"])
    }

    @Test func emacsEglotBuildsAndPushesFromTheCodeActionAndShowsTheFailingRun() async throws {
        let (report, reference) = try await Self.run([
            try EditorTests.which("emacs"), "--batch", "-l",
            EditorTests.repository.appendingPathComponent("Fixtures/editors/emacs-build-driver.el").path]) { report, reference in
            try Self.check(report, reference: reference, progress: report["progress"]?.arrayValue ?? [])
        }
        #expect(report["action_titles"]?.arrayValue?.contains(.string("Build and push → \(reference)")) == true, "\(report.jsonText)")
        #expect(report["binding"] == "idpbuild-build")
        try await EditorTests.expectGone(report["server_pid"])
    }
}

/// The sha256 digest of a text, as `sha256:HEX` (through Debian's sha256sum, so this target needs no crypto).
enum OCIDigest {
    static func of(_ text: String) -> String {
        let result = try? TestSupport.run(["sha256sum"], stdin: Data(text.utf8))
        return "sha256:" + (result?.stdout.split(separator: " ").first.map(String.init) ?? "")
    }
}

extension JSONValue {
    /// Compact JSON text, for failure messages.
    fileprivate var jsonText: String { (try? String(decoding: JSONText.encoder().encode(self), as: UTF8.self)) ?? "?" }
}
