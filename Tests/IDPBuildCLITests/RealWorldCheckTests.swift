import Foundation
import Testing

/// `idpbuild check` over the 230 real Dockerfiles of ../shared/realworld (public repositories, read in place, never
/// copied): no crash, and an error only where Docker (BuildKit) raises one too.
@Suite struct RealWorldCheckTests {
    static let folder = CLI.repository.deletingLastPathComponent().appendingPathComponent("shared/realworld/files")

    /// The files Docker refuses as well, with the code we give and why BuildKit fails on them.
    static let expectedErrors: [String: String] = [
        // buildah's SELinux relabel option `,z` on a mount: BuildKit's mount parser rejects the field too.
        "143-containers-buildah-bud-verify-cleanup.Dockerfile": "InvalidMount",
        // `FROM BUG_stage`: BuildKit looks stage names up as written, then fails to parse an uppercase reference.
        "228-googlecontainertools-kaniko-it-multistage-capital.Dockerfile": "InvalidBaseImage",
    ]

    @Test(.enabled(if: FileManager.default.fileExists(atPath: folder.path), "../shared/realworld is beside the checkout"))
    func onlyDockersErrorsAndNoCrash() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix("Dockerfile") }.sorted()
        #expect(files.count >= 200)
        let output = try await CLI.runDetached(["check", "--format", "json"] + files.map { Self.folder.appendingPathComponent($0).path })
        #expect(output.status == 1, "status \(output.status): \(output.stderr.suffix(500))")
        // One JSON array of every finding, each naming its file.
        let findings = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        #expect(findings.count > files.count, "the checker found nothing at all: \(output.stdout.prefix(300))")
        var errors: [String: Set<String>] = [:]
        for finding in findings where finding["severity"] as? String == "error" {
            let name = URL(fileURLWithPath: finding["file"] as? String ?? "").lastPathComponent
            errors[name, default: []].insert(finding["code"] as? String ?? "?")
        }
        #expect(errors == Self.expectedErrors.mapValues { [$0] })
    }
}
