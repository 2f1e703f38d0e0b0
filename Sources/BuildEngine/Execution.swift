import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import ImageStore
import LayerDiff
import Locking
import OCI

/// A stage's file system and history as far as it has run.
struct StageResult: Sendable {
    /// Layer descriptors, base first.
    var layers: [Descriptor] = []
    /// Their diff IDs.
    var diffIDs: [Digest] = []
    /// The image history so far.
    var history: [History] = []

    var rootfs: RootFS { RootFS(diffIDs: diffIDs) }

    mutating func add(_ record: BuildCacheRecord, createdBy: String, created: String) {
        if let layer = record.layer, let diffID = record.diffID {
            layers.append(layer)
            diffIDs.append(diffID)
            history.append(History(created: created, createdBy: createdBy, comment: "buildkit.dockerfile.v0"))
        } else {
            history.append(History(created: created, createdBy: createdBy, emptyLayer: true))
        }
    }
}

/// One run of a plan: stages whose dependencies are done start, up to `options.jobs` at once; the first failure
/// cancels the others (each cleans up its sandbox and partial files) and is the build's error.
final class PlanExecution: Sendable {
    let engine: BuildEngine
    let plan: BuildPlan
    let options: BuildOptions
    let events: BuildEventHandler
    let created: String
    let start = Date()
    /// The build's steps so far, counted from any stage's task.
    let counter = LockedValue((cached: 0, ran: 0))

    var store: ImageStore { engine.store }

    init(engine: BuildEngine, plan: BuildPlan, options: BuildOptions, events: @escaping BuildEventHandler) {
        self.engine = engine
        self.plan = plan
        self.options = options
        self.events = events
        created = Planner.rfc3339(options.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date())
    }

    func run() async throws -> BuildSummary {
        let results = try await runStages()
        guard let target = plan.stage(plan.targetStage), let result = results[plan.targetStage] else {
            throw BuildError.dockerfileErrors(path: plan.dockerfilePath, errors: ["the plan has no target stage"])
        }
        let (manifest, configDigest) = try commit(target, result)
        var tags: [String] = []
        for tag in options.tags {
            // Tags are kept as canonical references (docker.io/library/…), as pulls tag them.
            let canonical = (try? Reference(parsing: tag).description) ?? tag
            try store.tag(canonical, descriptor: manifest)
            tags.append(canonical)
        }
        let counts = counter.withLock { $0 }
        return BuildSummary(success: true, imageID: configDigest.description, manifestDigest: manifest.digest.description,
                            tags: tags, stepsCached: counts.cached, stepsRun: counts.ran,
                            durationMs: Int(Date().timeIntervalSince(start) * 1000))
    }

    /// Runs every stage, each once its dependencies are done, at most `jobs` at a time.
    func runStages() async throws -> [Int: StageResult] {
        try await withThrowingTaskGroup(of: (Int, StageResult).self) { group in
            var done: [Int: StageResult] = [:]
            var started = Set<Int>()
            var running = 0
            func startReady() {
                for stage in plan.stages where !started.contains(stage.index) && running < options.jobs
                    && stage.dependencies.allSatisfy({ done[$0] != nil }) {
                    started.insert(stage.index)
                    running += 1
                    let inputs = done.filter { stage.dependencies.contains($0.key) }
                    group.addTask { (stage.index, try await self.runStage(stage, dependencies: inputs)) }
                }
            }
            startReady()
            while let (index, result) = try await group.next() {
                done[index] = result
                running -= 1
                startReady()
            }
            return done
        }
    }

    // MARK: a stage

    func runStage(_ stage: PlannedStage, dependencies: [Int: StageResult]) async throws -> StageResult {
        var result: StageResult
        switch stage.base {
        case .scratch:
            result = StageResult()
        case .stage(let parent):
            result = dependencies[parent] ?? StageResult()
        case .image(let reference, let image):
            guard let image else {
                let from = stage.steps.first
                throw BuildError.baseImage(instruction: from?.display ?? "FROM", range: from?.range, reference: reference,
                                           detail: "it is not in the local store")
            }
            result = StageResult(layers: image.layers.map(Self.ociLayer), diffIDs: image.config.rootfs.diffIDs, history: image.config.history ?? [])
        }
        for step in stage.steps {
            try Task.checkCancellation()
            try await runStep(step, stage: stage, result: &result, dependencies: dependencies)
        }
        return result
    }

    static func ociLayer(_ layer: Descriptor) -> Descriptor {
        var copy = layer
        if copy.mediaType == MediaType.dockerLayerGzip { copy.mediaType = MediaType.ociLayerGzip }
        return copy
    }

    /// Runs (or takes from the cache) one step, reporting it; a failure is reported as `stepFailed` with its range.
    func runStep(_ step: PlannedStep, stage: PlannedStage, result: inout StageResult, dependencies: [Int: StageResult]) async throws {
        let reported = step.instructionIndex != nil
        let since = Date()
        if reported { begin(step, stage: stage) }
        do {
            let outcome = try await perform(step, stage: stage, result: &result, dependencies: dependencies)
            if reported { end(step, outcome: outcome, since: since) }
        } catch let error as BuildError {
            fail(step, error)
            throw error
        }
    }

    enum Outcome { case metadata, cached, ran }

    func perform(_ step: PlannedStep, stage: PlannedStage, result: inout StageResult, dependencies: [Int: StageResult]) async throws -> Outcome {
        switch step.operation {
        case .from:
            if let inputs = step.inputs, let slot = step.slot, !step.slotIsCurrent { rememberInputs(inputs, slot: slot) }
            return .cached
        case .metadata:
            if let history = step.history { result.history.append(History(created: created, createdBy: history, emptyLayer: true)) }
            return .metadata
        case .run, .copy, .workdir:
            guard let key = step.key else { return .metadata }
            if !options.noCache, let record = store.cacheRecord(key) {
                result.add(record, createdBy: step.history ?? "", created: created)
                if step.instructionIndex != nil { counter.withLock { $0.cached += 1 } }
                return .cached
            }
            let record: BuildCacheRecord
            switch step.operation {
            case .run(let inputs): record = try await executeRun(inputs, step: step, result: result, dependencies: dependencies)
            case .copy(let inputs): record = try await executeCopy(inputs, step: step, result: result, dependencies: dependencies)
            case .workdir(let path): record = try executeWorkdir(path, step: step, result: result)
            default: return .metadata
            }
            result.add(record, createdBy: step.history ?? "", created: created)
            if let inputs = step.inputs, let slot = step.slot { rememberInputs(inputs, slot: slot) }
            if step.instructionIndex != nil { counter.withLock { $0.ran += 1 } }
            return .ran
        }
    }

    /// Keeps what a step's key was made of, so that the next plan can say which input changed.
    func rememberInputs(_ inputs: StepInputs, slot: String) {
        if let bytes = try? JSONEncoder().encode(inputs) { try? store.writeCacheFile(slot, Array(bytes)) }
    }

    // MARK: events

    func begin(_ step: PlannedStep, stage: PlannedStage) {
        var event = BuildEvent(.stepStarted)
        event.step = step.number
        event.totalSteps = plan.totalSteps
        event.stage = stage.label
        event.instruction = step.display
        event.range = step.range
        if case .willRun(let reason) = step.verdict { event.reason = reason.description }
        events(event)
    }

    func end(_ step: PlannedStep, outcome: Outcome, since: Date) {
        var event = BuildEvent(outcome == .cached ? .stepCached : .stepDone)
        event.step = step.number
        event.totalSteps = plan.totalSteps
        event.instruction = step.display
        event.range = step.range
        if outcome != .cached { event.durationMs = Int(Date().timeIntervalSince(since) * 1000) }
        events(event)
    }

    func fail(_ step: PlannedStep, _ error: BuildError) {
        var event = BuildEvent(.stepFailed)
        event.step = step.number
        event.totalSteps = plan.totalSteps
        event.range = error.range ?? step.range
        event.message = error.description
        if case let .runFailed(instruction, _, exitCode, tail) = error {
            event.instruction = instruction
            event.exitCode = exitCode
            event.tail = tail
        }
        events(event)
    }

    // MARK: layers

    /// The layer directories of a stage's file system, base first, unpacking those not yet in the store.
    func layerDirectories(_ result: StageResult) throws -> [String] {
        let events = self.events
        return try ImageLayers.directories(layers: result.layers, rootfs: result.rootfs, label: "image config", store: store,
                                           warn: { events(.warning($0)) })
    }

    /// `user` inside a user namespace (overlayfs's userxattr), `trusted` for real root.
    static let overlayXattrPrefix: String = LayerUnpacker.inInitialUserNamespace ? "trusted" : "user"

    /// Turns a directory holding a step's changes (a sandbox upper directory or a COPY staging tree) into a layer
    /// blob in the store and an unpacked tree, and records the step in the cache.
    func commitLayer(from directory: String, key: Digest, result: StageResult) throws -> BuildCacheRecord {
        let temporary = try store.newTemporaryPath()
        let layer: LayerDescriptor
        do {
            layer = try LayerDiff(compression: options.compression, timestampLimit: options.timestamp)
                .write(upperDirectory: directory, to: temporary)
        } catch let error as LayerDiffError {
            unlink(temporary)
            try? FileTree.remove(directory)
            throw BuildError.io(path: directory, operation: "write a layer from (\(error.description))", errno: EIO)
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
        let chain = RootFS(diffIDs: result.diffIDs + [diffID]).chainIDs.last!
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
        guard mkdir(path, 0o755) == 0, chmod(path, 0o755) == 0 else { throw BuildError.io(path: path, operation: "create directory", errno: errno) }
        return path
    }

    // MARK: commit

    func commit(_ stage: PlannedStage, _ result: StageResult) throws -> (Descriptor, Digest) {
        var config = stage.config
        config.rootfs = result.rootfs
        config.history = result.history
        config.created = created
        config.architecture = plan.platform.architecture
        config.os = plan.platform.os
        let configBytes = try CanonicalJSON.encode(config)
        let configDescriptor = try store.putBlob(configBytes, mediaType: MediaType.ociConfig)
        let layers = result.layers.map { layer -> Descriptor in
            var copy = Self.ociLayer(layer)
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
