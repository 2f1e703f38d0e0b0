// Extra mounts (RUN --mount): bind read-only and read-write, tmpfs; the mount points never reach the upper directory.
import Foundation
import Sandbox
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct SandboxMountTests {
    @Test func bindAndTmpfsMountsAreVisibleAndLeaveNoStubs() async throws {
        let fixture = try Fixture("mounts")
        let source = try fixture.scratch.subdirectory("source")
        try "bound\n".write(toFile: source + "/in.txt", atomically: true, encoding: .utf8)
        let cache = try fixture.scratch.subdirectory("cache")
        let secret = fixture.scratch.path + "/secret"
        try "s3cret".write(toFile: secret, atomically: true, encoding: .utf8)
        let upper = fixture.scratch.path + "/upper"
        let result = try await fixture.run(["/bin/sh", "-c", """
            cat /mnt/ro/in.txt; touch /mnt/ro/x 2>/dev/null && echo writable || echo read-only
            echo kept > /deep/cache/out.txt; cat /run/secrets/token; echo
            touch /scratch/t && ls /scratch
            """], upper: upper) { configuration in
            configuration.mounts = [
                SandboxMount(kind: .bind(source: source), target: "/mnt/ro", readOnly: true),
                SandboxMount(kind: .bind(source: cache), target: "/deep/cache", readOnly: false),
                SandboxMount(kind: .bind(source: secret), target: "/run/secrets/token", readOnly: true),
                SandboxMount(kind: .tmpfs(sizeBytes: 1 << 20), target: "/scratch", readOnly: false),
            ]
        }
        #expect(result.termination == .exited(0), "\(result.stderr)")
        #expect(result.stdout == ["bound", "read-only", "s3cret", "t"])
        #expect(text(cache + "/out.txt") == "kept\n")  // a read-write bind writes through to the host
        // The mount points (and the directories made for them) are gone from the upper directory.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: upper)) ?? []
        #expect(entries.isEmpty, "\(entries)")
        #expect(fixture.stateIsEmpty)
    }

    @Test func aRelativeTargetIsRefused() async throws {
        let fixture = try Fixture("mount-bad")
        await #expect(throws: SandboxError.self) {
            _ = try await fixture.run(["/bin/true"]) { $0.mounts = [SandboxMount(kind: .tmpfs(sizeBytes: nil), target: "relative", readOnly: false)] }
        }
    }
}

private func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
