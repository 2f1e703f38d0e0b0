import Foundation
import Testing

/// build, lsp, push, pull and run take the same settings under the same flag names (one option group each).
@Suite struct SharedFlagsTests {
    static let registryFlags = ["--registry", "--namespace", "--insecure-registry", "--ca-file", "--registries-conf", "--chunk-size",
                                "--no-kubernetes", "--username", "--password-stdin"]
    static let buildFlags = ["--compression", "--jobs", "--memory", "--cpus", "--pids-limit", "--timestamp", "--allow"]

    @Test(arguments: ["build", "lsp", "push", "pull", "run"])
    func everyRegistryCommandTakesTheSameFlags(_ command: String) throws {
        let help = try CLI.run([command, "--help"])
        #expect(help.status == 0)
        let expected = Self.registryFlags + (["build", "lsp"].contains(command) ? Self.buildFlags : [])
        for flag in expected {
            #expect(help.stdout.contains(flag + " ") || help.stdout.contains(flag + "\n") || help.stdout.contains(flag + ","),
                    "\(command) --help lacks \(flag)")
        }
    }

    @Test func badSettingsAreRefusedBeforeAnythingRuns() throws {
        let registry = try CLI.run(["build", "--registry", "https://gitea/x", "--no-push", "Fixtures/nope"])
        #expect(registry.status == 2)
        #expect(registry.stderr.contains("--registry must be a host[:port]"), "\(registry.stderr)")
        let namespace = try CLI.run(["push", "--namespace", "Team", "x"])
        #expect(namespace.stderr.contains("--namespace must be a lowercase repository path"), "\(namespace.stderr)")
        let jobs = try CLI.run(["lsp", "--jobs", "0"])
        #expect(jobs.stderr.contains("--jobs must be at least 1"), "\(jobs.stderr)")
        let password = try CLI.run(["lsp", "--username", "u", "--password-stdin"], stdin: "secret\n")
        #expect(password.stderr.contains("--password-stdin needs --listen"), "\(password.stderr)")
        #expect(!password.stderr.contains("secret"))
    }
}
