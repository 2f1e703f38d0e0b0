import ArgumentParser
import BuildEngine
import BuildEvents
import BuildLog
import BuildPlanner
import BuildService
import Dispatch
import Foundation
import OCI
import ResourceLimits
import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild build`: builds a Dockerfile rootless in a worker process and pushes the image.
struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a Dockerfile rootless into the local store and push it (default: REGISTRY/NAMESPACE/NAME:latest).",
        discussion: """
            The build runs in a worker process: as an unprivileged user, root of a user namespace mapped with your \
            /etc/subuid and /etc/subgid ranges. Progress goes to stderr (a live view on a terminal, plain lines \
            otherwise); with --json every build event is a JSON line on stdout, the last one {"event":"result",...}. \
            On success the pushed (or tagged) reference and its digest are printed on stdout. \
            Under systemd (JOURNAL_STREAM names stderr) or with --log journald, the step log goes to the journal as \
            structured entries instead (journalctl IDPBUILD_IMAGE=REFERENCE). --memory, --cpus and --pids-limit hold \
            the build to limits through a systemd user scope, or a cgroup when run as root (idpbuild info says which).
            Exit status: 0 built (and pushed), 1 the build or the push failed, 2 bad arguments, 130 interrupted.
            """)

    @ArgumentParser.Argument(help: "The build context folder.")
    var context: String = "."

    @Option(name: [.customShort("f"), .customLong("file")], help: "The Dockerfile (default: CONTEXT/Dockerfile).")
    var file: String?

    @Option(name: [.customShort("t"), .customLong("tag")], help: "NAME[:TAG] under REGISTRY/NAMESPACE, or a full reference (default: the context folder's name, tag latest).")
    var tag: String?

    @Option(name: .customLong("build-arg"), help: "A build argument KEY=VALUE (repeat); KEY alone takes the value from the environment.")
    var buildArgs: [String] = []

    @Option(help: "The stage to build (default: the last).")
    var target: String?

    @Option(help: "linux/ARCH; only this machine's platform is built.")
    var platform: String?

    @ArgumentParser.Flag(name: .customLong("no-cache"), help: "Run every step instead of reusing the build cache.")
    var noCache = false

    @ArgumentParser.Flag(name: .customLong("no-push"), help: "Build and tag in the local store only.")
    var noPush = false

    @ArgumentParser.Flag(help: "Pull base images even when the local store has them.")
    var pull = false

    @Option(help: "A secret for RUN --mount=type=secret: id=ID,src=FILE (repeat).")
    var secret: [String] = []

    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    @OptionGroup(title: "Registry settings") var registrySettings: RegistrySettingsOptions

    @OptionGroup(title: "Build settings") var buildSettings: BuildSettingsOptions

    @ArgumentParser.Flag(help: "Print build events as JSON lines on stdout.")
    var json = false

    @ArgumentParser.Flag(name: .customLong("dry-run"), help: "Plan only: print each step as cached, will run (and why) or metadata; run and pull nothing.")
    var dryRun = false

    @Option(help: "Where the step log goes: auto (the journal under systemd, else stderr), stderr or journald.")
    var log: LogDestination = .auto

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var args: [String: String] = [:]
        for entry in buildArgs {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2 { args[parts[0]] = parts[1] } else if let value = environment[parts[0]] { args[parts[0]] = value }
        }
        var secrets: [String: String] = [:]
        for entry in secret {
            var fields: [String: String] = [:]
            for field in entry.split(separator: ",") {
                let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { fields[kv[0]] = kv[1] }
            }
            guard let id = fields["id"], let source = fields["src"] ?? fields["source"] else {
                throw ValidationError("--secret \(entry): expected id=ID,src=FILE")
            }
            secrets[id] = source
        }
        let contextPath = URL(fileURLWithPath: context).standardizedFileURL.path
        let (name, imageTag) = Self.splitTag(tag ?? Self.repositoryName(for: contextPath))
        // The settings' layers: the defaults, the environment, then these flags.
        var config = registrySettings.config(storeRoot: root)
        buildSettings.apply(to: &config)
        for problem in BuilderConfig.environmentProblems(environment) { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
        let password = config.password
        // -f is relative to the current directory, as `docker build -f`; the request wants it absolute or relative to the context.
        let dockerfile = file.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? contextPath + "/Dockerfile"
        let request = BuildRequest(dockerfilePath: dockerfile, contextDir: contextPath, imageName: name,
                                   imageTag: imageTag, buildArgs: args, target: target, platform: platform, noCache: noCache,
                                   pull: pull, secrets: secrets)
        if dryRun {
            let ok = Self.printPlan(Result { try Builder(config: config).plan(request) }, json: json)
            if !ok { throw ExitCode(1) }
            return
        }
        let destination = log.resolved(environment: environment)
        // Secret values never reach the terminal, --json or the journal: the --secret files' contents and the
        // password are masked, with the patterns every log shares (Authorization headers, tokens, URL passwords).
        let values = secrets.values.compactMap { path -> String? in
            guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size <= 1 << 16 else { return nil }
            return try? String(contentsOfFile: path, encoding: .utf8)
        } + (password.map { [$0] } ?? [])
        let redactor = SecretRedactor(secrets: values)
        var journal: BuildJournal?
        if destination == .journald {
            if log == .journald, let problem = LogDestination.journaldProblem() {
                FileHandle.standardError.write(Data("warning: \(problem)\n".utf8))
            }
            journal = BuildJournal(image: request.fullTag(config: config), dockerfile: request.absoluteDockerfilePath, redactor: redactor)
        }
        let renderer = BuildRenderer(json: json, journal: journal, redactor: redactor)
        let builder = Builder(config: config)
        let task = Task { await builder.build(request, push: !noPush, events: renderer.render) }
        let interruption = Interruption { _ in task.cancel() }  // the worker stops and cleans up
        let response = await task.value
        renderer.finish(response, errorToStandardError: !Journal.isConnected(environment: environment))
        if let signal = interruption.received { throw ExitCode(128 + signal) }
        if !response.success { throw ExitCode(1) }
    }

    /// `--dry-run`: one line per step (FROM and instructions) with its verdict and reason; returns whether planning worked.
    static func printPlan(_ planned: Result<BuildPlan, any Error>, json: Bool) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let plan: BuildPlan
        switch planned {
        case .success(let value): plan = value
        case .failure(let error):
            if json {
                struct Failure: Encodable { var event = "plan-error"; var error: String }
                if let data = try? encoder.encode(Failure(error: "\(error)")) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return false
        }
        struct Line: Encodable {
            var event = "plan"
            var step: Int
            var stage: String
            var instruction: String
            var line: Int
            var state: String
            var reason: String?
        }
        var counts: [String: Int] = [:]
        for stage in plan.stages {
            for step in stage.steps where step.instructionIndex != nil {
                let (state, reason): (String, String?) = switch step.verdict {
                case .metadata: ("metadata", nil)
                case .cached: ("cached", nil)
                case .willRun(let why): ("willRun", why.description)
                }
                counts[state, default: 0] += 1
                if json {
                    let entry = Line(step: step.number, stage: stage.label, instruction: step.display, line: step.range.start.line + 1,
                                     state: state, reason: reason)
                    if let data = try? encoder.encode(entry) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
                } else {
                    let verdict = state == "willRun" ? "will run (\(reason ?? ""))" : state
                    FileHandle.standardOutput.write(Data("#\(step.number) [\(stage.label)] \(step.display): \(verdict)\n".utf8))
                }
            }
        }
        if !json {
            FileHandle.standardError.write(Data("plan: \(plan.totalSteps) steps: \(counts["cached", default: 0]) cached, \(counts["willRun", default: 0]) will run, \(counts["metadata", default: 0]) metadata; nothing was run\n".utf8))
        }
        return true
    }

    /// `NAME[:TAG]` → (NAME, TAG); a `:` before the last `/` belongs to a registry port.
    static func splitTag(_ text: String) -> (String, String) {
        guard let colon = text.lastIndex(of: ":"), !text[colon...].contains("/") else { return (text, "latest") }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The context folder's name made a valid lowercase repository name.
    static func repositoryName(for path: String) -> String { BuildRequest.repositoryName(forContext: path) }
}

extension LogDestination: ExpressibleByArgument {}

/// The hidden worker entry point `idpbuild build-worker` (started by `Builder`, reads its job on stdin).
struct BuildWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build-worker", abstract: "Internal: the build worker process.",
                                                    shouldDisplay: false)

    @ArgumentParser.Argument(help: "The image being built (shown by ps; the job comes on standard input).")
    var image: String?

    func run() async throws {
        let status = await BuildWorker.run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// Renders build events: a live step line on a terminal, plain lines otherwise, JSON lines with --json, journal
/// entries when the log goes to journald.
final class BuildRenderer: @unchecked Sendable {
    private let json: Bool
    private let journal: BuildJournal?
    private let terminal: Bool
    private let lock = NSLock()
    private var pulled: [String: (Int64, Int64)] = [:]
    private var lastDraw = Date.distantPast
    private var status = ""
    private var cachedCount = 0
    private var transfer = ""
    /// Terminal grouping: the step whose lines print live, steps still running, lines held for the others.
    private var foreground: Int?
    private var running = Set<Int>()
    private var done = Set<Int>()
    private var held: [Int: [String]] = [:]
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private let redactor: SecretRedactor

    init(json: Bool, journal: BuildJournal? = nil, redactor: SecretRedactor = SecretRedactor()) {
        self.json = json
        self.journal = journal
        self.redactor = redactor
        terminal = journal == nil && isatty(STDERR_FILENO) == 1
    }

    var render: BuildEventHandler { { [self] event in handle(event) } }

    private func handle(_ event: BuildEvent) {
        var event = event
        event.line = event.line.map(redactor.redact)
        event.message = event.message.map(redactor.redact)
        event.tail = event.tail?.map(redactor.redact)
        if let error = event.summary?.error { event.summary?.error = redactor.redact(error) }
        if let journal, !json {
            journal.record(event)
            return
        }
        lock.lock()
        defer { lock.unlock() }
        if json {
            if let data = try? encoder.encode(event) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            return
        }
        let prefix = event.step.map { "#\($0)" } ?? "#-"
        let step = event.step
        switch event.kind {
        case .stepStarted:
            transfer = ""
            pulled.removeAll()
            status = "[\(event.step ?? 0)/\(event.totalSteps ?? 0)] \(event.instruction ?? "")"
            if let step { running.insert(step) }
            let why = event.reason.map { "  (runs: \($0))" } ?? ""
            line("\(prefix) [\(event.stage ?? "")] \(event.instruction ?? "")\(why)", step: step)
        case .stepCached:
            cachedCount += 1
            line("\(prefix) CACHED", step: step)
            finish(step)
        case .stepDone:
            if let ms = event.durationMs, ms >= 50 { line("\(prefix) DONE \(String(format: "%.1f", Double(ms) / 1000))s", step: step) }
            finish(step)
        case .output:
            line("\(prefix) \(event.line ?? "")", step: step)
        case .bytes:
            let key = event.message ?? ""
            pulled[key] = (event.bytes ?? 0, event.totalBytes ?? 0)
            let done = pulled.values.reduce(0) { $0 + $1.0 }, total = pulled.values.reduce(0) { $0 + $1.1 }
            let text = "\(event.phase ?? "transfer") \(CommandOutput.size(done)) / \(CommandOutput.size(total))"
            if terminal {
                transfer = text
                if Date().timeIntervalSince(lastDraw) > 0.1 { drawStatus() }
            } else if let bytes = event.bytes, let total = event.totalBytes, bytes == total, total > 0 {
                line("\(event.phase ?? "transfer") \(String(key.dropFirst(7).prefix(12))) \(CommandOutput.size(total))")
            }
        case .stepFailed:
            if let tail = event.tail, !tail.isEmpty {
                line("\(prefix) failed with exit code \(event.exitCode ?? -1); last output:", step: step)
                tail.forEach { line("  \($0)", step: step) }
            }
            finish(step)
        case .warning:
            line("warning: \(event.message ?? "")")
        case .finished:
            flushAll()
        }
    }

    /// Prints a line. On a terminal, stages that build at once keep each step's lines together: the oldest running
    /// step prints as it goes, the others are held and printed as a block once it is done.
    private func line(_ text: String, step: Int? = nil) {
        guard terminal, let step, let shown = foreground, shown != step else {
            if terminal, let step, foreground == nil { foreground = step }
            write(text)
            return
        }
        held[step, default: []].append(text)
    }

    private func write(_ text: String) {
        if terminal { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
        FileHandle.standardError.write(Data((text + "\n").utf8))
        if terminal { drawStatus() }
    }

    /// A step ended: when it was the one printing, the finished steps held meanwhile print, then the oldest still running.
    private func finish(_ step: Int?) {
        guard let step else { return }
        running.remove(step)
        if foreground != step { done.insert(step); return }
        foreground = nil
        for finished in done.sorted() { (held.removeValue(forKey: finished) ?? []).forEach(write) }
        done.removeAll()
        if let next = running.min() {
            foreground = next
            (held.removeValue(forKey: next) ?? []).forEach(write)
        }
    }

    private func flushAll() {
        for step in held.keys.sorted() { (held.removeValue(forKey: step) ?? []).forEach(write) }
        foreground = nil
    }

    /// The live bottom line on a terminal: the current step, cache hits so far, bytes moved.
    private func drawStatus() {
        lastDraw = Date()
        var text = status
        if cachedCount > 0 { text += "  (\(cachedCount) cached)" }
        if !transfer.isEmpty { text += "  " + transfer }
        let columns = Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 100
        if text.count > columns - 1 { text = String(text.prefix(columns - 2)) + "…" }
        FileHandle.standardError.write(Data("\r\u{1b}[K\u{1b}[1m\(text)\u{1b}[0m".utf8))
    }

    /// Prints the result; a failure also goes to stderr unless stderr is the journal (which has it already).
    func finish(_ response: BuildResponse, errorToStandardError: Bool = true) {
        var response = response
        response.error = response.error.map(redactor.redact)
        lock.lock()
        defer { lock.unlock() }
        if terminal { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
        if let journal, !json {
            if let failure = journal.sendFailure {
                FileHandle.standardError.write(Data("warning: \(failure.count) log entries did not reach the journal: \(failure.error)\n".utf8))
            }
            if response.success {
                FileHandle.standardOutput.write(Data("\(response.fullTag) \(response.digest ?? "")\n".utf8))
            } else if errorToStandardError {
                FileHandle.standardError.write(Data("error: \(response.error ?? "the build failed")\n".utf8))
            }
            return
        }
        if json {
            struct Result: Encodable { var event = "result"; var response: BuildResponse }
            if let data = try? encoder.encode(Result(response: response)) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
        } else if response.success {
            FileHandle.standardError.write(Data("built \(response.fullTag) in \(String(format: "%.1f", Double(response.durationMs) / 1000))s (\(response.stepsCached) cached, \(response.stepsRun) run)\n".utf8))
            FileHandle.standardOutput.write(Data("\(response.fullTag) \(response.digest ?? "")\n".utf8))
        }
        if !response.success {
            FileHandle.standardError.write(Data("error: \(response.error ?? "the build failed")\n".utf8))
        }
    }
}
