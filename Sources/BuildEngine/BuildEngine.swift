import DockerfileCheck
import DockerfileSyntax
import Foundation
import ImageStore
import ImageTransfer
import LayerDiff
import OCI
import Sandbox

/// Executes a Dockerfile into an image in the local store: stages, ARG/ENV scoping, a step cache, COPY/ADD from the
/// context, RUN in the rootless sandbox, layers from the sandbox's diffs, and the commit (config, manifest, tags).
///
/// Call it as root: real root, or root of a user namespace (the build worker), because unpacked layers and RUN
/// results hold files owned by other IDs.
public struct BuildEngine: Sendable {
    /// The local store (blobs, unpacked layers, tags, build cache).
    public let store: ImageStore
    /// Pulls base images; nil builds only from what the store has.
    public let transfer: ImageTransfer?
    /// Runs RUN steps.
    public var sandbox: Sandbox

    /// Makes an engine.
    public init(store: ImageStore, transfer: ImageTransfer?, sandbox: Sandbox = Sandbox()) {
        self.store = store
        self.transfer = transfer
        self.sandbox = sandbox
    }

    /// Builds, tags the result in the store as `options.tags`, and returns the summary; events report each step.
    /// Throws `BuildEngineError` (or `CancellationError`); nothing half-made is left in the store either way.
    public func build(_ options: BuildOptions, events: @escaping BuildEventHandler = { _ in }) async throws -> BuildSummary {
        let run = try BuildRun(engine: self, options: options, events: events)
        do {
            return try await run.execute()
        } catch let error as BuildEngineError {
            // The failing step, for diagnostics: its range, the exit code and output tail of a RUN.
            var event = BuildEvent(.stepFailed)
            event.step = run.step
            event.totalSteps = run.totalSteps
            event.range = error.range
            event.message = error.description
            if case let .runFailed(instruction, _, exitCode, tail) = error {
                event.instruction = instruction
                event.exitCode = exitCode
                event.tail = tail
            }
            events(event)
            throw error
        }
    }

    /// Whether each step would come from the cache, computed from the store and the context's file metadata without
    /// running anything (editors show it as "cached" / "will run").
    public func cacheStates(_ options: BuildOptions) async throws -> [StepCacheState] {
        let run = try BuildRun(engine: self, options: options, events: { _ in }, planning: true)
        return try await run.plan()
    }
}

/// What a build would do for one instruction.
public struct StepCacheState: Sendable, Codable, Hashable {
    /// What the step would do.
    public enum State: String, Sendable, Codable {
        /// Its result is in the cache.
        case cached
        /// It would run (no cache record, or an earlier step will run).
        case willRun
        /// It only changes the image config (no file system work, nothing to cache).
        case metadata
    }
    /// The instruction's index in the Dockerfile.
    public var instructionIndex: Int
    /// Its range.
    public var range: SourceRange
    /// The verdict.
    public var state: State
}

extension ImageStore: ImageStoreAccess {}

/// One build: the parsed Dockerfile, the stages built so far, step numbering and the cache.
final class BuildRun {
    let engine: BuildEngine
    let options: BuildOptions
    let events: BuildEventHandler
    let definition: BuildDefinition
    let lexer: ShellLexer
    let global: [String: String?]
    let platform: Platform
    let created: String
    let context: ContextTree
    let checksums: ContextChecksums
    let planning: Bool
    let start = Date()

    var store: ImageStore { engine.store }
    var stageStates: [Int: ImageState] = [:]
    var step = 0
    var totalSteps = 0
    var stepsCached = 0
    var stepsRun = 0
    /// For planning: whether a miss happened in the current stage (every later step will run).
    var planStates: [StepCacheState] = []

    init(engine: BuildEngine, options: BuildOptions, events: @escaping BuildEventHandler, planning: Bool = false) throws {
        self.engine = engine
        self.options = options
        self.events = events
        self.planning = planning
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.contextDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BuildEngineError.contextMissing(path: options.contextDirectory)
        }
        guard let data = FileManager.default.contents(atPath: options.dockerfilePath) else {
            let reason = FileManager.default.fileExists(atPath: options.dockerfilePath) ? "it cannot be read" : "there is no such file"
            throw BuildEngineError.dockerfileUnreadable(path: options.dockerfilePath, detail: reason)
        }
        let dockerfile = Dockerfile(bytes: Array(data))
        definition = BuildDefinition(dockerfile)
        let errors = Checker.check(definition, options: CheckOptions(buildArguments: options.buildArguments))
            .filter { $0.severity == .error }
        if !errors.isEmpty {
            throw BuildEngineError.dockerfileErrors(path: options.dockerfilePath, errors: errors.map {
                "\($0.range.start.line + 1):\($0.range.start.character + 1): \($0.message)"
            })
        }
        lexer = ShellLexer(escape: dockerfile.escape)
        global = VariableScope.global(definition, buildArguments: options.buildArguments).variables.mapValues(\.value)
        if let requested = options.platform {
            guard let parsed = try? Platform(parsing: requested), parsed.os == "linux", parsed.architecture == Platform.current.architecture else {
                throw BuildEngineError.unsupported(instruction: "--platform \(requested)", range: nil,
                    detail: "idpbuild builds for this machine's platform (\(Platform.current)) only; other platforms would need emulation")
            }
        }
        platform = Platform.current
        if let timestamp = options.timestamp {
            created = Self.rfc3339(Date(timeIntervalSince1970: TimeInterval(timestamp)))
        } else {
            created = Self.rfc3339(Date())
        }
        let contextRoot = URL(fileURLWithPath: options.contextDirectory).standardizedFileURL.path
        context = ContextTree(root: contextRoot, ignore: try DockerIgnore.load(context: contextRoot, dockerfile: options.dockerfilePath))
        checksums = ContextChecksums(store: engine.store, context: contextRoot)
    }

    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    // MARK: driving

    func targetStage() throws -> Stage {
        guard let last = definition.stages.last else {
            throw BuildEngineError.dockerfileErrors(path: options.dockerfilePath, errors: ["the Dockerfile has no FROM instruction"])
        }
        guard let target = options.target else { return last }
        if let stage = definition.stage(named: target) { return stage }
        if let index = Int(target), definition.stages.indices.contains(index) { return definition.stages[index] }
        throw BuildEngineError.unknownTarget(target, available: definition.stages.compactMap(\.name))
    }

    func execute() async throws -> BuildSummary {
        let target = try targetStage()
        let needed = neededStages(target)
        try checkEntitlements(needed)
        totalSteps = needed.reduce(0) { $0 + 1 + definition.stages[$1].instructionIndices.count }
        defer { checksums.save(to: store) }
        await prefetchBaseImages(needed)
        let state = try await stageResult(target.index)
        let (manifest, configDigest) = try commit(state)
        var tags: [String] = []
        for tag in options.tags {
            // Tags are kept as canonical references (docker.io/library/…), as pulls tag them.
            let canonical = (try? Reference(parsing: tag).description) ?? tag
            try store.tag(canonical, descriptor: manifest)
            tags.append(canonical)
        }
        return BuildSummary(success: true, imageID: configDigest.description, manifestDigest: manifest.digest.description,
                            tags: tags, stepsCached: stepsCached, stepsRun: stepsRun,
                            durationMs: Int(Date().timeIntervalSince(start) * 1000))
    }

    func plan() async throws -> [StepCacheState] {
        defer { checksums.save(to: store) }
        for stage in definition.stages { _ = try await stageResult(stage.index) }
        return planStates.sorted { $0.instructionIndex < $1.instructionIndex }
    }

    /// Pulls the base images the needed stages name, at once, before the stages run one after the other (a missing
    /// image is reported by its FROM step, so errors here are left for it).
    func prefetchBaseImages(_ needed: Set<Int>) async {
        guard let transfer = engine.transfer else { return }
        var references: [Reference] = []
        for index in needed.sorted() {
            let stage = definition.stages[index]
            let name = expandGlobal(stage.from.image.value)
            guard name.lowercased() != "scratch", definition.stage(named: name, before: index) == nil,
                  let reference = try? Reference(parsing: name), !references.contains(reference) else { continue }
            if !options.pull, (try? store.image(reference.description, platform: platform)) != nil { continue }
            references.append(reference)
        }
        guard references.count > 1 else { return }
        let platform = self.platform
        await withTaskGroup(of: Void.self) { group in
            for reference in references {
                group.addTask { _ = try? await transfer.pull(reference, platform: platform) }
            }
        }
    }

    /// Refuses, before anything runs, a step that needs an entitlement the build was not started with.
    func checkEntitlements(_ needed: Set<Int>) throws {
        for index in needed.sorted() {
            for instruction in definition.stages[index].instructionIndices {
                guard case .run(let run)? = definition.commands[instruction], run.network == "host",
                      !options.entitlements.contains(.networkHost) else { continue }
                let written = definition.dockerfile.instructions[instruction]
                throw BuildEngineError.entitlementRequired(instruction: display(written), range: written.range, entitlement: .networkHost)
            }
        }
    }

    /// The stages `target` needs: itself, the stage it is built on, and those its COPY --from and RUN mounts name.
    func neededStages(_ target: Stage) -> Set<Int> {
        var needed = Set<Int>()
        var queue = [target.index]
        while let index = queue.popLast() {
            guard needed.insert(index).inserted else { continue }
            let stage = definition.stages[index]
            if let parent = stageReference(expandGlobal(stage.from.image.value), before: index) { queue.append(parent) }
            for instruction in stage.instructionIndices {
                switch definition.commands[instruction] {
                case .copy(let copy)?:
                    if let from = copy.from?.value, let parent = stageReference(from, before: index) { queue.append(parent) }
                case .run(let run)?:
                    for mount in run.mounts {
                        if let from = mount.from, let parent = stageReference(from, before: index) { queue.append(parent) }
                    }
                default:
                    break
                }
            }
        }
        return needed
    }

    /// The earlier stage a name (or a number) refers to.
    func stageReference(_ name: String, before index: Int) -> Int? {
        if let stage = definition.stage(named: name, before: index) { return stage.index }
        if let number = Int(name), number >= 0, number < index { return number }
        return nil
    }

    func expandGlobal(_ word: String) -> String {
        (try? lexer.process(word) { global[$0] ?? nil }.value) ?? word
    }

    func stageResult(_ index: Int) async throws -> ImageState {
        if let state = stageStates[index] { return state }
        let stage = definition.stages[index]
        var state = try await fromStep(stage)
        for instructionIndex in stage.instructionIndices {
            guard let command = definition.commands[instructionIndex] else { continue }
            try Task.checkCancellation()
            let instruction = definition.dockerfile.instructions[instructionIndex]
            try await dispatch(command, instruction, range: instruction.range, stage: stage, state: &state, index: instructionIndex)
        }
        stageStates[index] = state
        return state
    }

    // MARK: steps

    /// The text of an instruction for progress lines (its first line, shortened).
    func display(_ instruction: Instruction) -> String {
        let first = instruction.logicalText.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? instruction.name
        return first.count > 160 ? String(first.prefix(157)) + "..." : first
    }

    func stageLabel(_ stage: Stage) -> String { stage.name ?? "stage-\(stage.index)" }

    func beginStep(_ instruction: Instruction, range: SourceRange, stage: Stage) -> Int {
        step += 1
        var event = BuildEvent(.stepStarted)
        event.step = step
        event.totalSteps = totalSteps
        event.stage = stageLabel(stage)
        event.instruction = display(instruction)
        event.range = range
        events(event)
        return step
    }

    func endStep(_ number: Int, _ instruction: Instruction, range: SourceRange, cached: Bool, since: Date, didWork: Bool, counts: Bool = true) {
        var event = BuildEvent(cached ? .stepCached : .stepDone)
        event.step = number
        event.totalSteps = totalSteps
        event.instruction = display(instruction)
        event.range = range
        if !cached { event.durationMs = Int(Date().timeIntervalSince(since) * 1000) }
        events(event)
        guard counts else { return }
        if cached { stepsCached += 1 } else if didWork { stepsRun += 1 }
    }

    /// The layer directories of an image, base first, unpacking those not yet in the store.
    func layerDirectories(_ state: ImageState) throws -> [String] {
        let events = self.events
        return try ImageLayers.directories(layers: state.layers, rootfs: state.config.rootfs, label: "image config", store: store,
                                           warn: { events(.warning($0)) })
    }

    /// `user` inside a user namespace (overlayfs's userxattr), `trusted` for real root.
    static let overlayXattrPrefix: String = LayerUnpacker.inInitialUserNamespace ? "trusted" : "user"

    /// Applies a step's cache record (or fresh result) to the image.
    func apply(_ record: BuildCacheRecord, to state: inout ImageState, createdBy: String) {
        if let layer = record.layer, let diffID = record.diffID {
            state.addLayer(layer, diffID: diffID)
            state.addHistory(createdBy, created: created, emptyLayer: false)
        } else {
            state.addHistory(createdBy, created: created, emptyLayer: true)
        }
        state.key = record.key
    }

    /// Turns a directory holding a step's changes (a sandbox upper directory or a COPY staging tree) into a layer
    /// blob in the store and an unpacked tree, and records the step in the cache.
    func commitLayer(from directory: String, key: Digest, state: ImageState) throws -> BuildCacheRecord {
        let temporary = try store.newTemporaryPath()
        let layer: LayerDescriptor
        do {
            layer = try LayerDiff(compression: options.compression, timestampLimit: options.timestamp)
                .write(upperDirectory: directory, to: temporary)
        } catch let error as LayerDiffError {
            unlink(temporary)
            try? FileTree.remove(directory)
            throw BuildEngineError.io(path: directory, operation: "write a layer from (\(error.description))", errno: EIO)
        }
        guard !layer.isEmpty else {
            unlink(temporary)
            try? FileTree.remove(directory)
            let record = BuildCacheRecord(key: key, layer: nil, diffID: nil, chainID: nil, created: created)
            try store.putCacheRecord(record)
            return record
        }
        let digest = try Digest(parsing: layer.digest)
        let diffID = try Digest(parsing: layer.diffID)
        try store.adoptVerifiedFile(temporary, digest: digest)
        let chain = RootFS(diffIDs: state.config.rootfs.diffIDs + [diffID]).chainIDs.last!
        let target = store.layerPath(chain)
        if store.hasLayer(chain) || rename(directory, target) != 0 {
            try? FileTree.remove(directory)
        }
        let record = BuildCacheRecord(key: key, layer: Descriptor(mediaType: layer.mediaType, digest: digest, size: layer.size),
                                      diffID: diffID, chainID: chain, created: created)
        try store.putCacheRecord(record)
        return record
    }

    /// A fresh directory under the store's layers folder (same file system as the trees it becomes).
    func makeWorkDirectory(_ label: String) throws -> String {
        let path = store.root + "/layers/.tmp-\(label)-" + UUID().uuidString.lowercased()
        // The mode is set explicitly: it becomes the root of a layer (and of RUN's overlay), whatever the umask.
        guard mkdir(path, 0o755) == 0, chmod(path, 0o755) == 0 else { throw BuildEngineError.io(path: path, operation: "create directory", errno: errno) }
        return path
    }

    // MARK: commit

    func commit(_ state: ImageState) throws -> (Descriptor, Digest) {
        var config = state.config
        config.created = created
        config.architecture = platform.architecture
        config.os = platform.os
        let configBytes = try CanonicalJSON.encode(config)
        let configDescriptor = try store.putBlob(configBytes, mediaType: MediaType.ociConfig)
        let layers = state.layers.map { layer -> Descriptor in
            var copy = layer
            if copy.mediaType == MediaType.dockerLayerGzip { copy.mediaType = MediaType.ociLayerGzip }
            copy.annotations = nil
            copy.urls = nil
            return copy
        }
        let manifest = ImageManifest(config: configDescriptor, layers: layers)
        let manifestBytes = try CanonicalJSON.encode(manifest)
        let descriptor = try store.putBlob(manifestBytes, mediaType: MediaType.ociManifest)
        return (descriptor, configDescriptor.digest)
    }
}
