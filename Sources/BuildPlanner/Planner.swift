import BuildEvents
import DockerfileCheck
import DockerfileSyntax
import Foundation
import OCI

/// What the planner reads besides the Dockerfile: the base images the store has, whether a cache key has a record,
/// and the build cache's small files (context checksums, the inputs each step slot last had). The store conforms;
/// planner tests give their own.
public protocol PlanEnvironment: Sendable {
    /// The image the store has under a canonical reference, for the platform; nil when it is not there.
    func image(_ reference: String, platform: Platform) -> BaseImage?
    /// Whether a step's cache key has a usable record.
    func hasCacheRecord(_ key: Digest) -> Bool
    /// A small file of the build cache, or nil.
    func readCacheFile(_ name: String) -> [UInt8]?
    /// Writes a small file of the build cache.
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws
}

/// Turns a parsed Dockerfile, build arguments, target and platform into a `BuildPlan`. Needs no root and does no
/// I/O beyond reading the build context (its metadata, and the contents of files whose metadata changed) and the
/// environment's cache index: as BuildKit's dockerfile2llb, it runs nothing.
public struct Planner: Sendable {
    /// The store's view.
    public let environment: any PlanEnvironment

    /// Makes a planner over an environment.
    public init(environment: any PlanEnvironment) { self.environment = environment }

    /// Plans the build of `definition` (the Dockerfile at `options.dockerfilePath`, parsed; `options` says the rest).
    /// Throws `BuildError` for what no build of it could do: a Dockerfile with errors, an unknown target, a missing
    /// COPY source, a refused entitlement, an invalid instruction value.
    public func plan(_ definition: BuildDefinition, options: BuildOptions) throws -> BuildPlan {
        try PlanningRun(definition: definition, options: options, environment: environment).plan()
    }

    /// Plans the build of the Dockerfile `options` names (its bytes from `options.dockerfileContents`, else the file).
    public func plan(_ options: BuildOptions) throws -> BuildPlan {
        try plan(try Self.definition(options), options: options)
    }

    /// The parsed Dockerfile of `options`: its given contents, else the file at its path.
    public static func definition(_ options: BuildOptions) throws -> BuildDefinition {
        // The context first: a missing folder is the mistake to name (its Dockerfile is missing too, then).
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.contextDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BuildError.contextMissing(path: options.contextDirectory)
        }
        if let contents = options.dockerfileContents { return BuildDefinition(Dockerfile(bytes: Array(contents))) }
        guard let data = FileManager.default.contents(atPath: options.dockerfilePath) else {
            let reason = FileManager.default.fileExists(atPath: options.dockerfilePath) ? "it cannot be read" : "there is no such file"
            throw BuildError.dockerfileUnreadable(path: options.dockerfilePath, detail: reason)
        }
        return BuildDefinition(Dockerfile(bytes: Array(data)))
    }

    /// `1970-01-01T00:00:00Z` formatting for config and history times.
    public static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// One planning pass (mutable state kept in one place).
final class PlanningRun {
    let definition: BuildDefinition
    let options: BuildOptions
    let environment: any PlanEnvironment
    let lexer: ShellLexer
    let global: [String: String?]
    let platform: Platform
    let context: ContextTree
    let checksums: ContextChecksums

    /// Stage results by Dockerfile index (in planning, the state is the config and key).
    var planned: [Int: PlannedStage] = [:]
    var finalStates: [Int: ImageState] = [:]
    var order: [Int] = []
    var nextNumber = 1
    /// Per step number: its verdict, inputs difference, display (for reasons that point at earlier steps).
    var verdicts: [Int: StepVerdict] = [:]
    var notes: [Int: String] = [:]
    var displays: [Int: String] = [:]

    init(definition: BuildDefinition, options: BuildOptions, environment: any PlanEnvironment) throws {
        self.definition = definition
        self.options = options
        self.environment = environment
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.contextDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BuildError.contextMissing(path: options.contextDirectory)
        }
        let errors = Checker.check(definition, options: CheckOptions(buildArguments: options.buildArguments)).filter { $0.severity == .error }
        if !errors.isEmpty {
            throw BuildError.dockerfileErrors(path: options.dockerfilePath, errors: errors.map {
                "\($0.range.start.line + 1):\($0.range.start.character + 1): \($0.message)"
            })
        }
        lexer = ShellLexer(escape: definition.dockerfile.escape)
        global = VariableScope.global(definition, buildArguments: options.buildArguments).variables.mapValues(\.value)
        if let requested = options.platform {
            guard let parsed = try? Platform(parsing: requested), parsed.os == "linux", parsed.architecture == Platform.current.architecture else {
                throw BuildError.unsupported(instruction: "--platform \(requested)", range: nil,
                    detail: "idpbuild builds for this machine's platform (\(Platform.current)) only; other platforms would need emulation")
            }
        }
        platform = Platform.current
        let contextRoot = URL(fileURLWithPath: options.contextDirectory).standardizedFileURL.path
        context = ContextTree(root: contextRoot, ignore: try DockerIgnore.load(context: contextRoot, dockerfile: options.dockerfilePath))
        checksums = ContextChecksums(store: EnvironmentFiles(environment: environment), context: contextRoot)
    }

    func plan() throws -> BuildPlan {
        defer { checksums.save(to: EnvironmentFiles(environment: environment)) }
        let target = try targetStage()
        try visit(target.index)
        return BuildPlan(stages: order.map { planned[$0]! }, targetStage: target.index, platform: platform,
                         contextDirectory: context.root, dockerfilePath: options.dockerfilePath, totalSteps: nextNumber - 1,
                         context: context)
    }

    // MARK: stages

    func targetStage() throws -> Stage {
        guard let last = definition.stages.last else {
            throw BuildError.dockerfileErrors(path: options.dockerfilePath, errors: ["the Dockerfile has no FROM instruction"])
        }
        guard let target = options.target else { return last }
        if let stage = definition.stage(named: target) { return stage }
        if let index = Int(target), definition.stages.indices.contains(index) { return definition.stages[index] }
        throw BuildError.unknownTarget(target, available: definition.stages.compactMap(\.name))
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

    /// The stages a stage reads from, in the order it names them (its base first).
    func dependencies(_ stage: Stage) -> [Int] {
        var result: [Int] = []
        func add(_ index: Int?) { if let index, !result.contains(index) { result.append(index) } }
        add(stageReference(expandGlobal(stage.from.image.value), before: stage.index))
        for instruction in stage.instructionIndices {
            switch definition.commands[instruction] {
            case .copy(let copy)?:
                if let from = copy.from?.value { add(stageReference(from, before: stage.index)) }
            case .run(let run)?:
                for mount in run.mounts { if let from = mount.from { add(stageReference(from, before: stage.index)) } }
            default:
                break
            }
        }
        return result
    }

    /// Plans a stage after the stages it depends on (depth first: a dependency's steps are numbered first).
    func visit(_ index: Int) throws {
        guard planned[index] == nil else { return }
        let stage = definition.stages[index]
        let needs = dependencies(stage)
        for dependency in needs { try visit(dependency) }
        try checkEntitlements(stage)
        var steps: [PlannedStep] = []
        var state = try fromStep(stage, into: &steps)
        for instructionIndex in stage.instructionIndices {
            guard let command = definition.commands[instructionIndex] else { continue }
            let instruction = definition.dockerfile.instructions[instructionIndex]
            try dispatch(command, instruction, range: instruction.range, stage: stage, state: &state, index: instructionIndex,
                         number: takeNumber(), into: &steps)
        }
        var config = state.config
        config.rootfs = RootFS(diffIDs: [])
        config.history = nil
        planned[index] = PlannedStage(index: index, name: stage.name, base: base(of: stage), dependencies: needs, steps: steps,
                                      config: config, key: state.key)
        finalStates[index] = state
        order.append(index)
    }

    func takeNumber() -> Int {
        defer { nextNumber += 1 }
        return nextNumber
    }

    func base(of stage: Stage) -> StageBase {
        let name = expandGlobal(stage.from.image.value)
        if name.lowercased() == "scratch" { return .scratch }
        if let parent = stageReference(name, before: stage.index) { return .stage(parent) }
        let reference = (try? Reference(parsing: name))?.description ?? name
        return .image(reference: reference, image: environment.image(reference, platform: platform))
    }

    /// Refuses, before anything runs, a step that needs an entitlement the build was not started with.
    func checkEntitlements(_ stage: Stage) throws {
        for instruction in stage.instructionIndices {
            guard case .run(let run)? = definition.commands[instruction], run.network == "host",
                  !options.entitlements.contains(.networkHost) else { continue }
            let written = definition.dockerfile.instructions[instruction]
            throw BuildError.entitlementRequired(instruction: display(written), range: written.range, entitlement: .networkHost)
        }
    }

    // MARK: steps

    /// The text of an instruction for progress lines (its first line, shortened).
    func display(_ instruction: Instruction) -> String {
        let text = instruction.logicalText
        let utf8 = text.utf8
        let first = utf8.firstIndex(of: 0x0a).map { String(text[..<$0]) } ?? text
        if first.isEmpty { return instruction.name }
        // Characters are never fewer bytes: a short line in bytes needs no counting.
        return first.utf8.count > 160 && first.count > 160 ? String(first.prefix(157)) + "..." : first
    }

    /// The instruction as history's `created_by` shows it.
    func historyText(_ instruction: Instruction) -> String {
        let text = instruction.logicalText
        let rest = text.utf8.count > instruction.keyword.text.utf8.count ? String(text.dropFirst(instruction.keyword.text.count)) : ""
        return instruction.name + rest
    }

    /// Expands variables in an instruction's word with the image's ENV and the stage's ARGs.
    func expand(_ word: String, _ state: ImageState, _ instruction: Instruction, range: SourceRange) throws -> String {
        do {
            return try lexer.process(word) { state.variable($0) }.value
        } catch {
            throw BuildError.invalidInstruction(instruction: display(instruction), range: range,
                                                detail: "cannot expand \"\(word)\": \(error.message)")
        }
    }

    /// The slot a step's inputs are remembered under: this Dockerfile and context, the stage, the instruction.
    func slot(stage: Int, instruction: Int?, trigger: Int? = nil) -> String {
        "slots/\(slotPrefix)/\(stage)-" + (instruction.map(String.init) ?? "t\(trigger ?? 0)") + ".json"
    }

    /// The folder of this Dockerfile's and context's slots (hashed once per plan).
    lazy var slotPrefix: String = CacheKey.make(["slot", context.root, options.dockerfilePath]).encoded

    /// The inputs the slot had when its step last ran.
    func lastInputs(_ slot: String) -> StepInputs? {
        environment.readCacheFile(slot).flatMap { try? JSONDecoder().decode(StepInputs.self, from: Data($0)) }
    }

    /// The verdict of a keyed step: cached, or why it will run (with its inputs, made only then: a warm plan of an
    /// unchanged build makes none and reads no slot). `parents` are the step numbers it builds on.
    func verdict(key: Digest, number: Int, inputs makeInputs: () -> StepInputs, slot: String, parents: [Int],
                 stagesRead: [(Int, String)]) -> (StepVerdict, StepInputs?) {
        if !options.noCache && environment.hasCacheRecord(key) { return (.cached, nil) }
        let inputs = makeInputs()
        if options.noCache { return (.willRun(.noCache), inputs) }
        var note: String?
        if let old = lastInputs(slot), old.key != key { note = inputs.difference(from: old) }
        if let note { notes[number] = note }
        for parent in parents {
            if case .willRun? = verdicts[parent] { return (.willRun(.follows(step: parent, display: displays[parent] ?? "")), inputs) }
        }
        for (stageIndex, label) in stagesRead {
            if let last = planned[stageIndex]?.steps.last, case .willRun = last.verdict { return (.willRun(.stageRuns(label)), inputs) }
        }
        if let note { return (.willRun(.changed(note)), inputs) }
        // Only what it builds on differs: say what changed there (a cached step whose inputs are new, a new base).
        for parent in parents { if let inherited = notes[parent] { notes[number] = inherited; return (.willRun(.changed(inherited)), inputs) } }
        return (.willRun(.noRecord), inputs)
    }

    /// Adds a step; its number's verdict is "will run" when any step under that number will (a FROM's triggers share it).
    func record(_ step: PlannedStep, into steps: inout [PlannedStep]) {
        if case .willRun = step.verdict { verdicts[step.number] = step.verdict } else if verdicts[step.number] == nil { verdicts[step.number] = step.verdict }
        if displays[step.number] == nil { displays[step.number] = step.display }
        steps.append(step)
    }

    /// The number of the latest step of `steps` whose result the next keyed step builds on (FROM or a keyed step).
    func parentNumber(_ steps: [PlannedStep]) -> Int? {
        steps.last { $0.key != nil || { if case .from = $0.operation { return true } else { return false } }($0) }?.number
    }

    // MARK: FROM

    func fromStep(_ stage: Stage, into steps: inout [PlannedStep]) throws -> ImageState {
        let instruction = definition.dockerfile.instructions[stage.fromIndex]
        let range = instruction.range
        let number = takeNumber()
        if let flag = stage.from.platform?.value {
            let value = expandGlobal(flag)
            guard let parsed = try? Platform(parsing: value), parsed.os == platform.os, parsed.architecture == platform.architecture else {
                throw BuildError.unsupported(instruction: display(instruction), range: range,
                                             detail: UnsupportedFeature.foreignPlatform.message("--platform=\(value)"))
            }
        }
        let name = expandGlobal(stage.from.image.value)
        var state: ImageState
        var verdict = StepVerdict.cached
        var items = [StepInputs.Item(label: "instruction", value: display(instruction))]
        if name.lowercased() == "scratch" {
            state = .scratch(platform: platform)
        } else if let parent = stageReference(name, before: stage.index) {
            state = finalStates[parent]!
            state.cmdSet = false
            state.arguments = []
            items.append(.init(label: "stage \(planned[parent]?.label ?? name)", value: state.key.description))
            if let last = planned[parent]?.steps.last, case .willRun = last.verdict {
                verdict = .willRun(.stageRuns(planned[parent]?.label ?? name))
            }
        } else {
            let reference: Reference
            do { reference = try Reference(parsing: name) } catch {
                throw BuildError.baseImage(instruction: display(instruction), range: range, reference: name, detail: "\(error)")
            }
            if let image = environment.image(reference.description, platform: platform) {
                state = ImageState(image: image)
                items.append(.init(label: "base \(name)", value: image.digest.description))
            } else {
                state = .scratch(platform: platform)
                state.key = CacheKey.make(["unavailable", reference.description])
                verdict = .willRun(.baseImageMissing(reference.description))
            }
        }
        let inputs = StepInputs(key: state.key, items: items)
        let slotName = slot(stage: stage.index, instruction: stage.fromIndex)
        let old = lastInputs(slotName)
        if case .cached = verdict, let old, old.key != state.key, let note = inputs.difference(from: old) {
            notes[number] = note
        }
        var from = PlannedStep(number: number, stageIndex: stage.index, instructionIndex: stage.fromIndex, range: range,
                               display: display(instruction), operation: .from, key: nil, history: nil, verdict: verdict, inputs: inputs)
        from.slot = slotName
        from.slotIsCurrent = old?.key == state.key
        record(from, into: &steps)
        // ONBUILD triggers of the base run now, in order, and are not inherited further (Docker's rule).
        if let triggers = state.config.config?.OnBuild, !triggers.isEmpty {
            state.container.OnBuild = nil
            for (position, trigger) in triggers.enumerated() {
                let parsed = BuildDefinition(Dockerfile(parsing: "FROM scratch\n" + trigger))
                guard parsed.dockerfile.instructions.count == 2, let command = parsed.commands[1] else {
                    throw BuildError.invalidInstruction(instruction: display(instruction), range: range,
                                                        detail: "the base image's ONBUILD trigger \"\(trigger)\" is not a valid instruction")
                }
                switch command {
                case .from, .onbuild, .maintainer:
                    throw BuildError.invalidInstruction(instruction: display(instruction), range: range,
                                                        detail: "the base image's ONBUILD trigger \"\(trigger)\" is not allowed")
                default:
                    try dispatch(command, parsed.dockerfile.instructions[1], range: range, stage: stage, state: &state, index: nil,
                                 number: number, into: &steps, trigger: position)
                }
            }
        }
        return state
    }

    // MARK: dispatch

    /// Plans one instruction on `state`. `index` is its place in the Dockerfile (nil for a base image's ONBUILD trigger,
    /// which reports under the FROM's step number).
    func dispatch(_ command: Command, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState,
                  index: Int?, number: Int, into steps: inout [PlannedStep], trigger: Int? = nil) throws {
        var history: String? = historyText(instruction)
        let x = { (word: String, state: ImageState) throws -> String in try self.expand(word, state, instruction, range: range) }
        let slotName = slot(stage: stage.index, instruction: index, trigger: trigger)
        func step(_ operation: StepOperation, key: Digest?, history: String?, verdict: StepVerdict, inputs: StepInputs?) -> PlannedStep {
            var plannedStep = PlannedStep(number: number, stageIndex: stage.index, instructionIndex: index, range: range, display: display(instruction),
                                          operation: operation, key: key, history: history, verdict: verdict, inputs: inputs)
            if key != nil && inputs != nil { plannedStep.slot = slotName }
            return plannedStep
        }
        switch command {
        case .from:
            return
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
            history = nil
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
            let key = CacheKey.make([state.key.description, "WORKDIR", path, options.timestamp.map(String.init) ?? "", options.compression.rawValue])
            let parentKey = state.key.description
            let parents = parentNumber(steps).map { [$0] } ?? []
            let (verdict, inputs) = verdict(key: key, number: number, inputs: {
                StepInputs(key: key, items: [.init(label: "instruction", value: self.display(instruction)), .init(label: "parent", value: parentKey)])
            }, slot: slotName, parents: parents, stagesRead: [])
            record(step(.workdir(path: path), key: key, history: "WORKDIR " + path, verdict: verdict, inputs: inputs), into: &steps)
            state.key = key
            return
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
                throw BuildError.invalidInstruction(instruction: display(instruction), range: range,
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
            try planRun(run, instruction, range: range, stage: stage, state: &state, number: number, index: index, slot: slotName, into: &steps)
            return
        case .copy(let copy):
            try planCopy(copy, instruction, range: range, stage: stage, state: &state, number: number, index: index, slot: slotName, into: &steps)
            return
        }
        record(step(.metadata, key: nil, history: history, verdict: .metadata, inputs: nil), into: &steps)
    }

    /// EXPOSE's port specs: `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` (a range gives each port).
    static func ports(_ spec: String, instruction: String, range: SourceRange) throws -> [String] {
        let parts = spec.split(separator: "/", maxSplits: 1).map(String.init)
        let proto = parts.count > 1 ? parts[1].lowercased() : "tcp"
        guard ["tcp", "udp", "sctp"].contains(proto), let portText = parts.first else {
            throw BuildError.invalidInstruction(instruction: instruction, range: range, detail: "invalid port \(spec): use PORT[/tcp|udp|sctp]")
        }
        let bounds = portText.split(separator: "-").map { UInt16($0) }
        guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil, low <= high else {
            throw BuildError.invalidInstruction(instruction: instruction, range: range, detail: "invalid port \(spec): use a number from 0 to 65535 or a range LOW-HIGH")
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

/// The environment's cache files as the context checksums read and write them.
struct EnvironmentFiles: ImageStoreAccess {
    let environment: any PlanEnvironment
    func readCacheFile(_ name: String) -> [UInt8]? { environment.readCacheFile(name) }
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws { try environment.writeCacheFile(name, bytes) }
}

extension ImageState {
    /// The state a stored image starts a stage with.
    package init(image: BaseImage) {
        var layers = image.layers
        for index in layers.indices where layers[index].mediaType == MediaType.dockerLayerGzip {
            layers[index].mediaType = MediaType.ociLayerGzip
        }
        self.init(config: image.config, layers: layers, key: CacheKey.make(["image", image.digest.description]))
    }
}
