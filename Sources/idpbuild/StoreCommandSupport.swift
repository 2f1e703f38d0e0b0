import ArgumentParser
import BuildService
import Credentials
import Foundation
import HTTP
import ImageStore
import ImageTransfer
import OCI
import Registry
import RegistriesConf

/// Options every store command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    @Flag(name: .customLong("json"), help: "Print results and events as JSON lines on stdout.")
    var json = false

    func openStore() throws -> ImageStore { try ImageStore(root: root ?? ImageStore.defaultRoot()) }
}

/// Options for commands that talk to registries: the shared registry settings, and the platform to pick.
struct RegistryOptions: ParsableArguments {
    @OptionGroup var settings: RegistrySettingsOptions

    @Option(name: .customLong("platform"), help: "OS/ARCH[/VARIANT] to pick from multi-platform images (default: this machine's).")
    var platform: String?

    /// The Gitea registry and owner short names stand for.
    var gitea: GiteaOptions { settings.gitea }

    func resolvedPlatform() throws -> Platform {
        guard let platform else { return .current }
        do { return try Platform(parsing: platform) } catch { throw ValidationError("\(error)") }
    }

    /// The registry access the flags, the environment and the defaults describe (as builds push with).
    func makeTransfer(store: ImageStore, output: CommandOutput) throws -> ImageTransfer {
        do {
            return try settings.config().makeTransfer(store: store, credentialSource: "--username/--password-stdin") { output.warning($0) }
        } catch BuildServiceError.invalidRequest(field: "registriesConf", _) {
            throw ValidationError("cannot read --registries-conf \(settings.registriesConf ?? "")")
        } catch let error as BuildServiceError {
            throw ValidationError(error.description)
        }
    }

    /// The references to pull a name from: for a short name registries.conf's unqualified-search-registries when set,
    /// else Docker's normalisation; any other name as given.
    func pullCandidates(for name: String, transfer: ImageTransfer) throws -> [Reference] {
        let parsed = try parseReference(name)
        guard RegistriesConfiguration.isShortName(name) else { return [parsed] }
        let searched = try transfer.access.registries.candidates(forShortName: name)
        return searched.isEmpty ? [parsed] : searched
    }
}

/// Writes results to stdout and progress to stderr: a live line on a terminal, plain lines otherwise, JSON with --json.
final class CommandOutput: @unchecked Sendable {
    let json: Bool
    private let lock = NSLock()
    private let terminal = isatty(STDERR_FILENO) == 1
    private var blobs: [String: (done: Int64, total: Int64)] = [:]
    private var lastDraw = Date.distantPast

    init(json: Bool) { self.json = json }

    /// Prints a result line (text) or object (JSON) on stdout.
    func result<T: Encodable>(_ text: String, _ value: T) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(value) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
        } else {
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
    }

    /// Says on stderr which reference a short name or digest prefix resolved to, and with --json as a
    /// `{"event":"resolved",...}` line; nothing for a name taken as typed.
    func resolved(_ resolution: ImageResolution) {
        guard let note = resolution.note else { return }
        noted(note, Resolved(name: resolution.name, reference: resolution.reference, match: resolution.match.rawValue,
                             shadowed: resolution.shadowed.isEmpty ? nil : resolution.shadowed))
    }

    /// Says that a short name was expanded to the Gitea reference build gives it, as `role` (e.g. "push destination").
    func expanded(_ name: String, to reference: Reference, role: String) {
        guard reference.description != name else { return }
        noted("\(name) → \(reference) (\(role))",
              Resolved(name: name, reference: reference.description, match: ImageResolution.Match.gitea.rawValue, role: role))
    }

    /// The JSON form of a resolved name.
    struct Resolved: Encodable {
        var event = "resolved"
        var name: String
        var reference: String
        var match: String
        var shadowed: [String]?
        var role: String?
    }

    private func noted<T: Encodable>(_ line: String, _ value: T) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        FileHandle.standardError.write(Data((line + "\n").utf8))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(value) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
        }
    }

    /// Prints a warning on stderr (and as a JSON event with --json).
    func warning(_ message: String) {
        if json { event(TransferEvent(phase: "", kind: .warning, reference: "", message: message)); return }
        lock.lock(); defer { lock.unlock() }
        clearLine()
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    /// Reports a failure: stderr always, plus a JSON line with --json.
    func failure(_ error: any Error) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        if json {
            struct Failure: Encodable { var event = "error"; var message: String }
            if let data = try? JSONEncoder().encode(Failure(message: "\(error)")) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
        }
    }

    /// Renders a transfer event.
    func event(_ event: TransferEvent) {
        lock.lock(); defer { lock.unlock() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(event) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            return
        }
        let short = event.digest.map { String($0.dropFirst(7).prefix(12)) } ?? ""
        switch event.kind {
        case .blobStarted: blobs[short] = (0, event.total ?? 0)
        case .blobProgress: blobs[short] = (event.bytes ?? 0, event.total ?? 0)
        case .blobDone, .blobSkipped, .blobMounted:
            blobs[short] = nil
            let verb = event.kind == .blobDone ? (event.phase == "pull" ? "pulled" : "pushed") : (event.kind == .blobSkipped ? "exists" : "mounted")
            line("\(event.phase) \(short): \(verb) \(Self.size(event.total ?? 0))")
        case .warning: line("warning: \(event.message ?? "")")
        case .resolving: if !terminal { line("\(event.phase) \(event.message ?? "")") }
        case .manifest, .done: break
        }
        if terminal && event.kind == .blobProgress && Date().timeIntervalSince(lastDraw) > 0.1 {
            lastDraw = Date()
            let done = blobs.values.reduce(0) { $0 + $1.done }, total = blobs.values.reduce(0) { $0 + $1.total }
            FileHandle.standardError.write(Data("\r\u{1b}[K\(event.phase): \(blobs.count) blob(s) \(Self.size(done)) / \(Self.size(total))".utf8))
        }
    }

    private func line(_ text: String) {
        clearLine()
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    private func clearLine() { if terminal { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) } }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KB", "MB", "GB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// Runs a command body, turning errors into exit status 1 with the error's message.
func runReportingErrors(_ output: CommandOutput, _ body: () async throws -> Void) async throws {
    do { try await body() } catch let error as ValidationError { throw error } catch let error as ExitCode { throw error } catch {
        output.failure(error)
        throw ExitCode(1)
    }
}

/// Finds a name typed on the command line in the store (see `ImageNameResolver`); a malformed name is a validation error.
func resolveImage(_ name: String, in store: ImageStore, names: ImageNameResolver, anyTag: Bool = false) throws -> ImageResolution {
    do { return try names.resolve(name, in: store, anyTag: anyTag) } catch let error as OCIError { throw ValidationError("\(error)") }
}

/// Expands a name the way build's -t does (a short name under REGISTRY/NAMESPACE); a malformed name is a validation error.
func expandName(_ name: String, names: ImageNameResolver) throws -> Reference {
    do { return try names.expand(name) } catch { throw ValidationError("\(error)") }
}

/// Whether a typed name names no registry host (see `Reference.isShortName`).
func isShortName(_ name: String) -> Bool { Reference.isShortName(name) }

/// Parses a reference from the command line into a validation error when it is wrong.
func parseReference(_ text: String) throws -> Reference {
    do { return try Reference(parsing: text) } catch { throw ValidationError("\(error)") }
}
