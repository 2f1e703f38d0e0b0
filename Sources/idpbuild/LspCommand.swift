import ArgumentParser
import Foundation
import LanguageServer
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild lsp`: the Dockerfile language server over standard input and output.
struct LspCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Run the Dockerfile language server on standard input and output.",
        discussion: """
        Speaks the Language Server Protocol (JSON-RPC 2.0 with Content-Length framing) on standard input and \
        output; logs go to standard error. protocol/README.md documents every method and setting, editors/ has \
        ready set-ups for Neovim, Emacs and VS Code. Exit status: 0 after shutdown and exit, 1 when the client \
        exits or disconnects without shutdown, 2 for a wrong command line.
        """
    )

    @ArgumentParser.Flag(help: "Talk over standard input and output (the only transport; accepted because editors pass it).")
    var stdio = false

    @Option(help: "What to log on standard error: error, warning, info or debug.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("The largest message accepted, in bytes; larger ones are answered with an error and skipped.", valueName: "BYTES"))
    var maxMessageSize = 16 << 20

    func validate() throws {
        guard ServerLog.Level(name: logLevel) != nil else {
            throw ValidationError("--log-level takes error, warning, info or debug, not \(logLevel)")
        }
        guard maxMessageSize >= 4_096 else {
            throw ValidationError("--max-message-size must be at least 4096 bytes")
        }
    }

    func run() async throws {
        // Standard output carries only framed messages: the server writes to a private copy of it, and descriptor 1
        // becomes standard error, so a stray print anywhere in the process lands in the log instead of the protocol.
        let output = dup(STDOUT_FILENO)
        guard output >= 0, dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
            throw ValidationError("cannot set up standard output: \(String(cString: strerror(errno)))")
        }
        let server = LanguageServer(input: STDIN_FILENO, output: output, options: LanguageServer.Options(
            version: IDPBuild.configuration.version, log: ServerLog(level: ServerLog.Level(name: logLevel) ?? .info),
            maximumMessageSize: maxMessageSize))
        let status = await server.run()
        Foundation.exit(status)
    }
}
