import DockerfileCheck
import Foundation
import JSONRPC
import Locking
import LSPTypes

/// A request about one document.
protocol TextDocumentRequest: LSPRequest {
    var textDocument: TextDocumentIdentifier { get }
}

extension HoverRequest: TextDocumentRequest {}
extension CompletionRequest: TextDocumentRequest {}
extension CodeActionRequest: TextDocumentRequest {}
extension DocumentSymbolRequest: TextDocumentRequest {}
extension FoldingRangeRequest: TextDocumentRequest {}
extension DocumentFormattingRequest: TextDocumentRequest {}
extension SemanticTokensRequest: TextDocumentRequest {}
extension CodeLensRequest: TextDocumentRequest {}
extension InlayHintRequest: TextDocumentRequest {}

/// The Dockerfile language server: the LSP lifecycle, document sync, diagnostics and language features over one
/// JSON-RPC connection.
///
/// Messages are handled in order by the connection's dispatcher: document changes are applied at once (cheap),
/// requests take a snapshot of their document and compute their answer concurrently. Checks run when the message
/// queue drains, on the newest version of each changed document, so a burst of keystrokes costs one check.
public final class LanguageServer: MessageHandler {
    /// How the server is set up.
    public struct Options: Sendable {
        /// The version in `serverInfo`.
        public var version: String
        /// Commands for `workspace/executeCommand`.
        public var commands: [any ServerCommand]
        /// The log.
        public var log: ServerLog
        /// The largest message accepted, in bytes.
        public var maximumMessageSize: Int
        /// The builds this server runs (shared by every session of the process); nil serves no build commands, code
        /// lenses or inlay hints.
        public var builds: BuildCoordinator?
        /// The settings before the client's (`idpbuild lsp --registry …`, `IDPBUILD_REGISTRY`).
        public var settings: ServerSettings
        /// What this session shares with the other sessions of the process (one per process).
        public var shared: SharedServerState

        /// Creates options.
        public init(version: String, commands: [any ServerCommand] = [], log: ServerLog = ServerLog(),
                    maximumMessageSize: Int = 16 << 20, builds: BuildCoordinator? = nil, settings: ServerSettings = ServerSettings(),
                    shared: SharedServerState = SharedServerState()) {
            self.version = version
            self.commands = commands
            self.log = log
            self.maximumMessageSize = maximumMessageSize
            self.builds = builds
            self.settings = settings
            self.shared = shared
        }
    }

    private let options: Options
    private let connection: Connection
    private let client: Client
    private let session: ServerSession
    private let documents: DocumentStore
    private let scheduler: DiagnosticsScheduler
    private let progress = ProgressRegistry()
    private let commands: [String: any ServerCommand]
    private let sessionNumber = LockedValue<Int?>(nil)
    /// Build commands, lenses, source actions and inlay hints (when `Options.builds` is set).
    private let builds: BuildFeatures?

    /// Creates a server reading `input` and writing `output` (file descriptors; stdout only ever gets messages).
    public init(input: Int32, output: Int32, options: Options) {
        self.options = options
        let log = options.log
        connection = Connection(input: input, output: output, maximumMessageSize: options.maximumMessageSize) { line in
            log.log(.warning, line)
        }
        let client = Client(connection: connection, log: log)
        self.client = client
        let documents = DocumentStore { client.send($0) }
        self.documents = documents
        let session = ServerSession(baseSettings: options.settings)
        self.session = session
        let scheduler = DiagnosticsScheduler { uri in
            await Self.publishDiagnostics(uri, documents: documents, session: session)
        }
        self.scheduler = scheduler
        builds = options.builds.map { coordinator in
            BuildFeatures(coordinator: coordinator, client: client, documents: documents, log: log,
                          context: { await session.context() }, republish: { await scheduler.schedule($0) })
        }
        let all = options.commands + (builds?.commands ?? [])
        commands = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Serves until `exit` or the end of input; returns the process exit status (0 after `shutdown`, else 1).
    public func run() async -> Int32 {
        let number = await options.shared.sessions.open()
        sessionNumber.withLock { $0 = number }
        let reason = await connection.run(self)
        await builds?.detach()
        await options.shared.sessions.close(number)
        switch reason {
        case .endOfInput, .closed: options.log.log(.debug, "connection ended: \(reason)")
        case .endOfInputInsideMessage: options.log.log(.warning, "the client went away in the middle of a message")
        case .outputFailed(let problem): options.log.log(.warning, "the client stopped reading (\(problem))")
        }
        return await session.exitStatus()
    }

    // MARK: Requests

    /// Handles a request in order (see `MessageHandler`).
    public func handle(_ request: RequestMessage, on connection: Connection) async -> RequestWork {
        let phase = await session.phase
        if request.method == InitializeRequest.method {
            guard phase == .uninitialized else {
                return .fail(.invalidRequest("initialize was already received; a connection is initialized once"))
            }
            return await initialize(request)
        }
        switch phase {
        case .uninitialized:
            return .fail(.serverNotInitialized(request.method))
        case .shuttingDown:
            return .fail(.invalidRequest("the server is shutting down (shutdown was received); only exit is accepted now"))
        case .initialized:
            break
        }
        switch request.method {
        case ShutdownRequest.method:
            // Requests received before shutdown are answered before it, so a client that sends exit right after
            // the shutdown answer has every answer (and one that does not wait still gets them).
            // A running build would hold the answer for its whole duration: cancel it (it answers within 2 s).
            await builds?.close()
            await connection.finishInflightRequests()
            await session.shutdown()
            return .reply(.null)
        case HoverRequest.method:
            let builds = self.builds
            return await documentRequest(request, HoverRequest.self) { request, snapshot, context in
                var hover = HoverProvider.hover(request, snapshot, context)
                // On an instruction's keyword: what a build would do with it now, and why a step would run.
                if let builds, hover != nil, let index = HoverProvider.keywordInstruction(request, snapshot, context),
                   let note = await builds.cacheNote(snapshot, instructionIndex: index, context) {
                    hover?.contents.value += "\n\n" + note
                }
                return hover
            }
        case CompletionRequest.method:
            return await documentRequest(request, CompletionRequest.self) { CompletionProvider.completion($0, $1, $2) }
        case CodeActionRequest.method:
            let builds = self.builds
            return await documentRequest(request, CodeActionRequest.self) { request, snapshot, context in
                var actions = CodeActionProvider.codeActions(request, snapshot, context)
                if let builds { actions += await builds.sourceActions(request, snapshot, context) }
                return actions
            }
        case DocumentSymbolRequest.method:
            return await documentRequest(request, DocumentSymbolRequest.self) { SymbolProvider.symbols($1, $2) }
        case FoldingRangeRequest.method:
            return await documentRequest(request, FoldingRangeRequest.self) { FoldingProvider.ranges($1, $2) }
        case DocumentFormattingRequest.method:
            return await documentRequest(request, DocumentFormattingRequest.self) { DocumentFormatter.edits($1, $0.options, $2) }
        case SemanticTokensRequest.method:
            return await documentRequest(request, SemanticTokensRequest.self) { SemanticTokenProvider.tokens($1, $2) }
        case ExecuteCommandRequest.method:
            return await executeCommand(request)
        case CodeLensRequest.method where builds != nil:
            let builds = self.builds!
            return await documentRequest(request, CodeLensRequest.self) { await builds.codeLenses($1, $2) }
        case InlayHintRequest.method where builds != nil:
            let builds = self.builds!
            return await documentRequest(request, InlayHintRequest.self) { try await builds.inlayHints($0, $1, $2) }
        default:
            return .fail(.methodNotFound(request.method))
        }
    }

    private func initialize(_ request: RequestMessage) async -> RequestWork {
        let params: InitializeRequest
        do {
            params = try request.params.decode(InitializeRequest.self)
        } catch {
            return .fail(error)
        }
        // LSP 3.17: the client lists the encodings it supports; UTF-16 is the default every client understands.
        let encoding: PositionEncodingKind = params.capabilities.positionEncodings.contains("utf-8") ? .utf8 : .utf16
        let problems = await session.initialize(capabilities: params.capabilities, encoding: encoding,
                                                options: params.initializationOptions)
        pendingProblems.withLock { $0 = problems }
        await builds?.attach()
        let client = params.clientInfo.map { info in [info.name, info.version].compactMap { $0 }.joined(separator: " ") } ?? "an unnamed client"
        options.log.log(.info, "initialized by \(client), positions in \(encoding.rawValue)")
        if let number = sessionNumber.withLock({ $0 }) {
            await options.shared.sessions.initialized(number, client: client)
        }
        let result = InitializeResult(capabilities: capabilities(encoding: encoding),
                                      serverInfo: .init(name: "idpbuild", version: options.version))
        do {
            return .reply(try JSONFragment(encoding: result))
        } catch {
            return .fail(error)
        }
    }

    /// Settings problems from `initializationOptions`, shown once the client is `initialized`.
    private let pendingProblems = LockedValue<[String]>([])

    /// The server's capabilities.
    func capabilities(encoding: PositionEncodingKind) -> ServerCapabilities {
        ServerCapabilities(
            positionEncoding: encoding,
            textDocumentSync: .init(openClose: true, change: 2),
            hoverProvider: true,
            completionProvider: .init(triggerCharacters: ["$", "{", "-", "=", ",", "#"]),
            codeActionProvider: .init(codeActionKinds: [CodeActionProvider.quickFix, CodeActionProvider.fixAll]
                + (builds == nil ? [] : BuildFeatures.actionKinds)),
            documentSymbolProvider: true,
            foldingRangeProvider: true,
            documentFormattingProvider: true,
            semanticTokensProvider: .init(legend: SemanticTokenProvider.legend, full: true),
            executeCommandProvider: commands.isEmpty ? nil : .init(commands: commands.keys.sorted()),
            codeLensProvider: builds == nil ? nil : .init(resolveProvider: false),
            inlayHintProvider: builds == nil ? nil : true)
    }

    private func documentRequest<Request: TextDocumentRequest>(
        _ message: RequestMessage, _ type: Request.Type,
        _ body: @escaping @Sendable (Request, DocumentSnapshot, RequestContext) async throws -> Request.Response
    ) async -> RequestWork {
        let params: Request
        do {
            params = try message.params.decode(Request.self)
        } catch {
            return .fail(error)
        }
        let context = await session.context()
        let uri = params.textDocument.uri
        guard let snapshot = await documents.snapshot(uri, settings: context.settings, generation: context.generation) else {
            return .fail(LanguageServerError.documentNotOpen(uri: uri).responseError)
        }
        return .run {
            let result = try await body(params, snapshot, context)
            try Task.checkCancellation()
            return try JSONFragment(encoding: result)
        }
    }

    private func executeCommand(_ message: RequestMessage) async -> RequestWork {
        let params: ExecuteCommandRequest
        do {
            params = try message.params.decode(ExecuteCommandRequest.self)
        } catch {
            return .fail(error)
        }
        guard let command = commands[params.command] else {
            return .fail(LanguageServerError.unknownCommand(params.command, available: commands.keys.sorted()).responseError)
        }
        let context = await session.context()
        let (client, documents, progress) = (self.client, self.documents, self.progress)
        return .run {
            let handle = TaskHandle()
            let commandContext = CommandContext(
                command: params.command, client: client, settings: context.settings, capabilities: context.capabilities,
                encoding: context.encoding, workDoneToken: params.workDoneToken, documents: documents,
                progress: progress, generation: context.generation, cancelTask: { handle.cancel() })
            let task = Task { try await command.run(params.arguments ?? [], context: commandContext) }
            handle.set(task)
            let outcome = await withTaskCancellationHandler { await task.result } onCancel: { task.cancel() }
            for token in commandContext.registeredTokens.withLock({ $0 }) { await progress.unregister(token) }
            return try JSONFragment(encoding: try outcome.get())
        }
    }

    // MARK: Notifications

    /// Handles a notification in order (see `MessageHandler`).
    public func handle(_ notification: NotificationMessage, on connection: Connection) async {
        if notification.method == ExitNotification.method {
            connection.close()
            return
        }
        guard await session.phase == .initialized else {
            options.log.log(.debug, "dropping \(notification.method): the server is not initialized or is shutting down")
            return
        }
        do {
            try await handleInitialized(notification)
        } catch let error as ResponseError {
            options.log.log(.warning, "ignoring \(notification.method): \(error.message)")
        } catch let error as LanguageServerError {
            options.log.log(.warning, error.description)
            client.logMessage(.warning, error.description)
        } catch {
            options.log.log(.warning, "ignoring \(notification.method): \(error)")
        }
    }

    private func handleInitialized(_ notification: NotificationMessage) async throws {
        switch notification.method {
        case InitializedNotification.method:
            let problems = pendingProblems.withLock { problems -> [String] in
                defer { problems = [] }
                return problems
            }
            report(problems, source: "initializationOptions")
            if await session.context().capabilities.configuration { pullConfiguration() }
        case DidOpenTextDocumentNotification.method:
            let params = try notification.params.decode(DidOpenTextDocumentNotification.self)
            await documents.open(params.textDocument)
        case DidChangeTextDocumentNotification.method:
            let params = try notification.params.decode(DidChangeTextDocumentNotification.self)
            let encoding = await session.context().encoding
            try await documents.change(params, encoding: encoding)
        case DidCloseTextDocumentNotification.method:
            let params = try notification.params.decode(DidCloseTextDocumentNotification.self)
            if !(await documents.close(params.textDocument.uri)) {
                throw LanguageServerError.documentNotOpen(uri: params.textDocument.uri)
            }
        case DidSaveTextDocumentNotification.method:
            // The server works on the editor's text; a save may come with changed context files, so the cache hints
            // are asked for again.
            await builds?.refreshHints()
        case DidChangeConfigurationNotification.method:
            let params = try notification.params.decode(DidChangeConfigurationNotification.self)
            if let settings = params.settings, Self.holdsOurSettings(settings) {
                let ticket = await session.nextConfigurationTicket()
                await applySettings(settings, ticket: ticket, source: "workspace/didChangeConfiguration")
            } else if await session.context().capabilities.configuration {
                pullConfiguration()
            }
        case WorkDoneProgressCancelNotification.method:
            let params = try notification.params.decode(WorkDoneProgressCancelNotification.self)
            if !(await progress.cancel(params.token)) {
                options.log.log(.debug, "window/workDoneProgress/cancel for unknown token \(params.token)")
            }
        default:
            options.log.log(notification.method.hasPrefix("$/") ? .debug : .info, "ignoring unknown notification \(notification.method)")
        }
    }

    /// Whether a pushed settings object is for this server (an `idpbuild` section or one of its setting names).
    static func holdsOurSettings(_ json: JSONValue) -> Bool {
        guard let object = json.objectValue else { return false }
        return object["idpbuild"] != nil || object.keys.contains(where: ServerSettings.names.contains)
    }

    /// Called when reading stops: a client that went away (or sent `exit`) waits for no build, so its builds are
    /// cancelled before the connection waits for the requests in flight.
    public func connectionWillEnd(_ connection: Connection, reason: EndReason) async {
        await builds?.close()
    }

    /// Called when every received message has been handled: checks the documents changed meanwhile.
    public func connectionDidDrainQueue(_ connection: Connection) async {
        let changed = await documents.takeChanged()
        if !changed.isEmpty { await scheduler.schedule(changed) }
    }

    // MARK: Settings

    private func pullConfiguration() {
        let (session, client, log) = (self.session, self.client, options.log)
        Task {
            let ticket = await session.nextConfigurationTicket()
            do {
                let values = try await client.send(ConfigurationRequest(items: [ConfigurationItem(scopeUri: nil, section: "idpbuild")]))
                await applySettings(values.first, ticket: ticket, source: "workspace/configuration")
            } catch let error as ResponseError {
                log.log(.warning, "workspace/configuration failed (\(error.message)); keeping the current settings")
            } catch {
                log.log(.warning, "workspace/configuration failed (\(error)); keeping the current settings")
            }
        }
    }

    private func applySettings(_ json: JSONValue?, ticket: Int, source: String) async {
        let (changed, problems) = await session.applyClientSettings(json, ticket: ticket)
        report(problems, source: source)
        if changed {
            let settings = await session.settings
            options.log.log(.info, "settings changed: \(settings.json.compactJSON)")
            await scheduler.schedule(await documents.openURIs())
            // The lenses name the registry and namespace; the hints follow the build arguments.
            await builds?.refreshLenses()
            await builds?.refreshHints()
        }
    }

    private func report(_ problems: [String], source: String) {
        guard !problems.isEmpty else { return }
        let text = "idpbuild settings (\(source)): " + problems.joined(separator: "; ")
        options.log.log(.warning, text)
        client.showMessage(.warning, text)
    }

    // MARK: Diagnostics

    private static func publishDiagnostics(_ uri: String, documents: DocumentStore, session: ServerSession) async {
        let context = await session.context()
        guard let snapshot = await documents.snapshot(uri, settings: context.settings, generation: context.generation),
              !(await documents.isPublished(snapshot)) else { return }
        let converter = PositionConverter(source: snapshot.analysis.dockerfile.source, encoding: context.encoding)
        var diagnostics = DiagnosticConversion.lspDiagnostics(snapshot.analysis.diagnostics, converter: converter,
                                                              capabilities: context.capabilities)
        let (revision, anchored) = await documents.anchoredDiagnostics(uri)
        diagnostics += AnchoredDiagnostic.locate(anchored, in: snapshot.analysis.dockerfile, converter: converter)
        _ = await documents.publishIfCurrent(snapshot, diagnostics: diagnostics, revision: revision)
    }
}

/// A task handle set after the task starts, so work can cancel itself through a closure made before.
private final class TaskHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<JSONValue, any Error>?
    private var cancelled = false

    func set(_ task: Task<JSONValue, any Error>) {
        let cancel = lock.withLock { () -> Bool in
            self.task = task
            return cancelled
        }
        if cancel { task.cancel() }
    }

    func cancel() {
        let task = lock.withLock { () -> Task<JSONValue, any Error>? in
            cancelled = true
            return self.task
        }
        task?.cancel()
    }
}
