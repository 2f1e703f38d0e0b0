import ArgumentParser
import BuildEngine
import BuildEvents
import BuildPlanner
import Dispatch
import Foundation
import ImageStore
import LayerDiff
import OCI
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild run`: runs a command in the rootless sandbox over an image from the store or over layer directories.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in the rootless sandbox over an image from the local store (pulled if missing) or over layer directories.",
        discussion: """
            idpbuild run IMAGE [-- CMD...] runs CMD (default: the image's ENTRYPOINT and CMD) with the image's ENV, \
            WORKDIR and USER (flags override them); the image is pulled into the store when missing. With --commit \
            NAME the changes become a new layer and the image NAME in the store, whose digest is printed.
            Without IMAGE, each --rootfs is an unpacked layer directory, base layer first; they become the overlay's lower \
            layers. Changes go to --upper (kept) or to a temporary directory (removed). With --layer-out the \
            changes are written as an OCI layer (tar+gzip) and its digests are printed.
            Exit status: the command's own status, 128+N when it was killed by signal N, 125 when the sandbox \
            could not be set up or the layer could not be written, 126/127 when the command cannot run or does \
            not exist (as in a shell).
            """
    )

    @Option(name: .customLong("rootfs"), help: "An unpacked layer directory (repeat; base layer first).")
    var layers: [String] = []

    @Option(help: "Directory that receives the changes (created if missing, kept).")
    var upper: String?

    @Option(name: .customLong("layer-out"), help: "Write the changes as an OCI layer (tar+gzip) to this file.")
    var layerOut: String?

    @Option(help: "Layer compression for --layer-out: gzip, zstd or none.")
    var compression: LayerCompression = .gzip

    @Option(help: "Network: private (default: a namespace of its own with user-mode networking; the host's loopback is not reachable), host, or none (only lo).")
    var network: NetworkMode = .private

    @Option(help: "USER: name, uid, name:group or uid:gid, resolved in the rootfs.")
    var user: String?

    @Option(help: "Working directory inside the sandbox (default: the image's WORKDIR, or /).")
    var workdir: String?

    @ArgumentParser.Argument(help: "An image in the local store (pulled when missing); omit it to use --rootfs directories.")
    var image: String?

    @Option(help: "With IMAGE: record the changes as a new layer and tag the result as NAME in the store.")
    var commit: String?

    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    @OptionGroup var registry: RegistryOptions

    @Option(name: .customShort("e"), help: "Environment variable KEY=VALUE (repeat).")
    var env: [String] = []

    @Option(help: "Hostname inside the sandbox.")
    var hostname: String = "sandbox"

    @Option(help: "Kill the command and everything it started after this many seconds.")
    var timeout: Double?

    @Flag(help: "Print events as JSON lines on stdout instead of passing the output through.")
    var json = false

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if image != nil && !layers.isEmpty { throw ValidationError("give either IMAGE or --rootfs directories, not both") }
        if commit != nil && image == nil { throw ValidationError("--commit needs an IMAGE") }
    }

    func run() async throws {
        if let image {
            try await runImage(image)
            return
        }
        // The diff must read files owned by subordinate IDs and remove them afterwards: only root of the
        // user namespace can, so an unprivileged caller re-executes this whole command inside one.
        if layerOut != nil && !UserNamespace.callerIsRoot {
            let termination = try UserNamespace.reexecuteSelf(warn: { Self.log("warning: \($0)") })
            throw ExitCode(termination.exitCode)
        }
        var upperDirectory = upper
        var temporaryUpper: String?
        if layerOut != nil && upper == nil {
            temporaryUpper = try Self.temporaryDirectory()
            upperDirectory = temporaryUpper
        }
        defer { if let temporaryUpper { Self.removeTree(temporaryUpper) } }

        let configuration = SandboxConfiguration(
            layers: layers, upperDirectory: upperDirectory, command: command, environment: env,
            workingDirectory: workdir ?? "/", user: user, network: network, hostname: hostname, timeout: timeout)
        let termination = try await execute(configuration, temporaryUpper: temporaryUpper)

        if let layerOut, let upperDirectory {
            do {
                let layer = try LayerDiff(compression: compression).write(upperDirectory: upperDirectory, to: layerOut)
                if json {
                    Self.out(JSONLine.object(["type": "layer", "path": .string(layerOut), "digest": .string(layer.digest),
                                           "diffID": .string(layer.diffID), "size": .int(Int(layer.size)),
                                           "mediaType": .string(layer.mediaType), "empty": .bool(layer.isEmpty)]))
                } else {
                    Self.log("layer \(layerOut): digest \(layer.digest) diff_id \(layer.diffID) size \(layer.size)\(layer.isEmpty ? " (no changes)" : "")")
                }
            } catch let error as LayerDiffError {
                Self.log("idpbuild run: \(error.description)")
                throw ExitCode(125)
            }
        }
        if termination.exitCode != 0 { throw ExitCode(termination.exitCode) }
    }

    /// Runs the sandbox, passing its output through (or as JSON lines); returns how the command ended.
    func execute(_ configuration: SandboxConfiguration, temporaryUpper: String?) async throws -> Termination {
        let run = Sandbox().start(configuration)
        // Ctrl-C, SIGTERM, SIGHUP: kill the sandbox's process tree, wait for its cleanup, exit 128+N.
        let interruption = Interruption { _ in run.cancel() }
        var termination: Termination?
        do {
            for try await event in run.events {
                switch event {
                case .warning(let text):
                    if json { Self.out(JSONLine.object(["type": "warning", "message": text])) } else { Self.log("warning: \(text)") }
                case .output(let line):
                    if json {
                        Self.out(JSONLine.object(["type": "output", "stream": line.stream.rawValue, "line": line.text]))
                    } else if line.stream == .stdout {
                        Self.out(line.text)
                    } else {
                        Self.log(line.text)
                    }
                case .finished(let result):
                    termination = result
                }
            }
        } catch let error as SandboxError {
            if json { Self.out(JSONLine.object(["type": "error", "message": error.description])) }
            Self.log("idpbuild run: \(error.description)")
            throw ExitCode(125)
        } catch {
            // Cancelled by a signal: handled below.
        }
        await run.waitUntilCleanedUp()
        if let signal = interruption.received {
            Self.log("idpbuild run: interrupted by signal \(signal); the sandbox's processes were killed")
            if let temporaryUpper { Self.removeTree(temporaryUpper) }
            throw ExitCode(128 + signal)
        }
        guard let termination else { throw ExitCode(125) }
        if json {
            var fields: [String: JSONLine.Value] = ["type": "exit", "code": .int(Int(termination.exitCode))]
            if case .signaled(let signal) = termination { fields["signal"] = .int(Int(signal)) }
            Self.out(JSONLine.object(fields))
        }

        return termination
    }

    /// `idpbuild run IMAGE`: the image's layers from the store (pulled when missing) as the lower layers, its config
    /// as defaults, and with --commit a new image from the changes.
    func runImage(_ name: String) async throws {
        // Unpacked layers hold files owned by subordinate IDs: only root of the user namespace can make and read them.
        if !UserNamespace.callerIsRoot {
            let termination = try UserNamespace.reexecuteSelf(warn: { Self.log("warning: \($0)") })
            throw ExitCode(termination.exitCode)
        }
        let output = CommandOutput(json: json)
        let store: ImageStore
        let stored: StoredImage
        let names = registry.gitea.names
        let platform = try registry.resolvedPlatform()
        let commitReference = try commit.map { try expandName($0, names: names) }
        do {
            store = try ImageStore(root: root ?? ImageStore.defaultRoot())
            do {
                // The name as every store command takes it: the Gitea reference first, then Docker's, then a digest prefix.
                let resolution = try resolveImage(name, in: store, names: names)
                let record = resolution.records[0]
                if let note = resolution.note { announce(name, as: resolution.reference, match: resolution.match.rawValue, note: note) }
                if let found = try? store.image(descriptor: record.descriptor, reference: record.reference, platform: platform) {
                    stored = found
                } else {
                    // Tagged, but not for this platform (or a blob is gone): fetch what the tag names, as before.
                    let transfer = try registry.makeTransfer(store: store, output: output)
                    stored = try await transfer.pull(try parseReference(record.reference), platform: platform,
                                                     events: { if json { output.event($0) } })
                }
            } catch ImageStoreError.nameNotFound(_, let tried) {
                // Not in the store under any meaning of the name: pull it as `idpbuild pull` would.
                let transfer = try registry.makeTransfer(store: store, output: output)
                var pulled: StoredImage?
                var failures: [String] = []
                for candidate in try registry.pullCandidates(for: name, transfer: transfer) {
                    do {
                        pulled = try await transfer.pull(candidate, platform: platform, events: { if json { output.event($0) } })
                        if isShortName(name) {
                            announce(name, as: candidate.description, match: "pulled",
                                     note: "\(name) → \(candidate) (pulled: not in the local store as \(tried.joined(separator: " or ")))")
                        }
                        break
                    } catch {
                        failures.append("pulling \(candidate) failed: \(error)")
                    }
                }
                guard let pulled else {
                    let looked = tried == [name] ? "" : " (tried \(tried.joined(separator: ", ")))"
                    Self.log("idpbuild run: no image \(name) in the local store\(looked), and \(failures.joined(separator: "; "))")
                    throw ExitCode(125)
                }
                stored = pulled
            }
        } catch let error as ValidationError {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch {
            Self.log("idpbuild run: \(error)")
            throw ExitCode(125)
        }
        let layerDirectories: [String]
        do { layerDirectories = try ImageLayers.directories(of: stored, store: store) } catch {
            Self.log("idpbuild run: \(error)")
            throw ExitCode(125)
        }
        let imageConfig = stored.config.config
        var environment = imageConfig?.Env ?? []
        for entry in env {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            environment.removeAll { $0.hasPrefix(key + "=") }
            environment.append(entry)
        }
        let program = command.isEmpty ? (imageConfig?.Entrypoint ?? []) + (imageConfig?.Cmd ?? []) : command
        guard !program.isEmpty else {
            Self.log("idpbuild run: \(name) has no ENTRYPOINT or CMD: give the command after --")
            throw ExitCode(125)
        }
        var upperDirectory = upper
        var temporaryUpper: String?
        if commit != nil && upper == nil {
            temporaryUpper = store.root + "/layers/.tmp-run-" + UUID().uuidString.lowercased()
            guard mkdir(temporaryUpper!, 0o755) == 0, chmod(temporaryUpper!, 0o755) == 0 else {
                Self.log("idpbuild run: cannot create \(temporaryUpper!): \(String(cString: strerror(errno)))")
                throw ExitCode(125)
            }
            upperDirectory = temporaryUpper
        }
        defer { if let temporaryUpper { try? FileTree.remove(temporaryUpper) } }
        let workingDirectory = workdir ?? imageConfig?.WorkingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let configuration = SandboxConfiguration(
            layers: layerDirectories, upperDirectory: upperDirectory, command: program, environment: environment,
            workingDirectory: workingDirectory, user: user ?? imageConfig?.User.flatMap { $0.isEmpty ? nil : $0 }, network: network,
            hostname: hostname, timeout: timeout)
        let termination = try await execute(configuration, temporaryUpper: nil)
        if let commit, let commitReference, let upperDirectory {
            // A short --commit name is tagged as build -t tags it: REGISTRY/NAMESPACE/NAME:TAG.
            let tagged = commitReference.description
            do {
                let manifest = try ImageLayers.commit(upperDirectory: upperDirectory, onto: stored, store: store, reference: tagged,
                                                      createdBy: "idpbuild run " + program.joined(separator: " "))
                if json {
                    var fields: [String: JSONLine.Value] = ["type": "commit", "reference": .string(tagged), "digest": .string(manifest.digest.description)]
                    if tagged != commit { fields["name"] = .string(commit) }
                    Self.out(JSONLine.object(fields))
                } else {
                    Self.log("committed \(tagged) \(manifest.digest)\(isShortName(commit) ? " (\(commit) → \(tagged))" : "")")
                }
            } catch {
                Self.log("idpbuild run: --commit \(commit) failed: \(error)")
                throw ExitCode(125)
            }
        }
        if termination.exitCode != 0 { throw ExitCode(termination.exitCode) }
    }

    /// Says on stderr (and with --json as a `resolved` line) which reference the image name stood for.
    func announce(_ name: String, as reference: String, match: String, note: String) {
        if json {
            Self.out(JSONLine.object(["type": "resolved", "name": .string(name), "reference": .string(reference), "match": .string(match),
                                      "message": .string(note)]))
        }
        Self.log(note)
    }

    /// Writes a line to stdout unbuffered, so output streams line by line through pipes too.
    static func out(_ text: String) { writeLine(text, to: 1) }

    static func log(_ text: String) { writeLine(text, to: 2) }

    static func writeLine(_ text: String, to fd: Int32) {
        var line = text + "\n"
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func temporaryDirectory() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/idpbuild-upper-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            log("idpbuild run: cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
            throw ExitCode(125)
        }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func removeTree(_ path: String) {
        _ = try? UserNamespace.run(["rm", "-rf", "--one-file-system", path])
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a call of `handler` (cancel a run or a build, stop the shared server),
/// remembering the first signal; the signals no longer end the process by themselves.
final class Interruption: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var sources: [any DispatchSourceSignal] = []
    private let registration = DispatchGroup()

    init(_ handler: @escaping @Sendable (_ signal: Int32) -> Void) {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { [weak self] in
                self?.record(number)
                handler(number)
            }
            registration.enter()
            source.setRegistrationHandler { [registration] in registration.leave() }
            source.resume()
            sources.append(source)
        }
    }

    /// Returns once every handler is registered with the kernel (a signal before that would be lost: they start
    /// as SIG_IGN).
    func registered() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            registration.notify(queue: .global()) { continuation.resume() }
        }
    }

    private func record(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if signal == nil { signal = number }
    }

    /// The first signal received, if any.
    var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return signal
    }
}

extension NetworkMode: ExpressibleByArgument {}
extension LayerCompression: ExpressibleByArgument {}
