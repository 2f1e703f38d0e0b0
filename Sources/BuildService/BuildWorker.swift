import BuildEngine
import BuildEvents
import BuildPlanner
import Dispatch
import Foundation
import ImageStore
import ImageTransfer
import OCI
#if canImport(Glibc)
import Glibc
#endif

/// The build worker's side: reads one `WorkerJob` line from standard input, builds (and pushes), and writes
/// `BuildEvent` JSON lines on standard output, the last one `finished`. Standard input reaching its end, SIGTERM or
/// SIGINT cancel the build; the sandbox's processes, mounts and partial files are cleaned up before it exits.
/// `idpbuild build-worker` calls `run()`; it runs as root of the user namespace the builder made.
public enum BuildWorker {
    /// Runs the worker on standard input and output and returns its exit status (0 when the build succeeded).
    public static func run() async -> Int32 {
        // What the build writes (layer trees, staging files, the store) must not depend on the caller's umask; the
        // sandbox sets Docker's 0022 for RUN itself, and the engine sets modes explicitly where they reach an image.
        umask(0o022)
        return await run(input: 0, output: 1, handleSignals: true)
    }

    /// The worker on given descriptors (tests run it in-process on pipes, without taking over signals).
    static func run(input: Int32, output outputFD: Int32, handleSignals: Bool) async -> Int32 {
        let output = EventWriter(fd: outputFD)
        guard let line = readJobLine(input), let job = try? JSONDecoder().decode(WorkerJob.self, from: Data(line)) else {
            output.write(.finished(BuildSummary(success: false, error: "the build worker got no readable job on its standard input")))
            return 2
        }
        let task = Task { try await perform(job, output: output) }
        // Cancel on EOF of the input (the builder closed it, or died) and on SIGTERM/SIGINT.
        let watcher = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(input, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
            }
            task.cancel()
        }
        watcher.start()
        var sources: [any DispatchSourceSignal] = []
        for number in handleSignals ? [SIGTERM, SIGINT, SIGHUP] : [] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { task.cancel() }
            source.resume()
            sources.append(source)
        }
        let summary: BuildSummary
        do {
            summary = try await task.value
        } catch is CancellationError {
            summary = BuildSummary(success: false, error: "the build was cancelled; nothing was pushed")
        } catch {
            summary = BuildSummary(success: false, error: "\(error)")
        }
        output.write(.finished(summary))
        _ = sources
        return summary.success ? 0 : 1
    }

    /// Reads up to the first newline byte by byte, so nothing after it (the cancel EOF) is consumed.
    static func readJobLine(_ input: Int32) -> [UInt8]? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(input, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return bytes.isEmpty ? nil : bytes }
            if byte == 0x0a { return bytes }
            bytes.append(byte)
            if bytes.count > 16 << 20 { return nil }
        }
    }

    /// Builds the job (running `plan` when one was made for it in this process) and pushes.
    static func perform(_ job: WorkerJob, plan: BuildPlan? = nil, output: EventWriter) async throws -> BuildSummary {
        let environment = ProcessInfo.processInfo.environment
        let store = try ImageStore(root: job.config.storeRoot ?? ImageStore.defaultRoot(environment: environment))
        let transfer = try job.config.makeTransfer(store: store, credentialSource: "the build request's credentials") { output.write(.warning($0)) }
        let engine = BuildEngine(store: store, transfer: transfer)
        var summary: BuildSummary
        do {
            if let plan {
                summary = try await engine.execute(plan, options: job.options) { output.write($0) }
            } else {
                summary = try await engine.build(job.options) { output.write($0) }
            }
        } catch let error as BuildError {
            return BuildSummary(success: false, error: error.description)
        }
        if let destination = job.push, let tag = job.options.tags.first {
            let reference = try Reference(parsing: destination)
            do {
                let digest = try await transfer.push(tag, to: reference) { transferEvent in
                    guard [.blobStarted, .blobProgress, .blobDone, .blobSkipped, .blobMounted].contains(transferEvent.kind) else { return }
                    var event = BuildEvent(.bytes)
                    event.phase = "push"
                    event.bytes = transferEvent.kind == .blobStarted ? 0 : transferEvent.bytes
                    event.totalBytes = transferEvent.total
                    event.message = transferEvent.digest
                    output.write(event)
                }
                summary.pushedReference = destination
                summary.pushedDigest = digest.description
            } catch let error as CancellationError {
                throw error
            } catch {
                summary.success = false
                summary.error = "built \(summary.imageID ?? "the image") but the push to \(reference.domain) failed: \(error)"
            }
        }
        return summary
    }
}

/// Writes events as JSON lines on a descriptor (standard output in the worker), one at a time, or hands them to a
/// handler (a build that runs in the caller's process).
final class EventWriter: @unchecked Sendable {
    private let fd: Int32
    private let handler: BuildEventHandler?
    private let lock = NSLock()
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    init(fd: Int32 = 1) {
        self.fd = fd
        handler = nil
    }

    init(handler: @escaping BuildEventHandler) {
        fd = -1
        self.handler = handler
    }

    func write(_ event: BuildEvent) {
        lock.lock()
        defer { lock.unlock() }
        if let handler { return handler(event) }
        guard var data = try? encoder.encode(event) else { return }
        data.append(0x0a)
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
