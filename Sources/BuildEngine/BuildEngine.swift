import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import ImageStore
import ImageTransfer
import LayerDiff
import OCI
import Sandbox

/// Runs build plans into the local store: the stages a plan holds in dependency order (independent ones at once),
/// RUN in the rootless sandbox, COPY/ADD, layers from the sandbox's diffs, the step cache, and the commit (config,
/// manifest, tags). Plans come from `BuildPlanner` (`plan(_:)` makes one against this store).
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

    /// Plans `options` (its Dockerfile parsed from `definition` when given) against this store, reading nothing but the
    /// context and the cache index: nothing runs and nothing is pulled (missing base images are steps that will run).
    public func plan(_ options: BuildOptions, definition: BuildDefinition? = nil) throws -> BuildPlan {
        let planner = Planner(environment: StoreEnvironment(store: store))
        return try planner.plan(try definition ?? Planner.definition(options), options: options)
    }

    /// Whether each step would come from the cache, and why the others would run (editors show it as inlay hints).
    public func cacheStates(_ options: BuildOptions, definition: BuildDefinition? = nil) throws -> [StepCacheState] {
        try plan(options, definition: definition).cacheStates
    }

    /// Builds: pulls the images the needed stages name that the store lacks (all of them with `--pull`), plans, runs
    /// the plan and tags the result as `options.tags`. Throws `BuildError` (or `CancellationError`); nothing half-made
    /// is left in the store either way, and a failing step is reported as a `stepFailed` event first.
    public func build(_ options: BuildOptions, definition: BuildDefinition? = nil, events: @escaping BuildEventHandler = { _ in }) async throws -> BuildSummary {
        let definition = try definition ?? Planner.definition(options)
        var plan: BuildPlan
        do {
            plan = try self.plan(options, definition: definition)
            if try await pullImages(for: plan, all: options.pull, events: events) {
                plan = try self.plan(options, definition: definition)
            }
        } catch let error as BuildError {
            var event = BuildEvent(.stepFailed)
            event.range = error.range
            event.message = error.description
            events(event)
            throw error
        }
        return try await execute(plan, options: options, events: events)
    }

    /// Runs a plan made against this store (`plan(_:)`); its base images must be in the store.
    public func execute(_ plan: BuildPlan, options: BuildOptions, events: @escaping BuildEventHandler = { _ in }) async throws -> BuildSummary {
        try await PlanExecution(engine: self, plan: plan, options: options, events: events).run()
    }

    /// Pulls the images `plan` reads that the store does not have (every one when `all`), at once; returns whether it
    /// pulled anything (the plan must then be made again). A failure is reported at the instruction that names the image.
    func pullImages(for plan: BuildPlan, all: Bool, events: @escaping BuildEventHandler) async throws -> Bool {
        var wanted: [String: (display: String, range: SourceRange)] = [:]
        var order: [String] = []
        func want(_ reference: String, present: Bool, _ step: PlannedStep) {
            guard all || !present, wanted[reference] == nil else { return }
            wanted[reference] = (step.display, step.range)
            order.append(reference)
        }
        for stage in plan.stages {
            if case .image(let reference, let image) = stage.base, let from = stage.steps.first { want(reference, present: image != nil, from) }
            for step in stage.steps {
                switch step.operation {
                case .copy(let inputs):
                    if case .image(let reference, let image)? = inputs.from { want(reference, present: image != nil, step) }
                case .run(let inputs):
                    for mount in inputs.mounts {
                        if case .tree(.image(let reference, let image), _, _) = mount.source { want(reference, present: image != nil, step) }
                    }
                default:
                    break
                }
            }
        }
        guard !order.isEmpty else { return false }
        guard let transfer else {
            let first = order[0]
            throw BuildError.baseImage(instruction: wanted[first]!.display, range: wanted[first]!.range, reference: first,
                                       detail: "it is not in the local store and this build has no registry access")
        }
        let platform = plan.platform
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in order {
                let (display, range) = wanted[name]!
                group.addTask {
                    do {
                        let reference = try Reference(parsing: name)
                        // Layers unpack while they download, into the overlay trees RUN stacks (the engine runs as root).
                        let unpack = UnpackOptions(whiteouts: .overlay(xattrPrefix: PlanExecution.overlayXattrPrefix))
                        _ = try await transfer.pull(reference, platform: platform, unpack: unpack) { transferEvent in
                            if transferEvent.kind == .warning { return events(.warning(transferEvent.message ?? "")) }
                            guard [.blobStarted, .blobProgress, .blobDone].contains(transferEvent.kind) else { return }
                            var event = BuildEvent(.bytes)
                            event.phase = "pull"
                            event.bytes = transferEvent.kind == .blobStarted ? 0 : transferEvent.bytes
                            event.totalBytes = transferEvent.total
                            event.message = transferEvent.digest
                            events(event)
                        }
                    } catch let error as CancellationError {
                        throw error
                    } catch {
                        throw BuildError.baseImage(instruction: display, range: range, reference: name, detail: "\(error)")
                    }
                }
            }
            try await group.waitForAll()
        }
        return true
    }
}

/// The store as the planner sees it.
struct StoreEnvironment: PlanEnvironment {
    let store: ImageStore

    func image(_ reference: String, platform: Platform) -> BaseImage? {
        guard let stored = try? store.image(reference, platform: platform) else { return nil }
        return BaseImage(reference: reference, digest: stored.descriptor.digest, config: stored.config, layers: stored.manifest.layers)
    }

    func hasCacheRecord(_ key: Digest) -> Bool { store.cacheRecord(key) != nil }
    func readCacheFile(_ name: String) -> [UInt8]? { store.readCacheFile(name) }
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws { try store.writeCacheFile(name, bytes) }
}
