import ArgumentParser

/// The `idpbuild` command line: one subcommand per front end (check, lsp, build, ...).
@main
struct IDPBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idpbuild",
        abstract: "Dockerfile checks, a language server, and rootless builds for idpbuilder platforms.",
        version: "0.1.0",
        subcommands: [RunCommand.self, DiffCommand.self, UnshareCommand.self]
    )
}
