import ArgumentParser
import DockerfileCheck
import struct DockerfileSyntax.Dockerfile
import enum DockerfileSyntax.Suggest
import Foundation

/// `idpbuild check`: Dockerfile diagnostics for terminals, editors' compile modes and CI.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check Dockerfiles and print diagnostics.",
        discussion: """
        Prints one line per finding, `file:line:column: severity: message [CODE]` (GNU style, 1-based columns), or \
        JSON or SARIF 2.1.0 with --format. Honours `# check=skip=…` and `# check=error=true` in the file. \
        Exit status: 0 when there is no error, 1 when there is one, 2 when the command itself is used wrongly or a \
        file cannot be read.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case gnu, json, sarif
    }

    @Argument(help: "Dockerfiles to check; - reads standard input. Default: ./Dockerfile.")
    var files: [String] = []

    @Option(help: "Output format: gnu, json or sarif.")
    var format: Format = .gnu

    @Option(name: .customLong("ignore"), help: ArgumentHelp("Leave out findings with this code (repeatable, or comma-separated).", valueName: "CODE"))
    var ignored: [String] = []

    @Option(name: .customLong("build-arg"), help: ArgumentHelp("A build argument used when expanding variables.", valueName: "NAME=VALUE"))
    var buildArguments: [String] = []

    @Flag(help: "Print the documentation of every rule (Markdown) and exit.")
    var listRules = false

    func validate() throws {
        for code in ignoredCodes where Rules.byCode[code] == nil {
            let hint = Suggest.closest(to: code, in: Rules.all.map(\.code), caseSensitive: false).map { " (did you mean \($0)?)" } ?? ""
            throw ValidationError("unknown check code \(code)\(hint); idpbuild check --list-rules lists them")
        }
        for argument in buildArguments where !argument.containsByte(UInt8(ascii: "=")) {
            throw ValidationError("--build-arg takes NAME=VALUE, not \(argument)")
        }
    }

    private var ignoredCodes: Set<String> {
        Set(ignored.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty })
    }

    func run() throws {
        if listRules {
            print(Rules.markdown(), terminator: "")
            return
        }
        var arguments: [String: String] = [:]
        for argument in buildArguments {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            arguments[String(parts[0])] = String(parts[1])
        }
        let options = CheckOptions(ignoredCodes: ignoredCodes, buildArguments: arguments)
        var paths = files
        if paths.isEmpty {
            guard FileManager.default.fileExists(atPath: "Dockerfile") else {
                throw ValidationError("no Dockerfile in the current directory; name the files to check, or - for standard input")
            }
            paths = ["Dockerfile"]
        }
        var results: [CheckedFile] = []
        for path in paths {
            let bytes: [UInt8]
            do {
                bytes = try Self.read(path)
            } catch {
                throw CheckFailure.unreadable(path: path, reason: error.localizedDescription)
            }
            let dockerfile = Dockerfile(bytes: bytes)
            results.append(CheckedFile(path: path == "-" ? "<stdin>" : path, source: dockerfile.source,
                                       diagnostics: Checker.check(dockerfile, options: options)))
        }
        let output: String
        switch format {
        case .gnu: output = DiagnosticFormatter.gnu(results)
        case .json: output = DiagnosticFormatter.json(results)
        case .sarif: output = DiagnosticFormatter.sarif(results, version: IDPBuild.configuration.version)
        }
        FileHandle.standardOutput.write(Data(output.utf8))
        if results.contains(where: { $0.diagnostics.contains { $0.severity == .error } }) {
            throw ExitCode(1)
        }
    }

    private static func read(_ path: String) throws -> [UInt8] {
        if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let inside = (path as NSString).appendingPathComponent("Dockerfile")
            if FileManager.default.fileExists(atPath: inside) { return Array(try Data(contentsOf: URL(fileURLWithPath: inside))) }
            throw CheckFailure.unreadable(path: path, reason: "it is a directory without a Dockerfile")
        }
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Errors of `idpbuild check` that are not findings.
enum CheckFailure: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)

    var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        }
    }
}
