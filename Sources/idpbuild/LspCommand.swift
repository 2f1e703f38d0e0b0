import ArgumentParser
import BuildLog
import BuildService
import Dispatch
import Foundation
import JSONRPC
import LanguageServer
import LanguageServerHost
import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild lsp`: the Dockerfile language server over standard input and output, as a shared server on a socket
/// (socket-activated by systemd, or started by hand), or as a bridge to that server.
struct LspCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Run the Dockerfile language server (stdio, a shared server on a socket, or a bridge to it).",
        discussion: """
        Speaks the Language Server Protocol (JSON-RPC 2.0 with Content-Length framing) on standard input and \
        output; logs go to standard error (or the journal under systemd). protocol/README.md documents every method \
        and setting, editors/ has ready set-ups for Neovim, Emacs and VS Code.
        --listen serves one session per connection, all sharing one process (editors/systemd has the socket and \
        service units; auto is $XDG_RUNTIME_DIR/idpbuild/lsp.sock, or the sockets systemd passed). TCP is loopback \
        only, and clients present the token from --token-file. --connect joins standard input and output to such a \
        server, for editors that only start processes.
        The build commands (idpbuild.buildAndPush, idpbuild.build, idpbuild.cancelBuild) build in a worker process \
        like idpbuild build, one build queue for every session of the process; the options below set their \
        defaults, and a session's settings of the same names (registry, namespace, insecureRegistries, caFile, memory, \
        cpus, pidsLimit, allow, jobs, compression, timestamp) override them for that session.
        Exit status: 0 after shutdown and exit (stdio), when idle or stopped (--listen), or when the server ended \
        the session (--connect); 1 when the client exits or disconnects without shutdown, or the server cannot \
        listen or be reached; 2 for a wrong command line.
        """
    )

    @ArgumentParser.Flag(help: "Talk over standard input and output (the default; accepted because editors pass it).")
    var stdio = false

    @Option(help: ArgumentHelp("Serve sessions on unix:PATH, tcp:127.0.0.1:PORT or auto (systemd's sockets, else $XDG_RUNTIME_DIR/idpbuild/lsp.sock).",
                               valueName: "ADDRESS"))
    var listen: String?

    @Option(help: ArgumentHelp("Bridge standard input and output to a server on unix:PATH, tcp:127.0.0.1:PORT or auto.", valueName: "ADDRESS"))
    var connect: String?

    @Option(help: ArgumentHelp("With --listen: stop after this many seconds without a session (0: never).", valueName: "SECONDS"))
    var idleTimeout: Double = 0

    @Option(help: ArgumentHelp("The TCP token file (default: $XDG_RUNTIME_DIR/idpbuild/lsp.token, made 0600 by the server).", valueName: "PATH"))
    var tokenFile: String?

    @Option(help: "What to log: error, warning, info or debug.")
    var logLevel = "info"

    @Option(help: "Where logs go: auto (the journal under systemd, else stderr), stderr or journald.")
    var log: LogDestination = .auto

    @Option(help: ArgumentHelp("The largest message accepted, in bytes; larger ones are answered with an error and skipped.", valueName: "BYTES"))
    var maxMessageSize = 16 << 20

    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    @OptionGroup(title: "Registry settings for builds") var registrySettings: RegistrySettingsOptions

    @OptionGroup(title: "Build settings (a session's settings of the same names override them)") var buildSettings: BuildSettingsOptions

    func validate() throws {
        guard ServerLog.Level(name: logLevel) != nil else {
            throw ValidationError("--log-level takes error, warning, info or debug, not \(logLevel)")
        }
        guard maxMessageSize >= 4_096 else {
            throw ValidationError("--max-message-size must be at least 4096 bytes")
        }
        if listen != nil && connect != nil { throw ValidationError("--listen and --connect exclude each other") }
        if stdio && (listen != nil || connect != nil) { throw ValidationError("--stdio excludes --listen and --connect") }
        guard idleTimeout >= 0 && idleTimeout.isFinite else { throw ValidationError("--idle-timeout must be 0 or more seconds") }
        let environment = ProcessInfo.processInfo.environment
        for (flag, value) in [("--listen", listen), ("--connect", connect)] {
            // auto needs XDG_RUNTIME_DIR only when systemd passed no socket: decided when serving.
            guard let value, !(flag == "--listen" && value == "auto") else { continue }
            do {
                _ = try ListenAddress(parsing: value, environment: environment)
            } catch {
                throw ValidationError("\(flag) \(error.description)")
            }
        }
        // The password is read from standard input, which is the LSP connection unless the server listens on a socket.
        if registrySettings.passwordStdin && listen == nil {
            throw ValidationError("--password-stdin needs --listen: with stdio, standard input is the editor's connection")
        }
    }

    /// The build settings every session starts from: the defaults, the environment, then these flags.
    func builderConfig() -> BuilderConfig {
        var config = registrySettings.config(storeRoot: root)
        buildSettings.apply(to: &config)
        return config
    }

    /// The options every session of this process starts from: one build coordinator (one build queue, one store)
    /// for all of them.
    func serverOptions(log: ServerLog, shared: SharedServerState? = nil) -> LanguageServer.Options {
        let config = builderConfig()
        let builds = BuildCoordinator(config: config)
        // The shared server's sessions also answer idpbuild.serverStatus: who else is connected, what is building.
        let commands: [any ServerCommand] = shared.map { [ServerStatusCommand(shared: $0, builds: builds)] } ?? []
        return LanguageServer.Options(version: IDPBuild.configuration.version, commands: commands, log: log, maximumMessageSize: maxMessageSize,
                                      builds: builds, settings: ServerSettings(build: config),
                                      shared: shared ?? SharedServerState())
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let serverLog = makeLog(environment: environment)
        for problem in BuilderConfig.environmentProblems(environment) { serverLog.log(.warning, problem) }
        if let connect {
            try bridge(to: try ListenAddress(parsing: connect, environment: environment), environment: environment)
        }
        if let listen {
            let status = await serve(listen, environment: environment, log: serverLog)
            Foundation.exit(status)
        }
        // Standard output carries only framed messages: the server writes to a private copy of it, and descriptor 1
        // becomes standard error, so a stray print anywhere in the process lands in the log instead of the protocol.
        let output = dup(STDOUT_FILENO)
        guard output >= 0, dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
            throw ValidationError("cannot set up standard output: \(String(cString: strerror(errno)))")
        }
        let server = LanguageServer(input: STDIN_FILENO, output: output, options: serverOptions(log: serverLog))
        let status = await server.run()
        Foundation.exit(status)
    }

    /// The log: standard error, or the journal (structured, priorities kept) when `--log` resolves to journald.
    func makeLog(environment: [String: String]) -> ServerLog {
        let level = ServerLog.Level(name: logLevel) ?? .info
        guard log.resolved(environment: environment) == .journald else { return ServerLog(level: level) }
        if log == .journald, let problem = LogDestination.journaldProblem() {
            FileHandle.standardError.write(Data("idpbuild lsp: warning: \(problem)\n".utf8))
        }
        let journal = JournalLog(component: "lsp")
        return ServerLog(level: level) { level, message in
            let mapped: JournalLog.Level = switch level {
            case .error: .error
            case .warning: .warning
            case .info: .info
            case .debug: .debug
            }
            if !journal.log(mapped, message) {
                FileHandle.standardError.write(Data("idpbuild lsp: \(level): \(message)\n".utf8))
            }
        }
    }

    /// `--connect`: copies standard input and output to the server until it ends the session.
    func bridge(to address: ListenAddress, environment: [String: String]) throws -> Never {
        do {
            var token: String?
            if case .tcp = address {
                token = try TokenFile.read(try tokenFile ?? ListenAddress.defaultTokenFile(environment: environment))
            }
            Foundation.exit(try StdioBridge.run(address, token: token))
        } catch {
            FileHandle.standardError.write(Data("idpbuild lsp: error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    /// `--listen`: the shared server, with sd_notify readiness, status, watchdog and stopping.
    func serve(_ listen: String, environment: [String: String], log: ServerLog) async -> Int32 {
        let notifications = NotifyQueue(log: log)
        let notify: @Sendable ([NotifyState]) -> Void = { notifications.send($0) }
        defer { notifications.flush() }
        var endpoints: [SessionHost.Endpoint] = []
        do {
            if let reason = SocketActivation.ignoredReason(environment: environment) { log.log(.warning, reason) }
            let passed = try SocketActivation.takeSockets()
            if !passed.isEmpty {
                endpoints = try passed.map { socket throws(HostError) in try SessionHost.Endpoint.passed(descriptor: socket.descriptor, name: socket.name) }
                log.log(.info, "socket activation passed \(passed.count) socket(s); --listen \(listen) is not bound")
            } else {
                let address = try ListenAddress(parsing: listen, environment: environment)
                endpoints = [try SessionHost.Endpoint.listening(on: address) { log.log(.warning, $0) }]
            }
            var token: String?
            var tokenPath: String?
            if endpoints.contains(where: \.needsToken) {
                let path = try tokenFile ?? ListenAddress.defaultTokenFile(environment: environment)
                token = try TokenFile.loadOrCreate(path)
                tokenPath = path
            }
            let shared = SharedServerState()
            let options = SessionHost.Options(
                server: serverOptions(log: log, shared: shared),
                idleTimeout: idleTimeout > 0 ? idleTimeout : nil, token: token, tokenFile: tokenPath,
                events: { event in
                    switch event {
                    case .ready: notify([.ready])
                    case .status(let text): notify([.status(text)])
                    case .stopping(let reason): notify([.stopping, .status("stopping: \(reason)")])
                    }
                })
            let host = SessionHost(endpoints: endpoints, options: options)
            // SIGTERM, SIGINT and SIGHUP stop the shared server (sessions end, the socket file goes).
            let signals = Interruption { number in
                host.stop("signal \(number == SIGTERM ? "SIGTERM" : number == SIGINT ? "SIGINT" : "SIGHUP")")
            }
            // A SIGTERM before libdispatch has registered the handlers would be lost (they start as SIG_IGN):
            // readiness is announced only once they are in place.
            await signals.registered()
            let watchdog = ServiceNotifier.watchdogPeriod().map { period in
                Task.detached {
                    let interval = ServiceNotifier.pingInterval(for: period)
                    while !Task.isCancelled {
                        // Pings prove the accept loop runs, not just that a timer fires.
                        if Date().timeIntervalSince(host.heartbeat) < 5 { notify([.watchdog]) }
                        try? await Task.sleep(for: interval)
                    }
                }
            }
            let status = await host.run()
            watchdog?.cancel()
            _ = signals
            return status
        } catch {
            for endpoint in endpoints { close(endpoint.descriptor) }
            log.log(.error, "\(error)")
            notify([.status("failed: \(error)")])
            return 1
        }
    }
}

/// Sends sd_notify messages in order on a queue of their own: a send blocks while the manager's socket queue is
/// full, which must never stall the threads serving editors; a watchdog ping is dropped while another still waits.
final class NotifyQueue: @unchecked Sendable {
    private let queue = DispatchQueue(label: "idpbuild.notify")
    private let lock = NSLock()
    private var pingWaiting = false
    private let notifier = ServiceNotifier()
    private let log: ServerLog

    init(log: ServerLog) { self.log = log }

    /// Queues one message.
    func send(_ states: [NotifyState]) {
        let isPing = states == [.watchdog]
        if isPing {
            let queued = lock.withLock { () -> Bool in
                defer { pingWaiting = true }
                return pingWaiting
            }
            if queued { return }
        }
        queue.async { [self] in
            if isPing { lock.withLock { pingWaiting = false } }
            do {
                try notifier.notify(states)
            } catch {
                log.log(.warning, "\(error)")
            }
        }
    }

    /// Waits until every queued message is sent (before the process exits), for two seconds at most: a manager
    /// that stopped reading must not keep the process from exiting.
    func flush() {
        let sent = DispatchSemaphore(value: 0)
        queue.async { sent.signal() }
        _ = sent.wait(timeout: .now() + 2)
    }
}
