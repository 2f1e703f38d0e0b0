import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import ImageStore
import OCI
import Sandbox

/// Mounts ready for the sandbox, and the temporary copies to remove after the run.
struct PreparedMounts {
    var mounts: [SandboxMount] = []
    var temporary: [String] = []

    func cleanUp() {
        for path in temporary { try? FileTree.remove(path) }
    }
}

extension PlanExecution {
    /// The sandbox network of a planned RUN: its own namespace with user-mode networking by default (Docker's
    /// isolation from the host), none, or the host's (the plan refused it unless the build is entitled).
    static func network(_ declared: String) -> NetworkMode {
        switch declared {
        case "none": return .none
        case "host": return .host
        default: return .private
        }
    }

    func executeRun(_ run: RunInputs, step: PlannedStep, result: StageResult, dependencies: [Int: StageResult]) async throws -> BuildCacheRecord {
        let shown = step.display, range = step.range
        guard let key = step.key else { throw BuildError.stepFailed(instruction: shown, range: range, detail: "the step has no cache key") }
        let lowers = try layerDirectories(result)
        let upper = try makeWorkDirectory("run")
        var prepared: PreparedMounts
        do {
            prepared = try prepareMounts(run.mounts, step: step, dependencies: dependencies, workDirectory: upper + "-mounts")
        } catch {
            try? FileTree.remove(upper)
            throw error
        }
        defer { prepared.cleanUp() }
        let configuration = SandboxConfiguration(
            layers: lowers, upperDirectory: upper, command: run.command, environment: run.environment,
            workingDirectory: run.workingDirectory, user: run.user, network: Self.network(run.network), hostname: "buildkitsandbox",
            mounts: prepared.mounts)
        let sandboxRun = engine.sandbox.start(configuration)
        var tail: [String] = []
        var termination: Termination?
        let events = self.events
        let stepNumber = step.number
        do {
            try await withTaskCancellationHandler {
                for try await event in sandboxRun.events {
                    switch event {
                    case .warning(let text):
                        events(.warning(text))
                    case .output(let line):
                        var output = BuildEvent(.output)
                        output.step = stepNumber
                        output.line = line.text
                        output.stream = line.stream.rawValue
                        events(output)
                        tail.append(line.text)
                        if tail.count > 20 { tail.removeFirst(tail.count - 20) }
                    case .finished(let result):
                        termination = result
                    }
                }
            } onCancel: {
                sandboxRun.cancel()
            }
        } catch {
            await sandboxRun.waitUntilCleanedUp()
            try? FileTree.remove(upper)
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            var detail = "\(error)"
            if case .userModeNetwork? = error as? SandboxError {
                detail += "; or, to share the host's network, RUN --network=host with `idpbuild build --allow network.host`"
            }
            throw BuildError.stepFailed(instruction: shown, range: range, detail: detail)
        }
        await sandboxRun.waitUntilCleanedUp()
        guard let termination else {
            try? FileTree.remove(upper)
            if Task.isCancelled { throw CancellationError() }
            throw BuildError.stepFailed(instruction: shown, range: range, detail: "the sandbox ended without an exit status")
        }
        if termination.exitCode != 0 {
            try? FileTree.remove(upper)
            throw BuildError.runFailed(instruction: shown, range: range, exitCode: termination.exitCode, tail: tail)
        }
        try Task.checkCancellation()
        return try commitLayer(from: upper, key: key, result: result)
    }

    /// The layer tree of a stage (done) or image (in the store) that a `--from` names.
    func tree(_ source: StageOrImage, dependencies: [Int: StageResult], step: PlannedStep) throws -> LayerTree {
        switch source {
        case .stage(let index):
            guard let result = dependencies[index] else {
                throw BuildError.stepFailed(instruction: step.display, range: step.range, detail: "the stage it reads has not been built")
            }
            return LayerTree(view: MergedView(layersTopFirst: try layerDirectories(result).reversed()))
        case .image(let reference, let image):
            guard let image else {
                throw BuildError.baseImage(instruction: step.display, range: step.range, reference: reference, detail: "it is not in the local store")
            }
            let directories = try ImageLayers.directories(layers: image.layers.map(Self.ociLayer), rootfs: image.config.rootfs, label: reference,
                                                          store: store, warn: { [events] in events(.warning($0)) })
            return LayerTree(view: MergedView(layersTopFirst: directories.reversed()))
        }
    }

    /// Makes the host side of each mount: copies for binds (so a RUN never sees ignored files or writes back), the
    /// persistent cache folders, the secret files with their modes.
    func prepareMounts(_ mounts: [MountSpec], step: PlannedStep, dependencies: [Int: StageResult], workDirectory: String) throws -> PreparedMounts {
        var prepared = PreparedMounts()
        guard !mounts.isEmpty else { return prepared }
        guard mkdir(workDirectory, 0o755) == 0, chmod(workDirectory, 0o755) == 0 else {
            throw BuildError.io(path: workDirectory, operation: "create directory", errno: errno)
        }
        prepared.temporary.append(workDirectory)
        do {
            for (position, mount) in mounts.enumerated() {
                switch mount.source {
                case .context(let components):
                    let copy = workDirectory + "/\(position)"
                    try copyTree(from: plan.context, components, to: copy)
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: mount.readOnly))
                case .tree(let source, let components, let shown):
                    let tree = try self.tree(source, dependencies: dependencies, step: step)
                    let resolved = try tree.resolve(components, followLast: true)
                    guard tree.entry(resolved) != nil else {
                        throw BuildError.sourceNotFound(instruction: step.display, range: step.range, source: shown, detail: "does not exist in \(name(source))")
                    }
                    let copy = workDirectory + "/\(position)"
                    try copyTree(from: tree, resolved, to: copy)
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: mount.readOnly))
                case .cache(let id, let mode, let uid, let gid):
                    let directory = store.buildCacheDirectory + "/mounts/" + Digest.sha256(of: Array(id.utf8)).encoded.prefix(32)
                    if !FileManager.default.fileExists(atPath: directory) {
                        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                        chmod(directory, mode)
                        lchown(directory, uid, gid)
                    }
                    prepared.mounts.append(SandboxMount(kind: .bind(source: directory), target: mount.target, readOnly: mount.readOnly))
                case .tmpfs(let size):
                    prepared.mounts.append(SandboxMount(kind: .tmpfs(sizeBytes: size), target: mount.target, readOnly: false))
                case .secret(let path, let mode, let uid, let gid):
                    let copy = workDirectory + "/\(position)"
                    guard let data = FileManager.default.contents(atPath: path), FileManager.default.createFile(atPath: copy, contents: data, attributes: nil) else {
                        throw BuildError.io(path: path, operation: "read secret", errno: errno)
                    }
                    chown(copy, uid, gid)
                    chmod(copy, mode)
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: true))
                case .file(let content, let mode):
                    let copy = workDirectory + "/\(position)"
                    guard FileManager.default.createFile(atPath: copy, contents: Data(content.utf8), attributes: nil), chmod(copy, mode) == 0 else {
                        throw BuildError.io(path: copy, operation: "write the heredoc script", errno: errno)
                    }
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: true))
                }
            }
        } catch {
            prepared.cleanUp()
            throw error
        }
        return prepared
    }

    /// How a `--from` source is named in messages: the stage's name (or index), or the image.
    func name(_ source: StageOrImage) -> String {
        switch source {
        case .stage(let index): return plan.stage(index)?.label ?? "stage \(index)"
        case .image(let reference, _): return reference
        }
    }

    /// Copies a source tree's entry (a directory's contents or a file) to `destination`.
    func copyTree(from tree: SourceTree, _ components: [String], to destination: String) throws {
        guard let entry = tree.entry(components) else { throw BuildError.io(path: destination, operation: "copy a missing source to", errno: ENOENT) }
        var copier = FileCopier(staging: destination, target: MergedView(layersTopFirst: []), owner: nil, mode: nil, timestampLimit: nil)
        try copier.copy(from: tree, components, entry: entry, to: destination)
    }
}
