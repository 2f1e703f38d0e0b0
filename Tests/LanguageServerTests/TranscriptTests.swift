import Foundation
import JSONRPC
import LSPTestSupport
import Testing

/// Replays every transcript in protocol/transcripts against the server: client lines (`-->`) are sent as written,
/// and the server lines (`<--`) that follow each must arrive (in any order) before the next client line is sent.
/// Nothing else may arrive, up to the end of the server's output after `exit`.
@Suite struct TranscriptTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("protocol/transcripts")

    /// The transcripts without builds (build-*.md need a registry: EditorBuildTests replays them).
    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".md") && !$0.hasPrefix("build-") }.sorted()
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

    @Test func thereAreTranscripts() {
        #expect(Self.files.count >= 5)
    }

    @Test(arguments: files) func replays(_ name: String) async throws {
        let transcript = try Transcript(try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8),
                                        normalize: Self.normalized)
        #expect(transcript.steps.count >= 3, "\(name) has too few lines")
        let harness = Harness()
        for problem in try await transcript.replay(on: harness.client, name: name, timeout: 20, normalize: Self.normalized) {
            Issue.record(Comment(rawValue: problem))
        }
        // The server has written everything when run() returns (exit flushes the output).
        #expect(await harness.run.value == 0)
        let extra = transcript.unexpected(try await harness.client.drain(quietFor: 0), normalize: Self.normalized)
        #expect(extra.isEmpty, "\(name): unexpected messages at the end: \(extra.map(\.jsonText))")
    }
}
