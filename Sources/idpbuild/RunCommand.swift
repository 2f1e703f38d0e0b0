import ArgumentParser
import Dispatch
import Foundation
import LayerDiff
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild run`: runs a command in the rootless sandbox over layer directories (not yet over a stored image).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in the rootless sandbox over unpacked layer directories.",
        discussion: """
            Each --rootfs is an unpacked layer directory, base layer first; they become the overlay's lower \
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

    @Option(help: "Network: host (default) or none (only lo).")
    var network: NetworkMode = .host

    @Option(help: "USER: name, uid, name:group or uid:gid, resolved in the rootfs.")
    var user: String?

    @Option(help: "Working directory inside the sandbox.")
    var workdir: String = "/"

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

    func run() async throws {
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
            workingDirectory: workdir, user: user, network: network, hostname: hostname, timeout: timeout)
        let run = Sandbox().start(configuration)
        // Ctrl-C, SIGTERM, SIGHUP: kill the sandbox's process tree, wait for its cleanup, exit 128+N.
        let interruption = Interruption(run: run)
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

/// Turns SIGINT/SIGTERM/SIGHUP into cancelling a sandbox run.
final class Interruption: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var sources: [any DispatchSourceSignal] = []

    init(run: SandboxRun) {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { [weak self] in
                self?.record(number)
                run.cancel()
            }
            source.resume()
            sources.append(source)
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
