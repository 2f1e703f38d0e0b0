import ArgumentParser
import Sandbox

/// `idpbuild unshare`: runs a host command as root of the caller's user namespace (like `buildah unshare`).
struct UnshareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unshare",
        abstract: "Run a host command as root of your user namespace (to inspect or delete rootless upper directories).",
        discussion: """
            Files a rootless sandbox creates with other owners belong to your subordinate IDs, which you cannot \
            remove directly: `idpbuild unshare -- rm -rf UPPER` can. As root, the command simply runs.
            Exit status: the command's, 127 when it does not exist, 125 when the namespace could not be made.
            """
    )

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func run() async throws {
        guard !command.isEmpty else {
            RunCommand.log("idpbuild unshare: no command given: pass the program and its arguments after `--`")
            throw ExitCode(125)
        }
        do {
            let termination = try UserNamespace.run(command, warn: { RunCommand.log("warning: \($0)") })
            throw ExitCode(termination.exitCode)
        } catch let error as SandboxError {
            RunCommand.log("idpbuild unshare: \(error.description)")
            throw ExitCode(125)
        }
    }
}
