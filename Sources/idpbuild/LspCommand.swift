import ArgumentParser
import BuildService
import Foundation
import JSONRPC
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
        ready set-ups for Neovim, Emacs and VS Code. The build commands (idpbuild.buildAndPush, idpbuild.build, \
        idpbuild.cancelBuild) build in a worker process like idpbuild build; the options below set their defaults, \
        and the client's settings (registry, namespace, insecureRegistries, caFile) override the first four. \
        Exit status: 0 after shutdown and exit, 1 when the client exits or disconnects without shutdown, 2 for a \
        wrong command line.
        """
    )

    @ArgumentParser.Flag(help: "Talk over standard input and output (the only transport; accepted because editors pass it).")
    var stdio = false

    @Option(help: "What to log on standard error: error, warning, info or debug.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("The largest message accepted, in bytes; larger ones are answered with an error and skipped.", valueName: "BYTES"))
    var maxMessageSize = 16 << 20

    @Option(help: "Registry host[:port] for builds (default: IDPBUILD_REGISTRY or gitea.cnoe.localtest.me:8443).")
    var registry: String?

    @Option(help: "Namespace (Gitea owner) for builds.")
    var namespace: String = BuilderConfig.defaultNamespace

    @Option(name: .customLong("insecure-registry"), help: "Allow plain HTTP and unverified TLS for this host[:port] (repeat).")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("ca-file"), help: "A CA certificate file the registry's certificate is checked against.")
    var caFile: String?

    @Option(name: .customLong("registries-conf"), help: "registries.conf for builds (default: the containers search order).")
    var registriesConf: String?

    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    @ArgumentParser.Flag(name: .customLong("no-kubernetes"), help: "Do not ask the Kubernetes API for the Gitea credential or CA.")
    var noKubernetes = false

    func validate() throws {
        guard ServerLog.Level(name: logLevel) != nil else {
            throw ValidationError("--log-level takes error, warning, info or debug, not \(logLevel)")
        }
        guard maxMessageSize >= 4_096 else {
            throw ValidationError("--max-message-size must be at least 4096 bytes")
        }
        let (_, problems) = ServerSettings().applying(settingsJSON)
        if let problem = problems.first { throw ValidationError(problem.replacingOccurrences(of: "insecureRegistries", with: "--insecure-registry")) }
    }

    /// The command line's build settings as the client's settings would give them.
    var settingsJSON: JSONValue {
        var object: [String: JSONValue] = ["namespace": .string(namespace)]
        if let registry = registry ?? ProcessInfo.processInfo.environment["IDPBUILD_REGISTRY"].flatMap({ $0.isEmpty ? nil : $0 }) {
            object["registry"] = .string(registry)
        }
        if !insecureRegistries.isEmpty { object["insecureRegistries"] = .array(insecureRegistries.map { .string($0) }) }
        if let caFile { object["caFile"] = .string(URL(fileURLWithPath: caFile).standardizedFileURL.path) }
        return .object(object)
    }

    func run() async throws {
        // Standard output carries only framed messages: the server writes to a private copy of it, and descriptor 1
        // becomes standard error, so a stray print anywhere in the process lands in the log instead of the protocol.
        let output = dup(STDOUT_FILENO)
        guard output >= 0, dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
            throw ValidationError("cannot set up standard output: \(String(cString: strerror(errno)))")
        }
        // One coordinator per process: issue 9's shared server passes the same one to every session.
        let builds = BuildCoordinator(config: BuilderConfig(
            registriesConf: registriesConf.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
            storeRoot: root.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, useKubernetes: !noKubernetes))
        let server = LanguageServer(input: STDIN_FILENO, output: output, options: LanguageServer.Options(
            version: IDPBuild.configuration.version, log: ServerLog(level: ServerLog.Level(name: logLevel) ?? .info),
            maximumMessageSize: maxMessageSize, builds: builds, settings: ServerSettings().applying(settingsJSON).settings))
        let status = await server.run()
        Foundation.exit(status)
    }
}
