import ArgumentParser
import Foundation

/// The `idpbuild` command line: one subcommand per front end (check, lsp, build, ...).
@main
struct IDPBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idpbuild",
        abstract: "Dockerfile checks, a language server, and rootless builds for idpbuilder platforms.",
        version: "0.1.0",
        subcommands: [CheckCommand.self, LspCommand.self, BuildCommand.self, RunCommand.self, PullCommand.self,
                      PushCommand.self, ImagesCommand.self, RmiCommand.self, PruneCommand.self, DiffCommand.self,
                      UnshareCommand.self, InfoCommand.self, BuildWorkerCommand.self]
    )

    /// Runs the command; usage errors exit with status 2 (as the commands document), other failures with 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            if let failure = error as? CheckFailure {
                FileHandle.standardError.write(Data("idpbuild: \(failure)\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
