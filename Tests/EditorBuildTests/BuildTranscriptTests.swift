import Foundation
import JSONRPC
import LSPTestSupport
import Testing
import TestSupport

/// Replays the build transcripts (protocol/transcripts/build-*.md) against the server with real builds: `${REGISTRY}`
/// is the session's registry and `${FOLDER}` its folder, holding the context folders the transcript's
/// `<!-- contexts: … -->` line names.
@Suite(.serialized) struct BuildTranscriptTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("protocol/transcripts")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix("build-") && $0.hasSuffix(".md") }.sorted()
    }

    /// The server's version is the package's; transcripts are compared without it.
    static func normalized(_ message: JSONValue) -> JSONValue {
        guard case .object(var members) = message, case .object(var result)? = members["result"],
              case .object(var info)? = result["serverInfo"] else { return message }
        info["version"] = "*"
        result["serverInfo"] = .object(info)
        members["result"] = .object(result)
        return .object(members)
    }

    @Test func thereAreBuildTranscripts() {
        #expect(Self.files == ["build-and-push.md", "build-failures.md"])
    }

    @Test(arguments: files) func replays(_ name: String) async throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8)
        try await withSession("transcript") { session in
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("<!-- contexts: ") }) {
                for item in line.dropFirst("<!-- contexts: ".count).dropLast(" -->".count).split(separator: " ") {
                    let parts = item.split(separator: "=").map(String.init)
                    if parts.count == 2 {
                        _ = try session.copyFixture(parts[1], as: parts[0])
                    } else {
                        try FileManager.default.createDirectory(atPath: session.folder + "/" + parts[0], withIntermediateDirectories: true)
                    }
                }
            }
            let transcript = try Transcript(text, variables: ["REGISTRY": session.base.host, "FOLDER": session.folder], normalize: Self.normalized)
            #expect(transcript.steps.count >= 8)
            for problem in try await transcript.replay(on: session.client, name: name, timeout: 60, normalize: Self.normalized) {
                Issue.record(Comment(rawValue: problem))
            }
            #expect(await session.run.value == 0)
            let extra = transcript.unexpected(try await session.client.drain(quietFor: 0), normalize: Self.normalized)
            #expect(extra.isEmpty, "\(name): unexpected messages at the end: \(extra.map(\.jsonText))")
            #expect(session.leftovers().isEmpty)
        }
    }
}
