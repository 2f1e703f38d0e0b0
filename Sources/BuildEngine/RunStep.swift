import DockerfileSyntax
import Foundation
import ImageStore
import OCI
import Sandbox

extension BuildRun {
    /// The command line a RUN executes: exec form as written; shell form through SHELL; a lone heredoc as the script.
    /// A lone heredoc with its own interpreter (`#!`) is run as a file, as BuildKit does: `script` is that file's
    /// content, mounted read-only at the returned path under /dev/pipes (a tmpfs, never part of the layer).
    func commandLine(_ run: Run, state: ImageState) -> (command: [String], script: (path: String, content: String)?) {
        if run.command.isExec { return (run.command.arguments, nil) }
        let text = run.command.arguments.first ?? ""
        guard !run.heredocs.isEmpty else { return (state.shell + [text], nil) }
        if run.heredocs.count == 1, let heredoc = run.heredocs.first, text.trimmingCharacters(in: .whitespaces).hasPrefix("<<"),
           !text.trimmingCharacters(in: .whitespaces).contains(" ") {
            let content = heredoc.effectiveContent
            if content.hasPrefix("#!") {
                let path = "/dev/pipes/" + heredoc.name
                return ([path], (path, content))
            }
            return (state.shell + [content], nil)
        }
        // Heredocs feeding commands: the shell reads them as it would from a script.
        var script = text
        for heredoc in run.heredocs { script += "\n" + heredoc.content + heredoc.name }
        return (state.shell + [script + "\n"], nil)
    }

    /// The sandbox network of a RUN: its own namespace with user-mode networking by default (Docker's isolation from
    /// the host), none, or the host's, which needs the `network.host` entitlement.
    func runNetwork(_ run: Run, instruction: Instruction, range: SourceRange) throws -> NetworkMode {
        switch run.network {
        case "none": return .none
        case "host":
            guard options.entitlements.contains(.networkHost) else {
                throw BuildEngineError.entitlementRequired(instruction: display(instruction), range: range, entitlement: .networkHost)
            }
            return .host
        default: return .private
        }
    }

    /// The environment a RUN sees: the image's ENV, then the stage's ARGs (ENV wins), then proxy build arguments.
    func runEnvironment(_ state: ImageState) -> [String] {
        var environment = state.config.config?.Env ?? []
        var names = Set(environment.map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? $0 })
        for (name, value) in state.arguments.reversed() where !names.contains(name) {
            guard let value else { continue }
            environment.append(name + "=" + value)
            names.insert(name)
        }
        for name in HostPlatform.proxyArguments.sorted() where !names.contains(name) {
            if let value = options.buildArguments[name] { environment.append(name + "=" + value) }
        }
        return environment
    }

    func runStep(_ run: Run, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState,
                 index: Int?) async throws -> StepOutcome {
        let shown = display(instruction)
        if run.security == "insecure" {
            throw BuildEngineError.unsupported(instruction: shown, range: range, detail: "idpbuild runs every RUN rootless and sandboxed: --security=insecure is not supported")
        }
        if !instruction.flags(named: "device").isEmpty {
            throw BuildEngineError.unsupported(instruction: shown, range: range, detail: "RUN --device is not supported (it needs BuildKit's labs frontend and CDI devices)")
        }
        let (command, script) = commandLine(run, state: state)
        let environment = runEnvironment(state)
        let network = try runNetwork(run, instruction: instruction, range: range)
        var mounts = try await resolveMounts(run.mounts, instruction: instruction, range: range, state: state)
        if let script {
            mounts.append(ResolvedMount(source: .file(content: script.content, mode: 0o755), target: script.path, readOnly: true,
                                        cacheText: "script \(script.path) " + Digest.sha256(of: Array(script.content.utf8)).description))
        }
        let arguments = state.arguments.compactMap { pair in pair.value.map { "\(pair.name)=\($0)" } }
        let createdBy = "RUN " + (arguments.isEmpty ? "" : "|\(arguments.count) " + arguments.joined(separator: " ") + " ")
            + command.joined(separator: " ") + " # buildkit"
        // The network as the Dockerfile asks for it (not how this machine provides it) is part of the key.
        let key = CacheKey.make([state.key.description, "RUN", run.network ?? "default", state.container.User ?? "", state.workingDirectory,
                                 options.timestamp.map(String.init) ?? "", options.compression.rawValue]
                                + mounts.map(\.cacheText) + ["env"] + environment + ["command"] + command)
        if let record = cachedRecord(key, index: index, range: range) {
            apply(record, to: &state, createdBy: createdBy)
            return .cached
        }
        let lowers = try layerDirectories(state)
        let upper = try makeWorkDirectory("run")
        var prepared: PreparedMounts
        do {
            prepared = try prepareMounts(mounts, workDirectory: upper + "-mounts")
        } catch {
            try? FileTree.remove(upper)
            throw error
        }
        defer { prepared.cleanUp() }
        let configuration = SandboxConfiguration(
            layers: lowers, upperDirectory: upper, command: command, environment: environment,
            workingDirectory: state.workingDirectory, user: state.container.User, network: network, hostname: "buildkitsandbox",
            mounts: prepared.mounts)
        let sandboxRun = engine.sandbox.start(configuration)
        var tail: [String] = []
        var termination: Termination?
        let events = self.events
        let stepNumber = step
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
            throw BuildEngineError.stepFailed(instruction: shown, range: range, detail: detail)
        }
        await sandboxRun.waitUntilCleanedUp()
        guard let termination else {
            try? FileTree.remove(upper)
            if Task.isCancelled { throw CancellationError() }
            throw BuildEngineError.stepFailed(instruction: shown, range: range, detail: "the sandbox ended without an exit status")
        }
        if termination.exitCode != 0 {
            try? FileTree.remove(upper)
            throw BuildEngineError.runFailed(instruction: shown, range: range, exitCode: termination.exitCode, tail: tail)
        }
        try Task.checkCancellation()
        let record = try commitLayer(from: upper, key: key, state: state)
        apply(record, to: &state, createdBy: createdBy)
        return .ran(madeLayer: record.layer != nil)
    }
}
