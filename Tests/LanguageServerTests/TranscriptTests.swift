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

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".md") }.sorted()
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
        let text = try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8)
        var steps: [(send: String, expect: [JSONValue])] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("--> ") {
                steps.append((String(line.dropFirst(4)), []))
            } else if line.hasPrefix("<-- ") {
                let message = try JSONDecoder().decode(JSONValue.self, from: Data(line.dropFirst(4).utf8))
                guard !steps.isEmpty else { throw TestClientError("\(name): a server line before any client line") }
                steps[steps.count - 1].expect.append(Self.normalized(message))
            }
        }
        #expect(steps.count >= 3, "\(name) has too few lines")
        let harness = Harness()
        for (index, step) in steps.enumerated() {
            harness.client.sendText(step.send)
            var remaining = step.expect
            while !remaining.isEmpty {
                let message = Self.normalized(try await harness.client.next(timeout: 20))
                guard let found = remaining.firstIndex(of: message) else {
                    Issue.record("\(name), after client line \(index + 1): unexpected \(message.jsonText)\nexpected one of:\n\(remaining.map(\.jsonText).joined(separator: "\n"))")
                    return
                }
                remaining.remove(at: found)
            }
        }
        // The server has written everything when run() returns (exit flushes the output).
        #expect(await harness.run.value == 0)
        let extra = try await harness.client.drain(quietFor: 0)
        #expect(extra.isEmpty, "\(name): unexpected messages at the end: \(extra.map(\.jsonText))")
    }
}
