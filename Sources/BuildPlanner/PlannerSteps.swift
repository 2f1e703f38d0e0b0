import BuildEvents
import DockerfileCheck
import DockerfileSyntax
import Foundation
import OCI

extension PlanningRun {
    // MARK: RUN

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

    /// The environment a RUN sees: the image's ENV, then the stage's ARGs (ENV wins), then proxy build arguments.
    func runEnvironment(_ state: ImageState) -> [String] {
        var environment = state.config.config?.Env ?? []
        var names = Set(environment.map { entry in entry.utf8.firstIndex(of: UInt8(ascii: "=")).map { String(entry[..<$0]) } ?? entry })
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

    func planRun(_ run: Run, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState, number: Int,
                 index: Int?, slot: String, into steps: inout [PlannedStep]) throws {
        let shown = display(instruction)
        if run.security == "insecure" {
            throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.insecureSecurity.message())
        }
        if !instruction.flags(named: "device").isEmpty {
            throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.device.message())
        }
        if run.network == "host" && !options.entitlements.contains(.networkHost) {
            throw BuildError.entitlementRequired(instruction: shown, range: range, entitlement: .networkHost)
        }
        let (command, script) = commandLine(run, state: state)
        let environment = runEnvironment(state)
        var mounts = try planMounts(run.mounts, instruction: instruction, range: range, stage: stage, state: state)
        if let script {
            mounts.append(MountSpec(source: .file(content: script.content, mode: 0o755), target: script.path, readOnly: true,
                                    cacheText: "script \(script.path) " + Digest.sha256(of: Array(script.content.utf8)).description))
        }
        let arguments = state.arguments.compactMap { pair in pair.value.map { "\(pair.name)=\($0)" } }
        let createdBy = "RUN " + (arguments.isEmpty ? "" : "|\(arguments.count) " + arguments.joined(separator: " ") + " ")
            + command.joined(separator: " ") + " # buildkit"
        // The network as the Dockerfile asks for it (not how this machine provides it) is part of the key.
        let network = run.network ?? "default"
        let key = CacheKey.make([state.key.description, "RUN", network, state.container.User ?? "", state.workingDirectory,
                                 options.timestamp.map(String.init) ?? "", options.compression.rawValue]
                                + mounts.map(\.cacheText) + ["env"] + environment + ["command"] + command)
        let makeInputs = { () -> StepInputs in
            var items: [StepInputs.Item] = [.init(label: "instruction", value: shown)]
            items += mounts.map { .init(label: "mount \($0.target)", value: $0.cacheText) }
            var argumentNames = Set<String>()
            for (name, value) in state.arguments.reversed() where argumentNames.insert(name).inserted {
                if let value { items.append(.init(label: "arg \(name)", value: value)) }
            }
            for entry in state.config.config?.Env ?? [] {
                let equals = entry.firstIndex(of: "=") ?? entry.endIndex
                items.append(.init(label: "env \(entry[..<equals])", value: equals < entry.endIndex ? String(entry[entry.index(after: equals)...]) : ""))
            }
            items += [.init(label: "user", value: state.container.User ?? "root"), .init(label: "workdir", value: state.workingDirectory),
                      .init(label: "network", value: network), .init(label: "parent", value: state.key.description)]
            return StepInputs(key: key, items: items)
        }
        let read = mounts.compactMap { mount -> (Int, String)? in
            if case .tree(.stage(let index), _, _) = mount.source { return (index, planned[index]?.label ?? String(index)) }
            return nil
        }
        let parents = parentNumber(steps).map { [$0] } ?? []
        let runInputs = RunInputs(command: command, script: script, environment: environment, user: state.container.User,
                                  workingDirectory: state.workingDirectory, network: network, mounts: mounts)
        let (verdict, inputs) = verdict(key: key, number: number, inputs: makeInputs, slot: slot, parents: parents, stagesRead: read)
        var plannedStep = PlannedStep(number: number, stageIndex: stage.index, instructionIndex: index, range: range, display: shown,
                                      operation: .run(runInputs), key: key, history: createdBy, verdict: verdict, inputs: inputs)
        if inputs != nil { plannedStep.slot = slot }
        record(plannedStep, into: &steps)
        state.key = key
    }

    /// A stage (by a name or number before `stageIndex`) or image a `--from` names, with its cache key.
    func sourceOf(_ name: String, stageIndex: Int, instruction: Instruction, range: SourceRange) throws -> (StageOrImage, key: String) {
        if let index = stageReference(name, before: stageIndex), let state = finalStates[index] {
            return (.stage(index), state.key.description)
        }
        let reference: Reference
        do { reference = try Reference(parsing: name) } catch {
            throw BuildError.invalidInstruction(instruction: display(instruction), range: range,
                detail: "--from=\(name) names no earlier stage and is not an image reference (\(error))")
        }
        guard let image = environment.image(reference.description, platform: platform) else {
            return (.image(reference: reference.description, image: nil), "unavailable " + reference.description)
        }
        return (.image(reference: reference.description, image: image), ImageState(image: image).key.description)
    }

    /// RUN `--mount`s: their sources found (context paths hashed into the key), as the sandbox will get them.
    func planMounts(_ mounts: [Mount], instruction: Instruction, range: SourceRange, stage: Stage, state: ImageState) throws -> [MountSpec] {
        let shown = display(instruction)
        var resolved: [MountSpec] = []
        for mount in mounts {
            let fields = mount.fields
            func fail(_ detail: String) -> BuildError { .invalidInstruction(instruction: shown, range: range, detail: detail) }
            let readOnly = fields["readonly"].map { $0 == "true" }
            let target = fields["target"].map { absolutePath($0, relativeTo: state.workingDirectory) }
            switch mount.type {
            case "bind":
                guard let target else { throw fail("--mount=type=bind needs target=PATH") }
                let source = pathComponents(DockerIgnore.clean("/" + (fields["source"] ?? ".")))
                if let from = fields["from"] {
                    let (tree, key) = try sourceOf(from, stageIndex: stage.index, instruction: instruction, range: range)
                    resolved.append(MountSpec(source: .tree(tree, components: source, shown: fields["source"] ?? "."), target: target,
                                              readOnly: readOnly ?? true, cacheText: "bind \(target) from \(key) /\(source.joined(separator: "/"))"))
                } else {
                    let resolvedPath = try context.resolve(source, followLast: true)
                    guard context.entry(resolvedPath) != nil else {
                        throw BuildError.sourceNotFound(instruction: shown, range: range, source: fields["source"] ?? ".", detail: "does not exist in the build context")
                    }
                    var lines: [String] = []
                    try sourceDigest(tree: context, components: resolvedPath, checksums: checksums, into: &lines)
                    resolved.append(MountSpec(source: .context(components: resolvedPath), target: target, readOnly: readOnly ?? true,
                                              cacheText: "bind \(target) " + CacheKey.make(lines).description))
                }
            case "cache":
                guard let target else { throw fail("--mount=type=cache needs target=PATH") }
                let id = fields["id"] ?? target
                let mode = fields["mode"].flatMap { UInt32($0, radix: 8) } ?? 0o755
                let uid = fields["uid"].flatMap { UInt32($0) } ?? 0
                let gid = fields["gid"].flatMap { UInt32($0) } ?? 0
                if fields["from"] != nil {
                    throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.cacheMountFrom.message())
                }
                resolved.append(MountSpec(source: .cache(id: id, mode: mode, uid: uid, gid: gid), target: target,
                                          readOnly: readOnly ?? false, cacheText: "cache \(target) \(id)"))
            case "tmpfs":
                guard let target else { throw fail("--mount=type=tmpfs needs target=PATH") }
                let size = fields["size"].flatMap { Self.byteSize($0) }
                resolved.append(MountSpec(source: .tmpfs(size: size), target: target, readOnly: false, cacheText: "tmpfs \(target)"))
            case "secret":
                let id = fields["id"] ?? fields["target"].map { ($0 as NSString).lastPathComponent } ?? ""
                let where_ = target ?? "/run/secrets/" + id
                guard let path = options.secrets[id] else {
                    if fields["required"] == "true" {
                        throw fail("the secret \"\(id)\" is required but was not given: pass --secret id=\(id),src=FILE")
                    }
                    continue
                }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw fail("the secret \"\(id)\" file \(path) cannot be read")
                }
                let mode = fields["mode"].flatMap { UInt32($0, radix: 8) } ?? 0o400
                resolved.append(MountSpec(source: .secret(path: path, mode: mode, uid: fields["uid"].flatMap { UInt32($0) } ?? 0,
                                                          gid: fields["gid"].flatMap { UInt32($0) } ?? 0),
                                          target: where_, readOnly: true, cacheText: "secret \(where_) \(id)"))
            case "ssh":
                throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.sshMount.message())
            default:
                throw fail("unsupported mount type \(mount.type)")
            }
        }
        return resolved
    }

    /// `size=` of a tmpfs: bytes, or with a k, m or g suffix.
    static func byteSize(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let multipliers: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        if let last = lower.last, let multiplier = multipliers[last] { return Int64(lower.dropLast()).map { $0 * multiplier } }
        return Int64(lower.hasSuffix("b") ? String(lower.dropLast()) : lower)
    }

    // MARK: COPY and ADD

    static func isURL(_ source: String) -> Bool { source.hasPrefix("http://") || source.hasPrefix("https://") }

    static func isGit(_ source: String) -> Bool { UnsupportedFeature.isGitSource(source) }

    func planCopy(_ copy: FileCopy, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState, number: Int,
                  index: Int?, slot: String, into steps: inout [PlannedStep]) throws {
        let shown = display(instruction)
        let name = copy.isAdd ? "ADD" : "COPY"
        let destinationText = try expand(copy.destination?.value ?? "", state, instruction, range: range)
        let sources = try copy.sources.map { try expand($0.value, state, instruction, range: range) }
        var keyParts = [state.key.description, name, destinationText, state.workingDirectory, copy.chown?.value ?? "",
                        copy.chmod?.value ?? "", String(copy.parents), String(copy.unpack ?? true), options.timestamp.map(String.init) ?? "",
                        options.compression.rawValue] + copy.excludes
        var items: [StepInputs.Item] = [.init(label: "instruction", value: shown)]
        let excludes = copy.excludes.isEmpty ? nil : try DockerIgnore(parsing: copy.excludes.joined(separator: "\n"))
        var from: StageOrImage?
        var matches: [[String]] = []
        var urls: [String] = []
        var read: [(Int, String)] = []
        if let fromName = copy.from?.value {
            let (tree, key) = try sourceOf(fromName, stageIndex: stage.index, instruction: instruction, range: range)
            from = tree
            keyParts += ["from", key] + sources
            if case .stage(let index) = tree {
                let label = planned[index]?.label ?? fromName
                read.append((index, label))
                items.append(.init(label: "stage \(label)", value: key))
            } else {
                items.append(.init(label: "image \(fromName)", value: key))
            }
        } else {
            for source in sources {
                if Self.isURL(source) || Self.isGit(source) {
                    guard copy.isAdd else {
                        throw BuildError.invalidInstruction(instruction: shown, range: range, detail: "COPY does not fetch URLs (\(source)); use ADD, or download in a RUN step")
                    }
                    if Self.isGit(source) {
                        throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.gitSource.message())
                    }
                    urls.append(source)
                    keyParts += ["url", source, copy.checksum?.value ?? ""]
                    items.append(.init(label: "url \(source)", value: copy.checksum?.value ?? ""))
                    continue
                }
                let matched = try matchSources(source, in: context)
                let missing = try matched.isEmpty || (!hasGlob(source) && context.entry(context.resolve(matched[0], followLast: true)) == nil)
                if missing {
                    let outside = source.hasPrefix("..") || source.hasPrefix("/..")
                    throw BuildError.sourceNotFound(instruction: shown, range: range, source: source,
                        detail: outside ? "is outside the build context (sources are read inside \(context.root) as if it were /)"
                            : (hasGlob(source) ? "matches no file in the build context \(context.root)" : "does not exist in the build context \(context.root) (or .dockerignore excludes it)"))
                }
                for match in matched {
                    if context.ignore.excludes(match.joined(separator: "/")) && !match.isEmpty {
                        throw BuildError.sourceNotFound(instruction: shown, range: range, source: source, detail: "is excluded by .dockerignore")
                    }
                    var lines: [String] = []
                    let resolvedMatch = try context.resolve(match, followLast: true)
                    let digestTree: SourceTree = excludes.map { ExcludingTree(base: context, root: resolvedMatch, excludes: $0) } ?? context
                    try sourceDigest(tree: digestTree, components: match, checksums: checksums, into: &lines)
                    keyParts += lines
                    for line in lines {
                        // "/path mode [size digest | -> target]": the path names the input, the rest is its value.
                        let space = line.firstIndex(of: " ") ?? line.endIndex
                        items.append(.init(label: "file " + String(line[..<space].dropFirst()), value: String(line[space...])))
                    }
                }
                matches += matched
            }
        }
        var heredocs: [(name: String, content: String)] = []
        for heredoc in copy.heredocSources {
            var content = heredoc.effectiveContent
            if heredoc.expand {
                var heredocLexer = lexer
                heredocLexer.skipProcessQuotes = true
                let current = state
                content = (try? heredocLexer.process(content) { current.variable($0) }.value) ?? content
            }
            heredocs.append((heredoc.name, content))
            keyParts += ["heredoc", heredoc.name, content]
            items.append(.init(label: "heredoc \(heredoc.name)", value: Digest.sha256(of: Array(content.utf8)).description))
        }
        let key = CacheKey.make(keyParts)
        var flags = ""
        if let fromName = copy.from?.value { flags += "--from=\(fromName) " }
        if let chown = copy.chown?.value { flags += "--chown=\(chown) " }
        if let chmod = copy.chmod?.value { flags += "--chmod=\(chmod) " }
        let createdBy = "\(name) \(flags)\((sources + heredocs.map { "<<" + $0.name }).joined(separator: " ")) \(destinationText) # buildkit"
        var mode: UInt32?
        if let text = copy.chmod?.value {
            guard let parsed = UInt32(text, radix: 8), parsed <= 0o7777 else {
                throw BuildError.unsupported(instruction: shown, range: range, detail: UnsupportedFeature.symbolicChmod.message(text))
            }
            mode = parsed
        }
        items += [.init(label: "destination", value: destinationText), .init(label: "workdir", value: state.workingDirectory),
                  .init(label: "flags", value: flags), .init(label: "parent", value: state.key.description)]
        let copyItems = items
        let copyInputs = CopyInputs(
            isAdd: copy.isAdd, from: from, sources: sources, contextMatches: matches, urls: urls, checksum: copy.checksum?.value,
            heredocs: heredocs, destinationText: destinationText, destination: absolutePath(destinationText, relativeTo: state.workingDirectory),
            chown: try copy.chown?.value.map { try expand($0, state, instruction, range: range) }, chmod: mode, parents: copy.parents,
            unpack: copy.unpack, excludes: copy.excludes)
        let parents = parentNumber(steps).map { [$0] } ?? []
        let (verdict, inputs) = verdict(key: key, number: number, inputs: { StepInputs(key: key, items: copyItems) }, slot: slot,
                                        parents: parents, stagesRead: read)
        var plannedStep = PlannedStep(number: number, stageIndex: stage.index, instructionIndex: index, range: range, display: shown,
                                      operation: .copy(copyInputs), key: key, history: createdBy, verdict: verdict, inputs: inputs)
        if inputs != nil { plannedStep.slot = slot }
        record(plannedStep, into: &steps)
        state.key = key
    }
}
