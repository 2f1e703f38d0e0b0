import BuildEvents
import BuildPlanner
import BuildService
import DockerfileCheck
import DockerfileSyntax
import Foundation
import JSONRPC
import Locking
import LSPTypes
import ResourceLimits

/// One session's side of building from the editor: resolving a command's argument into a build, running it with
/// progress and diagnostics, the code lenses, source actions and inlay hints, and refreshing them when the shared
/// `BuildCoordinator` reports a change. The coordinator holds the running builds; this holds nothing a second
/// session would need.
final class BuildFeatures: Sendable {
    let coordinator: BuildCoordinator
    let client: Client
    let documents: DocumentStore
    let log: ServerLog
    /// The session's current context (capabilities, encoding, settings).
    let context: @Sendable () async -> RequestContext
    /// Checks documents again (after a build result changed their diagnostics).
    let republish: @Sendable ([String]) async -> Void
    private let state = LockedValue(SessionState())
    private let lensRefresh = RefreshThrottle()
    private let hintRefresh = RefreshThrottle()

    private struct SessionState {
        var session: Int?
        var observer: Int?
        var closing = false
        /// The context folder of the last build of each Dockerfile (inlay hints plan against it).
        var contexts: [String: String] = [:]
        /// The answers build requests of this session wait for, by Dockerfile path.
        var waiting: [String: (answer: OneAnswer, reference: String)] = [:]
        /// Inlay hints by URI for (version, settings generation, cache epoch, context).
        var hints: [String: (key: HintKey, hints: [StepCacheState])] = [:]
    }

    struct HintKey: Hashable {
        var version: Int
        var generation: Int
        var epoch: Int
        var context: String
    }

    /// The source of build diagnostics.
    static let diagnosticSource = "idpbuild build"
    /// Code action kinds of the build actions.
    static let actionKinds = ["source.idpbuild.buildAndPush", "source.idpbuild.build", "source.idpbuild.buildStage",
                              "source.idpbuild.cancelBuild"]

    init(coordinator: BuildCoordinator, client: Client, documents: DocumentStore, log: ServerLog,
         context: @escaping @Sendable () async -> RequestContext, republish: @escaping @Sendable ([String]) async -> Void) {
        self.coordinator = coordinator
        self.client = client
        self.documents = documents
        self.log = log
        self.context = context
        self.republish = republish
    }

    /// The commands this adds to the server.
    var commands: [any ServerCommand] {
        [ImageBuildCommand(name: ImageBuildCommand.buildAndPush, push: true, features: self),
         ImageBuildCommand(name: ImageBuildCommand.build, push: false, features: self),
         CancelBuildCommand(features: self)]
    }

    // MARK: session lifecycle

    /// Takes a session number and starts listening to the coordinator (at `initialize`).
    func attach() async {
        guard state.withLock({ $0.session == nil }) else { return }
        let documents = self.documents
        let session = await coordinator.newSession { path in await documents.openURI(forPath: path) != nil }
        let token = await coordinator.addObserver { [weak self] change in
            guard let self else { return }
            Task { await self.coordinatorChanged(change) }
        }
        state.withLock {
            $0.session = session
            $0.observer = token
        }
    }

    /// The session number (0 before `attach`).
    var session: Int { state.withLock { $0.session ?? 0 } }

    /// Whether the session is ending (no build may start).
    var isClosing: Bool { state.withLock { $0.closing } }

    /// Cancels this session's builds no other session watches, and refuses new ones (at `shutdown`, or when the client goes away).
    func close() async {
        let session = state.withLock { state -> Int? in
            state.closing = true
            return state.session
        }
        if let session {
            let (cancelled, handedOver) = await coordinator.endSession(session)
            if cancelled > 0 { log.log(.info, "cancelled \(cancelled) running build\(cancelled == 1 ? "" : "s") of this session") }
            for path in handedOver {
                log.log(.info, "the build of \(path) goes on: another session has the Dockerfile open")
                guard let waiting = state.withLock({ $0.waiting[path] }) else { continue }
                waiting.answer.give(BuildResponse(
                    fullTag: waiting.reference, success: false, error: "this session ended; the build goes on for another session that has \(path) open"))
            }
        }
    }

    /// Stops listening to the coordinator (the session ended).
    func detach() async {
        if let token = state.withLock({ state -> Int? in defer { state.observer = nil }; return state.observer }) {
            await coordinator.removeObserver(token)
        }
    }

    private func coordinatorChanged(_ change: BuildCoordinator.Change) async {
        let path: String
        switch change {
        case .started(let changed), .progressed(let changed), .finished(let changed): path = changed
        }
        if case .finished = change { await refreshHints() }
        guard await documents.openURI(forPath: path) != nil else { return }
        await refreshLenses()
    }

    /// Asks the client for code lenses again, when it supports that (coalesced).
    func refreshLenses() async {
        guard await context().capabilities.codeLensRefresh else { return }
        let (client, log) = (self.client, self.log)
        await lensRefresh.request {
            do throws(ResponseError) { try await client.sendWithoutParameters(CodeLensRefreshRequest.self) } catch {
                log.log(.debug, "workspace/codeLens/refresh: \(error.message)")
            }
        }
    }

    /// Asks the client for inlay hints again, when it supports that (coalesced).
    func refreshHints() async {
        guard await context().capabilities.inlayHintRefresh else { return }
        let (client, log) = (self.client, self.log)
        await hintRefresh.request {
            do throws(ResponseError) { try await client.sendWithoutParameters(InlayHintRefreshRequest.self) } catch {
                log.log(.debug, "workspace/inlayHint/refresh: \(error.message)")
            }
        }
    }

    // MARK: resolving a build

    /// A build request made complete from a command's argument, the document and the settings.
    struct ResolvedBuild: Sendable {
        /// The document's URI (the open document's when it is open).
        var uri: String
        /// The Dockerfile's absolute path.
        var path: String
        /// The text that is built: the editor's buffer when open (saved or not), else the file.
        var analysis: DocumentAnalysis
        /// The open document's version, or nil when built from the file.
        var version: Int?
        /// The request (its `dockerfilePath` is the real path; the document's text travels with the job).
        var request: BuildRequest
        /// The builder settings: the server's, the session's editor settings, the command's registry.
        var config: BuilderConfig
        /// `REGISTRY/NAMESPACE/NAME:TAG`.
        var reference: String
    }

    /// An absolute, standardized path (relative paths are taken from the server's working directory).
    static func absolutePath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    /// Resolves a command's argument; throws -32602 for values no build could use (a bad image name or tag).
    func resolve(_ arguments: BuildArguments, context: CommandContext) async throws(ResponseError) -> ResolvedBuild {
        // dockerfilePath is relative to contextDir (the seed's BuildRequest), never to this server's working directory.
        let givenContext = arguments.contextDir.map(Self.absolutePath)
        let path = arguments.uri.flatMap(DocumentURI.path(of:))
            ?? BuildRequest(dockerfilePath: arguments.dockerfilePath ?? "", contextDir: givenContext ?? "/", imageName: "").absoluteDockerfilePath
        // The open document of that file, however the argument spelled its URI (or gave a path).
        var uri = arguments.uri ?? DocumentURI.uri(forPath: path)
        if await context.document(uri) == nil, let open = await documents.openURI(forPath: path) { uri = open }
        let analysis: DocumentAnalysis
        var version: Int?
        if let snapshot = await context.document(uri) {
            analysis = snapshot.analysis
            version = snapshot.version
        } else {
            // Not open: the file as it is on disk now (read once, so the diagnostics match what was built).
            let bytes = FileManager.default.contents(atPath: path).map(Array.init) ?? []
            analysis = DocumentAnalysis(bytes: bytes, version: 0, generation: context.generation, options: context.settings.checkOptions)
        }
        let contextDir = givenContext ?? (path as NSString).deletingLastPathComponent
        var request = BuildRequest(
            dockerfilePath: path, contextDir: contextDir,
            imageName: arguments.imageName ?? BuildRequest.repositoryName(forContext: contextDir),
            imageTag: arguments.imageTag ?? "", buildArgs: context.settings.buildArgs.merging(arguments.buildArgs ?? [:]) { $1 },
            target: arguments.target, platform: arguments.platform, noCache: arguments.noCache ?? false,
            registry: nil, namespace: arguments.namespace ?? context.settings.namespace)
        var config = builderConfig(context.settings, registry: arguments.registry)
        // The namespace is the Gitea owner the credentials belong to: the request's, when it names one.
        config.namespace = request.namespace ?? config.namespace
        do {
            try request.validate()
        } catch let error as BuildServiceError {
            if case let .invalidRequest(field, detail) = error {
                throw LanguageServerError.invalidArgument(command: context.command, detail: "arguments[0].\(field) \(detail)").responseError
            }
            throw LanguageServerError.invalidArgument(command: context.command, detail: error.description).responseError
        } catch {
            throw LanguageServerError.invalidArgument(command: context.command, detail: "\(error)").responseError
        }
        if let registry = arguments.registry, !BuilderConfig.isHostAndPort(registry) {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0].registry must be a host[:port] such as gitea.cnoe.localtest.me:8443, not \(JSONText.quoted(registry))").responseError
        }
        if let namespace = arguments.namespace, !BuilderConfig.isNamespace(namespace) {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0].namespace must be a lowercase repository path such as giteaadmin, not \(JSONText.quoted(namespace))").responseError
        }
        return ResolvedBuild(uri: uri, path: path, analysis: analysis, version: version, request: request, config: config,
                             reference: request.fullTag(config: config))
    }

    /// The builder settings for a build: the coordinator's machine-wide ones (store, registries.conf, worker,
    /// credentials) with the session's editor settings, and the command's registry when it gives one.
    func builderConfig(_ settings: ServerSettings, registry: String? = nil) -> BuilderConfig {
        var config = coordinator.config.takingEditorSettings(from: settings.build)
        config.registry = registry ?? config.registry
        return config
    }

    /// The default reference of a Dockerfile at `path` (what the lens shows).
    func defaultReference(path: String, settings: ServerSettings) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        let request = BuildRequest(dockerfilePath: path, contextDir: folder, imageName: BuildRequest.repositoryName(forContext: folder),
                                   imageTag: "latest", namespace: settings.namespace)
        return request.fullTag(config: builderConfig(settings))
    }

    // MARK: building

    /// Runs a resolved build (refusing to start when the text has errors or the context is missing), under the
    /// coordinator's one-build-per-Dockerfile rule; cancelling the calling task cancels the build.
    func build(_ resolved: ResolvedBuild, push: Bool, context: CommandContext) async throws(ResponseError) -> BuildResponse {
        if let refusal = Self.refusal(resolved) {
            log.log(.info, "not building \(resolved.path): \(refusal)")
            client.showMessage(.error, "idpbuild: \(refusal)")
            return BuildResponse(fullTag: resolved.reference, success: false, error: refusal)
        }
        if isClosing {
            return BuildResponse(fullTag: resolved.reference, success: false, error: "the server is shutting down; nothing was built")
        }
        let task: Task<BuildResponse, Never>
        do {
            task = try await coordinator.start(dockerfilePath: resolved.path, reference: resolved.reference, push: push, session: session) {
                [self] id in
                await EditorBuild(features: self, resolved: resolved, push: push, context: context, id: id).run()
            }
        } catch {
            throw error.responseError
        }
        state.withLock { $0.contexts[resolved.path] = resolved.request.contextDir }
        // A shutdown that began while this build was being registered has already cancelled the others.
        if isClosing { task.cancel() }
        return await answer(task, path: resolved.path, reference: resolved.reference)
    }

    /// The build's response; cancelling the request cancels the build, except when the session is ending: then
    /// `close` decides (it cancels the build, or hands it to a session that watches it and answers at once).
    private func answer(_ task: Task<BuildResponse, Never>, path: String, reference: String) async -> BuildResponse {
        let answer = OneAnswer()
        state.withLock { $0.waiting[path] = (answer, reference) }
        defer { state.withLock { $0.waiting[path] = nil } }
        Task { answer.give(await task.value) }
        return await withTaskCancellationHandler {
            await answer.value()
        } onCancel: { [self] in
            if !isClosing { task.cancel() }
        }
    }

    /// Why a build cannot start, as a sentence, or nil.
    static func refusal(_ resolved: ResolvedBuild) -> String? {
        let errors = resolved.analysis.diagnostics.filter { $0.severity == .error }
        if resolved.version == nil && resolved.analysis.bytes.isEmpty && !FileManager.default.fileExists(atPath: resolved.path) {
            return "cannot build \(resolved.path): there is no such file; save the Dockerfile first or give dockerfilePath"
        }
        if !errors.isEmpty {
            let list = errors.prefix(5).map { "line \($0.range.start.line + 1): \($0.message)" }.joined(separator: "; ")
            let more = errors.count > 5 ? "; and \(errors.count - 5) more" : ""
            let one = errors.count == 1
            return "\((resolved.path as NSString).lastPathComponent) has \(errors.count) error\(one ? " that blocks" : "s that block") the build (\(list)\(more)); fix \(one ? "it" : "them") and build again"
        }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: resolved.request.contextDir, isDirectory: &isDirectory) || !isDirectory.boolValue {
            return "the build context \(resolved.request.contextDir) does not exist or is not a folder; give an existing contextDir"
        }
        return nil
    }

    /// Records a finished build's failures as diagnostics of its document (an empty list clears them) and publishes.
    func setBuildDiagnostics(_ uri: String, _ diagnostics: [AnchoredDiagnostic]) async {
        if await documents.setAnchored(uri, source: Self.diagnosticSource, diagnostics) {
            await republish([uri])
        }
    }

    // MARK: lenses, actions, hints

    /// The build lenses: above the first FROM "Build and push → REFERENCE" and "Build only", above each named stage
    /// "Build stage NAME"; while a build runs, one lens with its state that cancels it.
    func codeLenses(_ snapshot: DocumentSnapshot, _ context: RequestContext) async -> [CodeLens] {
        guard let path = DocumentURI.path(of: snapshot.uri) else { return [] }
        let definition = snapshot.analysis.definition
        guard let first = definition.stages.first else { return [] }
        let converter = PositionConverter(source: definition.dockerfile.source, encoding: context.encoding)
        let instructions = definition.dockerfile.instructions
        let firstRange = converter.range(instructions[first.fromIndex].keyword.range)
        let uri = JSONValue.string(snapshot.uri)
        if let status = await coordinator.status(dockerfilePath: path) {
            return [CodeLens(range: firstRange, command: Command(title: Self.runningTitle(status), command: "idpbuild.cancelBuild",
                                                                  arguments: [uri]))]
        }
        let reference = defaultReference(path: path, settings: context.settings)
        var lenses = [
            CodeLens(range: firstRange, command: Command(title: "Build and push → \(reference)", command: ImageBuildCommand.buildAndPush,
                                                         arguments: [["uri": uri]])),
            CodeLens(range: firstRange, command: Command(title: "Build only", command: ImageBuildCommand.build, arguments: [["uri": uri]])),
        ]
        for stage in definition.stages {
            guard let name = stage.from.nameArgument?.value ?? stage.name else { continue }
            let range = converter.range(instructions[stage.fromIndex].keyword.range)
            lenses.append(CodeLens(range: range, command: Command(title: "Build stage \(name)", command: ImageBuildCommand.build,
                                                                  arguments: [["uri": uri, "target": .string(name)]])))
        }
        return lenses
    }

    /// "Building… step 3/7 — cancel".
    static func runningTitle(_ status: BuildCoordinator.Status) -> String {
        if let step = status.step, let total = status.totalSteps { return "Building… step \(step)/\(total) — cancel" }
        return "Building… — cancel"
    }

    /// The build commands as `source` code actions, for clients that do not show lenses.
    func sourceActions(_ request: CodeActionRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) async -> [CodeAction] {
        func wanted(_ kind: String) -> Bool {
            guard let only = request.context.only else { return true }
            return only.contains { kind == $0 || kind.hasPrefix($0 + ".") }
        }
        guard let path = DocumentURI.path(of: snapshot.uri) else { return [] }
        let definition = snapshot.analysis.definition
        guard !definition.stages.isEmpty else { return [] }
        let uri = JSONValue.string(snapshot.uri)
        if let status = await coordinator.status(dockerfilePath: path) {
            guard wanted(Self.actionKinds[3]) else { return [] }
            let step = status.step.map { " (step \($0)/\(status.totalSteps ?? $0))" } ?? ""
            return [CodeAction(title: "Cancel the build of \(status.reference)\(step)", kind: Self.actionKinds[3],
                               command: Command(title: "Cancel build", command: "idpbuild.cancelBuild", arguments: [uri]))]
        }
        let reference = defaultReference(path: path, settings: context.settings)
        var actions: [CodeAction] = []
        if wanted(Self.actionKinds[0]) {
            actions.append(CodeAction(title: "Build and push → \(reference)", kind: Self.actionKinds[0],
                                      command: Command(title: "Build and push", command: ImageBuildCommand.buildAndPush, arguments: [["uri": uri]])))
        }
        if wanted(Self.actionKinds[1]) {
            actions.append(CodeAction(title: "Build only (\(reference))", kind: Self.actionKinds[1],
                                      command: Command(title: "Build only", command: ImageBuildCommand.build, arguments: [["uri": uri]])))
        }
        // The stage under the cursor, when it is a named stage other than the last (building the last is "Build only").
        let converter = PositionConverter(source: definition.dockerfile.source, encoding: context.encoding)
        let offset = converter.offset(of: request.range.start)
        if wanted(Self.actionKinds[2]), let stage = definition.stages.last(where: {
            definition.dockerfile.instructions[$0.fromIndex].range.startOffset <= offset }),
           stage.index != definition.stages.count - 1, let name = stage.from.nameArgument?.value ?? stage.name {
            actions.append(CodeAction(title: "Build stage \(name)", kind: Self.actionKinds[2],
                                      command: Command(title: "Build stage \(name)", command: ImageBuildCommand.build,
                                                       arguments: [["uri": uri, "target": .string(name)]])))
        }
        return actions
    }

    /// "cached" or "will run" after each instruction that touches files, from the build cache and the context's file
    /// metadata (nothing runs); none for a document with errors, outside a file, or whose context is missing.
    func inlayHints(_ request: InlayHintRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) async throws -> [InlayHint] {
        var states = await cacheStates(snapshot, context)
        try Task.checkCancellation()
        let converter = PositionConverter(source: snapshot.analysis.dockerfile.source, encoding: context.encoding)
        states.removeAll { $0.state == .metadata }
        return states.compactMap { step in
            let range = converter.range(step.range)
            guard range.overlaps(request.range) else { return nil }
            switch step.state {
            case .cached:
                return InlayHint(position: range.end, label: "cached", tooltip: "idpbuild: this step's result is in the local build cache", paddingLeft: true)
            case .willRun:
                return InlayHint(position: range.end, label: "will run",
                                 tooltip: "idpbuild: this step will run: \(step.reason ?? "no cache record")", paddingLeft: true)
            case .metadata:
                return nil
            }
        }
    }

    /// The plan's verdict of each instruction of the document (its text now), kept per version, settings, cache epoch
    /// and context; none for a document with errors or outside a file.
    func cacheStates(_ snapshot: DocumentSnapshot, _ context: RequestContext) async -> [StepCacheState] {
        guard let path = DocumentURI.path(of: snapshot.uri),
              !snapshot.analysis.diagnostics.contains(where: { $0.severity == .error }) else { return [] }
        let contextDir = state.withLock { $0.contexts[path] } ?? (path as NSString).deletingLastPathComponent
        let key = HintKey(version: snapshot.version, generation: snapshot.analysis.generation, epoch: await coordinator.cacheEpoch,
                          context: contextDir)
        if let cached = state.withLock({ $0.hints[snapshot.uri] }), cached.key == key { return cached.hints }
        let states = planCacheStates(snapshot, path: path, contextDir: contextDir, settings: context.settings)
        state.withLock { $0.hints[snapshot.uri] = (key, states) }
        return states
    }

    /// For hover on an instruction: "Build: cached" or "Build: will run — REASON" (Markdown-safe plain text).
    func cacheNote(_ snapshot: DocumentSnapshot, instructionIndex: Int, _ context: RequestContext) async -> String? {
        guard let step = await cacheStates(snapshot, context).first(where: { $0.instructionIndex == instructionIndex }) else { return nil }
        switch step.state {
        case .cached: return "Build: cached (its result is in the local build cache)"
        case .willRun: return "Build: will run — \(step.reason ?? "no cache record")"
        case .metadata: return nil
        }
    }

    /// The cache states of the document's own parse (its unsaved text), planned in this process.
    func planCacheStates(_ snapshot: DocumentSnapshot, path: String, contextDir: String, settings: ServerSettings) -> [StepCacheState] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: contextDir, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        let request = BuildRequest(dockerfilePath: path, contextDir: contextDir, imageName: BuildRequest.repositoryName(forContext: contextDir),
                                   imageTag: "latest", buildArgs: settings.buildArgs, namespace: settings.namespace)
        do {
            return try Builder(config: builderConfig(settings)).cacheStates(request, dockerfile: snapshot.analysis.definition)
        } catch {
            log.log(.debug, "no inlay hints for \(path): \(error)")
            return []
        }
    }
}

/// Coalesces refresh requests: one is sent 150 ms after the first ask, however many asks come in between.
actor RefreshThrottle {
    private var scheduled = false

    func request(_ send: @escaping @Sendable () async -> Void) {
        guard !scheduled else { return }
        scheduled = true
        Task {
            try? await Task.sleep(for: .milliseconds(150))
            self.fired()
            await send()
        }
    }

    private func fired() { scheduled = false }
}

/// The first of several possible answers, to one waiter.
final class OneAnswer: Sendable {
    private let state = LockedValue<(answer: BuildResponse?, waiter: CheckedContinuation<BuildResponse, Never>?)>((nil, nil))

    /// Records the answer unless one came first, and wakes the waiter.
    func give(_ response: BuildResponse) {
        let waiter = state.withLock { state -> CheckedContinuation<BuildResponse, Never>? in
            guard state.answer == nil else { return nil }
            state.answer = response
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: response)
    }

    /// Waits for the answer.
    func value() async -> BuildResponse {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> BuildResponse? in
                if state.answer == nil { state.waiter = continuation }
                return state.answer
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
