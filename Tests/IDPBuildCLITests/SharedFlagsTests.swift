import Foundation
import Testing

/// build, lsp, push, pull and run take the same settings under the same flag names (one option group each).
@Suite struct SharedFlagsTests {
    static let registryFlags = ["--registry", "--namespace", "--insecure-registry", "--ca-file", "--registries-conf", "--chunk-size",
                                "--no-kubernetes", "--username", "--password-stdin"]
    static let buildFlags = ["--compression", "--jobs", "--memory", "--cpus", "--pids-limit", "--timestamp", "--allow"]

    @Test(arguments: ["build", "lsp", "push", "pull", "run"])
    func everyRegistryCommandTakesTheSameFlags(_ command: String) async throws {
        let help = try await CLI.runDetached([command, "--help"])
        #expect(help.status == 0)
        let expected = Self.registryFlags + (["build", "lsp"].contains(command) ? Self.buildFlags : [])
        for flag in expected {
            #expect(help.stdout.contains(flag + " ") || help.stdout.contains(flag + "\n") || help.stdout.contains(flag + ","),
                    "\(command) --help lacks \(flag)")
        }
    }

    @Test func badSettingsAreRefusedBeforeAnythingRuns() async throws {
        let registry = try await CLI.runDetached(["build", "--registry", "https://gitea/x", "--no-push", "Fixtures/nope"])
        #expect(registry.status == 2)
        #expect(registry.stderr.contains("--registry must be a host[:port]"), "\(registry.stderr)")
        let namespace = try await CLI.runDetached(["push", "--namespace", "Team", "x"])
        #expect(namespace.stderr.contains("--namespace must be a lowercase repository path"), "\(namespace.stderr)")
        let jobs = try await CLI.runDetached(["lsp", "--jobs", "0"])
        #expect(jobs.stderr.contains("--jobs must be at least 1"), "\(jobs.stderr)")
        let password = try await CLI.runDetached(["lsp", "--username", "u", "--password-stdin"], stdin: "secret\n")
        #expect(password.stderr.contains("--password-stdin needs --listen"), "\(password.stderr)")
        #expect(!password.stderr.contains("secret"))
    }
}
