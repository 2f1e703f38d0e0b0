import DockerfileSyntax
import Foundation
import ImageStore
import OCI

/// How a step ended, for counting and for the editor's cache hints.
enum StepOutcome {
    /// Only the config changed.
    case metadata
    /// Answered from the cache.
    case cached
    /// Did its work (`madeLayer`: it changed the file system).
    case ran(madeLayer: Bool)
}

extension BuildRun {
    /// Expands variables in an instruction's word with the image's ENV and the stage's ARGs.
    func expand(_ word: String, _ state: ImageState, _ instruction: Instruction, range: SourceRange) throws -> String {
        do {
            return try lexer.process(word) { state.variable($0) }.value
        } catch {
            throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                                                      detail: "cannot expand \"\(word)\": \(error.message)")
        }
    }

    /// The instruction as history's `created_by` shows it.
    func historyText(_ instruction: Instruction) -> String {
        let text = instruction.logicalText
        let rest = text.utf8.count > instruction.keyword.text.utf8.count ? String(text.dropFirst(instruction.keyword.text.count)) : ""
        return instruction.name + rest
    }

    // MARK: FROM

    func fromStep(_ stage: Stage) async throws -> ImageState {
        let instruction = definition.dockerfile.instructions[stage.fromIndex]
        let range = instruction.range
        let since = Date()
        let number = planning ? 0 : beginStep(instruction, range: range, stage: stage)
        if let flag = stage.from.platform?.value {
            let value = expandGlobal(flag)
            guard let parsed = try? Platform(parsing: value), parsed.os == platform.os, parsed.architecture == platform.architecture else {
                throw BuildEngineError.unsupported(instruction: display(instruction), range: range,
                    detail: "idpbuild builds for this machine's platform (\(platform)) only: --platform=\(value) would need emulation")
            }
        }
        let name = expandGlobal(stage.from.image.value)
        var state: ImageState
        var cached = true
        if name.lowercased() == "scratch" {
            state = .scratch(platform: platform)
        } else if let parent = definition.stage(named: name, before: stage.index) {
            state = try await stageResult(parent.index)
            state.cmdSet = false
            state.arguments = []
        } else {
            let reference: Reference
            do { reference = try Reference(parsing: name) } catch {
                throw BuildEngineError.baseImage(instruction: display(instruction), range: range, reference: name, detail: "\(error)")
            }
            if planning {
                if let image = try? store.image(reference.description, platform: platform) {
                    state = ImageState(image: image)
                } else {
                    state = .scratch(platform: platform)
                    state.key = CacheKey.make(["unavailable", reference.description])
                    cached = false
                }
            } else {
                let (image, pulled) = try await resolveImage(reference, instruction: instruction, range: range)
                state = ImageState(image: image)
                cached = !pulled
            }
        }
        if planning {
            planStates.append(StepCacheState(instructionIndex: stage.fromIndex, range: range, state: cached ? .cached : .willRun))
        } else {
            endStep(number, instruction, range: range, cached: cached, since: since, didWork: false, counts: false)
        }
        // ONBUILD triggers of the base run now, in order, and are not inherited further (Docker's rule).
        if let triggers = state.config.config?.OnBuild, !triggers.isEmpty {
            state.container.OnBuild = nil
            for trigger in triggers {
                let parsed = BuildDefinition(Dockerfile(parsing: "FROM scratch\n" + trigger))
                guard parsed.dockerfile.instructions.count == 2, let command = parsed.commands[1] else {
                    throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                                                              detail: "the base image's ONBUILD trigger \"\(trigger)\" is not a valid instruction")
                }
                switch command {
                case .from, .onbuild, .maintainer:
                    throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                                                              detail: "the base image's ONBUILD trigger \"\(trigger)\" is not allowed")
                default:
                    try await dispatch(command, parsed.dockerfile.instructions[1], range: range, stage: stage, state: &state, index: nil)
                }
            }
        }
        return state
    }

    /// The base image from the store, or pulled (through registries.conf mirrors) when missing or `--pull`.
    func resolveImage(_ reference: Reference, instruction: Instruction, range: SourceRange) async throws -> (StoredImage, Bool) {
        if !options.pull, let image = try? store.image(reference.description, platform: platform) { return (image, false) }
        guard let transfer = engine.transfer else {
            throw BuildEngineError.baseImage(instruction: display(instruction), range: range, reference: reference.description,
                                             detail: "it is not in the local store and this build has no registry access")
        }
        let events = self.events
        do {
            let image = try await transfer.pull(reference, platform: platform) { transferEvent in
                guard [.blobStarted, .blobProgress, .blobDone].contains(transferEvent.kind) else { return }
                var event = BuildEvent(.bytes)
                event.phase = "pull"
                event.bytes = transferEvent.kind == .blobStarted ? 0 : transferEvent.bytes
                event.totalBytes = transferEvent.total
                event.message = transferEvent.digest
                events(event)
            }
            return (image, true)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw BuildEngineError.baseImage(instruction: display(instruction), range: range, reference: reference.description,
                                             detail: "\(error)")
        }
    }

    // MARK: dispatch

    /// Runs one instruction on `state`. `index` is its place in the Dockerfile (nil for a base image's ONBUILD trigger,
    /// which reports under the FROM's step).
    func dispatch(_ command: Command, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState,
                  index: Int?) async throws {
        let since = Date()
        let counted = index != nil && !planning
        let number = counted ? beginStep(instruction, range: range, stage: stage) : step
        var outcome = StepOutcome.metadata
        var history = historyText(instruction)
        let x = { (word: String, state: ImageState) throws -> String in try self.expand(word, state, instruction, range: range) }
        switch command {
        case .from:
            break
        case .arg(let pairs):
            for pair in pairs {
                let name = try x(pair.key, state)
                var value = try pair.value.map { try x($0, state) }
                if let given = options.buildArguments[name] {
                    value = given
                } else if value == nil, let inherited = global[name] {
                    value = inherited
                } else if value == nil, let predefined = HostPlatform.predefinedArguments[name] {
                    value = predefined
                }
                state.arguments.append((name, value))
            }
            history = ""
        case .env(let pairs):
            var updates: [(String, String)] = []
            for pair in pairs { updates.append((try x(pair.key, state), try x(pair.value ?? "", state))) }
            for (name, value) in updates { state.setEnvironment(name, value) }
            history = "ENV " + updates.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        case .label(let pairs):
            var labels = state.container.Labels ?? [:]
            var shown: [String] = []
            for pair in pairs {
                let key = try x(pair.key, state), value = try x(pair.value ?? "", state)
                labels[key] = value
                shown.append("\(key)=\(value)")
            }
            state.container.Labels = labels
            history = "LABEL " + shown.joined(separator: " ")
        case .maintainer(let argument):
            state.config.author = argument.value
        case .workdir(let argument):
            let path = absolutePath(try x(argument.value, state), relativeTo: state.workingDirectory)
            state.container.WorkingDir = path
            outcome = try workdirStep(path, state: &state, createdBy: "WORKDIR " + path, instruction: instruction, range: range, index: index)
            history = ""
        case .user(let argument):
            state.container.User = try x(argument.value, state)
            history = "USER " + (state.container.User ?? "")
        case .expose(let arguments):
            var ports = state.container.ExposedPorts ?? [:]
            for argument in arguments {
                for word in try x(argument.value, state).split(separator: " ") {
                    for port in try Self.ports(String(word), instruction: display(instruction), range: range) { ports[port] = EmptyObject() }
                }
            }
            state.container.ExposedPorts = ports
        case .volume(let arguments):
            var volumes = state.container.Volumes ?? [:]
            for argument in arguments {
                let value = try x(argument.value, state)
                guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                volumes[value] = EmptyObject()
            }
            state.container.Volumes = volumes
        case .stopSignal(let argument):
            let value = try x(argument.value, state)
            guard Self.isSignal(value) else {
                throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                                                          detail: "\(value) is not a signal: use a name such as SIGTERM or a number from 1 to 64")
            }
            state.container.StopSignal = value
        case .healthcheck(let check):
            var health = HealthConfig()
            if let line = check.command {
                health.Test = line.isExec ? ["CMD"] + line.arguments : ["CMD-SHELL", line.arguments.first ?? ""]
                health.Interval = check.interval.map { Int64($0 * 1e9) }
                health.Timeout = check.timeout.map { Int64($0 * 1e9) }
                health.StartPeriod = check.startPeriod.map { Int64($0 * 1e9) }
                health.StartInterval = check.startInterval.map { Int64($0 * 1e9) }
                health.Retries = check.retries
            } else {
                health.Test = ["NONE"]
            }
            state.container.Healthcheck = health
        case .shell(let arguments):
            state.container.Shell = arguments
        case .cmd(let line):
            state.container.Cmd = line.isExec ? line.arguments : state.shell + [line.arguments.first ?? ""]
            state.cmdSet = true
        case .entrypoint(let line):
            state.container.Entrypoint = line.isExec ? line.arguments : state.shell + [line.arguments.first ?? ""]
            if !state.cmdSet { state.container.Cmd = nil }
        case .onbuild(let trigger):
            if let trigger {
                state.container.OnBuild = (state.container.OnBuild ?? []) + [trigger.logicalText]
            }
        case .run(let run):
            outcome = try await runStep(run, instruction, range: range, stage: stage, state: &state, index: index)
            history = ""
        case .copy(let copy):
            outcome = try await copyStep(copy, instruction, range: range, stage: stage, state: &state, index: index)
            history = ""
        }
        if !history.isEmpty { state.addHistory(history, created: created, emptyLayer: true) }
        if planning, let index {
            if case .metadata = outcome { planStates.append(StepCacheState(instructionIndex: index, range: range, state: .metadata)) }
        }
        if counted {
            switch outcome {
            case .metadata: endStep(number, instruction, range: range, cached: false, since: since, didWork: false)
            case .cached: endStep(number, instruction, range: range, cached: true, since: since, didWork: false)
            case .ran(let madeLayer): endStep(number, instruction, range: range, cached: false, since: since, didWork: madeLayer || true)
            }
        }
    }

    /// Looks a step's key up in the cache (or, planning, records the verdict and pretends the step ran).
    /// Returns the record to apply, or nil when the step must run.
    func cachedRecord(_ key: Digest, index: Int?, range: SourceRange) -> BuildCacheRecord? {
        let record = store.cacheRecord(key)
        if planning {
            if let index { planStates.append(StepCacheState(instructionIndex: index, range: range, state: record == nil ? .willRun : .cached)) }
            return record ?? BuildCacheRecord(key: key, layer: nil, diffID: nil, chainID: nil, created: created)
        }
        return options.noCache ? nil : record
    }

    /// WORKDIR creates its directory when the image lacks it (a small layer), as BuildKit does.
    func workdirStep(_ path: String, state: inout ImageState, createdBy: String, instruction: Instruction, range: SourceRange,
                     index: Int?) throws -> StepOutcome {
        let key = CacheKey.make([state.key.description, "WORKDIR", path, options.timestamp.map(String.init) ?? "", options.compression.rawValue])
        if let record = cachedRecord(key, index: index, range: range) {
            apply(record, to: &state, createdBy: createdBy)
            return .cached
        }
        let view = MergedView(layersTopFirst: try layerDirectories(state).reversed())
        let resolved = try view.resolve(pathComponents(path), followLast: true)
        let record: BuildCacheRecord
        if view.lookup(resolved)?.isDirectory == true {
            record = BuildCacheRecord(key: key, layer: nil, diffID: nil, chainID: nil, created: created)
            try store.putCacheRecord(record)
        } else {
            let staging = try makeWorkDirectory("workdir")
            do {
                var copier = FileCopier(staging: staging, target: view, owner: nil, mode: nil, timestampLimit: options.timestamp)
                try copier.makeDirectories(resolved)
            } catch {
                try? FileTree.remove(staging)
                throw error
            }
            record = try commitLayer(from: staging, key: key, state: state)
        }
        apply(record, to: &state, createdBy: createdBy)
        return .ran(madeLayer: record.layer != nil)
    }

    /// EXPOSE's port specs: `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` (a range gives each port).
    static func ports(_ spec: String, instruction: String, range: SourceRange) throws -> [String] {
        let parts = spec.split(separator: "/", maxSplits: 1).map(String.init)
        let proto = parts.count > 1 ? parts[1].lowercased() : "tcp"
        guard ["tcp", "udp", "sctp"].contains(proto), let portText = parts.first else {
            throw BuildEngineError.invalidInstruction(instruction: instruction, range: range, detail: "invalid port \(spec): use PORT[/tcp|udp|sctp]")
        }
        let bounds = portText.split(separator: "-").map { UInt16($0) }
        guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil, low <= high else {
            throw BuildEngineError.invalidInstruction(instruction: instruction, range: range, detail: "invalid port \(spec): use a number from 0 to 65535 or a range LOW-HIGH")
        }
        return (low...high).map { "\($0)/\(proto)" }
    }

    static func isSignal(_ text: String) -> Bool {
        if let number = Int(text) { return (1...64).contains(number) }
        let name = text.uppercased().hasPrefix("SIG") ? String(text.uppercased().dropFirst(3)) : text.uppercased()
        let names: Set<String> = ["ABRT", "ALRM", "BUS", "CHLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
                                  "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU",
                                  "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ"]
        return names.contains(name) || name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX")
    }
}

extension ImageState {
    /// The state a stored image starts a stage with.
    init(image: StoredImage) {
        var layers = image.manifest.layers
        for index in layers.indices where layers[index].mediaType == MediaType.dockerLayerGzip {
            layers[index].mediaType = MediaType.ociLayerGzip
        }
        self.init(config: image.config, layers: layers, key: CacheKey.make(["image", image.descriptor.digest.description]))
    }
}
