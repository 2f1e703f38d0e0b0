import DockerfileCheck
import DockerfileSyntax
import Foundation
import Testing

/// The fixtures under Fixtures/check with their expected output. Set IDPBUILD_UPDATE_GOLDENS=1 to rewrite the
/// golden files on purpose (then review the diff).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/check")

    static func names(_ folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { $0.hasSuffix(".Dockerfile") }.sorted().map { "\(folder)/\($0)" }
    }

    static var updating: Bool { ProcessInfo.processInfo.environment["IDPBUILD_UPDATE_GOLDENS"] == "1" }

    static func check(_ name: String) throws -> CheckedFile {
        let bytes = Array(try Data(contentsOf: root.appendingPathComponent(name)))
        let dockerfile = Dockerfile(bytes: bytes)
        let path = String(name.split(separator: "/").last!)
        return CheckedFile(path: path, source: dockerfile.source, diagnostics: Checker.check(dockerfile))
    }

    /// Compares `actual` with the golden file `name` (or writes it when updating).
    static func compare(_ actual: String, golden name: String) throws {
        let url = root.appendingPathComponent(name)
        if updating {
            try Data(actual.utf8).write(to: url)
            return
        }
        let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? "<missing golden file \(name)>"
        #expect(actual == expected, "output differs from \(name); run with IDPBUILD_UPDATE_GOLDENS=1 to regenerate on purpose")
    }
}

@Suite struct GoldenTests {
    @Test(arguments: Fixtures.names("valid"))
    func validFixtureHasNoErrorsAndMatchesGolden(_ name: String) throws {
        let file = try Fixtures.check(name)
        let errors = file.diagnostics.filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(name): \(errors.map(\.message))")
        try Fixtures.compare(DiagnosticFormatter.gnu([file]), golden: name.replacingOccurrences(of: ".Dockerfile", with: ".expected"))
    }

    @Test(arguments: Fixtures.names("invalid"))
    func invalidFixtureMatchesGolden(_ name: String) throws {
        let file = try Fixtures.check(name)
        #expect(!file.diagnostics.isEmpty, "\(name) should produce diagnostics")
        try Fixtures.compare(DiagnosticFormatter.gnu([file]), golden: name.replacingOccurrences(of: ".Dockerfile", with: ".expected"))
    }

    @Test func jsonAndSARIFMatchGoldens() throws {
        let file = try Fixtures.check("invalid/lint.Dockerfile")
        try Fixtures.compare(DiagnosticFormatter.json([file]), golden: "invalid/lint.expected.json")
        try Fixtures.compare(DiagnosticFormatter.sarif([file], version: "test"), golden: "invalid/lint.expected.sarif")
    }

    @Test func everyCodeIsDocumented() throws {
        var codes: Set<String> = []
        for name in Fixtures.names("valid") + Fixtures.names("invalid") {
            codes.formUnion(try Fixtures.check(name).diagnostics.map(\.code))
        }
        let undocumented = codes.filter { Rules.byCode[$0] == nil }
        #expect(undocumented.isEmpty, "codes without a rule: \(undocumented.sorted())")
    }

    @Test func rulesDocumentMatchesGeneratedMarkdown() throws {
        let url = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/CHECKS.md")
        if Fixtures.updating { try Data(Rules.markdown().utf8).write(to: url) }
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text == Rules.markdown(), "docs/CHECKS.md is stale: regenerate it with idpbuild check --list-rules > docs/CHECKS.md")
    }
}
