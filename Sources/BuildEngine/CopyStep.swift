import DockerfileSyntax
import Foundation
import HTTP
import ImageStore
import OCI
import Sandbox

extension BuildRun {
    /// A stage or image to copy from: its cache key now, its layer tree when the copy actually runs.
    func sourceTree(from name: String, stageIndex: Int, instruction: Instruction, range: SourceRange) async throws -> (tree: SourceTree, key: String) {
        let state: ImageState
        if let index = stageReference(name, before: stageIndex) {
            state = try await stageResult(index)
        } else {
            let reference: Reference
            do { reference = try Reference(parsing: name) } catch {
                throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                    detail: "--from=\(name) names no earlier stage and is not an image reference (\(error))")
            }
            if planning {
                guard let image = try? store.image(reference.description, platform: platform) else {
                    return (LayerTree(view: MergedView(layersTopFirst: [])), "unavailable " + reference.description)
                }
                state = ImageState(image: image)
            } else {
                state = ImageState(image: try await resolveImage(reference, instruction: instruction, range: range).0)
            }
        }
        let layers = planning ? [] : try layerDirectories(state)
        return (LayerTree(view: MergedView(layersTopFirst: layers.reversed())), state.key.description)
    }

    static func isURL(_ source: String) -> Bool { source.hasPrefix("http://") || source.hasPrefix("https://") }

    static func isGit(_ source: String) -> Bool {
        source.hasPrefix("git@") || source.hasPrefix("git://") || source.hasPrefix("ssh://")
            || (isURL(source) && (source.hasSuffix(".git") || source.contains(".git#")))
    }

    func copyStep(_ copy: FileCopy, _ instruction: Instruction, range: SourceRange, stage: Stage, state: inout ImageState,
                  index: Int?) async throws -> StepOutcome {
        let shown = display(instruction)
        let name = copy.isAdd ? "ADD" : "COPY"
        let destinationText = try expand(copy.destination?.value ?? "", state, instruction, range: range)
        let sources = try copy.sources.map { try expand($0.value, state, instruction, range: range) }
        var keyParts = [state.key.description, name, destinationText, state.workingDirectory, copy.chown?.value ?? "",
                        copy.chmod?.value ?? "", String(copy.parents), String(copy.unpack ?? true), options.timestamp.map(String.init) ?? "",
                        options.compression.rawValue] + copy.excludes
        let excludes = copy.excludes.isEmpty ? nil : try DockerIgnore(parsing: copy.excludes.joined(separator: "\n"))
        let contextTree = context
        var tree: SourceTree = contextTree
        var matches: [[String]] = []
        var urls: [String] = []
        if let from = copy.from?.value {
            let found = try await sourceTree(from: from, stageIndex: stage.index, instruction: instruction, range: range)
            tree = found.tree
            keyParts += ["from", found.key] + sources
            if !planning {
                for source in sources {
                    let matched = try matchSources(source, in: tree)
                    if try matched.isEmpty || (!hasGlob(source) && tree.entry(tree.resolve(matched[0], followLast: true)) == nil) {
                        throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: source, detail: "does not exist in \(from)")
                    }
                    matches += matched
                }
            }
        } else {
            for source in sources {
                if Self.isURL(source) || Self.isGit(source) {
                    guard copy.isAdd else {
                        throw BuildEngineError.invalidInstruction(instruction: shown, range: range, detail: "COPY does not fetch URLs (\(source)); use ADD, or download in a RUN step")
                    }
                    if Self.isGit(source) {
                        throw BuildEngineError.unsupported(instruction: shown, range: range,
                            detail: "idpbuild does not clone git sources in ADD; clone in a RUN step or add the files to the build context")
                    }
                    urls.append(source)
                    keyParts += ["url", source, copy.checksum?.value ?? ""]
                    continue
                }
                let matched = try matchSources(source, in: contextTree)
                let missing = try matched.isEmpty || (!hasGlob(source) && contextTree.entry(contextTree.resolve(matched[0], followLast: true)) == nil)
                if missing {
                    let outside = source.hasPrefix("..") || source.hasPrefix("/..")
                    throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: source,
                        detail: outside ? "is outside the build context (sources are read inside \(context.root) as if it were /)"
                            : (hasGlob(source) ? "matches no file in the build context \(context.root)" : "does not exist in the build context \(context.root) (or .dockerignore excludes it)"))
                }
                for match in matched {
                    if contextTree.ignore.excludes(match.joined(separator: "/")) && !match.isEmpty {
                        throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: source, detail: "is excluded by .dockerignore")
                    }
                    var lines: [String] = []
                    let resolvedMatch = try contextTree.resolve(match, followLast: true)
                    let digestTree: SourceTree = excludes.map { ExcludingTree(base: contextTree, root: resolvedMatch, excludes: $0) } ?? contextTree
                    try sourceDigest(tree: digestTree, components: match, checksums: checksums, into: &lines)
                    keyParts += lines
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
        }
        let key = CacheKey.make(keyParts)
        var flags = ""
        if let from = copy.from?.value { flags += "--from=\(from) " }
        if let chown = copy.chown?.value { flags += "--chown=\(chown) " }
        if let chmod = copy.chmod?.value { flags += "--chmod=\(chmod) " }
        let createdBy = "\(name) \(flags)\((sources + heredocs.map { "<<" + $0.name }).joined(separator: " ")) \(destinationText) # buildkit"
        if let record = cachedRecord(key, index: index, range: range) {
            apply(record, to: &state, createdBy: createdBy)
            return .cached
        }

        let lowers = try layerDirectories(state)
        let view = MergedView(layersTopFirst: lowers.reversed())
        let owner = try copy.chown?.value.map { try resolveOwner(try expand($0, state, instruction, range: range), layers: lowers, instruction: instruction, range: range) }
        var mode: mode_t?
        if let text = copy.chmod?.value {
            guard let parsed = mode_t(text, radix: 8), parsed <= 0o7777 else {
                throw BuildEngineError.unsupported(instruction: shown, range: range, detail: "--chmod=\(text): only octal modes (e.g. 0755) are supported")
            }
            mode = parsed
        }
        let staging = try makeWorkDirectory("copy")
        do {
            var copier = FileCopier(staging: staging, target: view, owner: owner, mode: mode, timestampLimit: options.timestamp)
            let destination = absolutePath(destinationText, relativeTo: state.workingDirectory)
            let slash = destinationText.hasSuffix("/") || destinationText.hasSuffix("/.") || destinationText == "." || destinationText == ".."
            let count = matches.count + heredocs.count + urls.count
            let existingDirectory = try copier.isDirectory(destination)
            if count > 1 && !slash && !existingDirectory {
                throw BuildEngineError.invalidInstruction(instruction: shown, range: range,
                    detail: "with more than one source the destination must be a directory and end with a /: write \(destinationText)/")
            }
            let intoDirectory = slash || count > 1 || existingDirectory
            for match in matches {
                let resolved = try tree.resolve(match, followLast: true)
                let tree: SourceTree = excludes.map { ExcludingTree(base: tree, root: resolved, excludes: $0) } ?? tree
                if let excludes, let name = match.last, excludes.excludes(name) { continue }
                guard let entry = tree.entry(resolved) else {
                    throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: "/" + match.joined(separator: "/"), detail: "does not exist")
                }
                let relative = match.joined(separator: "/")
                if entry.isDirectory {
                    let directory = copy.parents && !relative.isEmpty ? destination + "/" + relative : destination
                    let target = try prepareDirectory(directory, copier: &copier, view: view)
                    try copier.copy(from: tree, resolved, entry: entry, to: target)
                } else if copy.isAdd, copy.unpack != false, copy.from == nil, entry.isRegular, LayerUnpacker.isArchive(entry.hostPath) {
                    let target = try prepareDirectory(destination, copier: &copier, view: view)
                    var st = stat()
                    if lstat(target, &st) != 0 { _ = mkdir(target, 0o755); _ = chmod(target, 0o755) }
                    do {
                        try LayerUnpacker.unpack(archive: entry.hostPath, into: target, options: UnpackOptions(whiteouts: .apply), label: relative)
                    } catch {
                        throw BuildEngineError.invalidInstruction(instruction: shown, range: range, detail: "cannot extract \(relative): \(error)")
                    }
                } else {
                    let fileName = copy.parents ? relative : (match.last ?? relative)
                    let target = try copier.prepare(intoDirectory ? destination + "/" + fileName : destination)
                    try copier.copy(from: tree, resolved, entry: entry, to: target)
                }
            }
            let now = options.timestamp ?? Int64(Date().timeIntervalSince1970)
            for heredoc in heredocs {
                let target = try copier.prepare(intoDirectory ? destination + "/" + heredoc.name : destination)
                try copier.write(Array(heredoc.content.utf8), to: target, mode: 0o644, mtime: now)
            }
            for url in urls {
                let (bytes, fileName) = try await download(url, checksum: copy.checksum?.value, instruction: instruction, range: range)
                let target = try copier.prepare(intoDirectory ? destination + "/" + fileName : destination)
                try copier.write(bytes, to: target, mode: 0o600, mtime: now)
            }
        } catch {
            try? FileTree.remove(staging)
            throw error
        }
        let record = try commitLayer(from: staging, key: key, state: state)
        apply(record, to: &state, createdBy: createdBy)
        return .ran(madeLayer: record.layer != nil)
    }

    /// The staging path of a destination directory, with the image's own metadata when it already has it.
    func prepareDirectory(_ directory: String, copier: inout FileCopier, view: MergedView) throws -> String {
        let resolved = try view.resolve(pathComponents(directory), followLast: true)
        if view.lookup(resolved)?.isDirectory == true {
            try copier.makeDirectories(resolved)
        } else {
            try copier.makeDirectories(Array(resolved.dropLast()))
        }
        return resolved.isEmpty ? copier.staging : copier.staging + "/" + resolved.joined(separator: "/")
    }

    /// `--chown=USER[:GROUP]`: numbers as given, names through the image's /etc/passwd and /etc/group; a user without a
    /// group gets the same number as group (Docker's rule).
    func resolveOwner(_ spec: String, layers: [String], instruction: Instruction, range: SourceRange) throws -> CopyOwner {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let userPart = parts.first, !userPart.isEmpty else {
            throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range, detail: "--chown=\(spec): expected USER[:GROUP]")
        }
        do {
            let resolver = UserResolver(layersTopFirst: layers.reversed())
            let uid = try UInt32(userPart) ?? resolver.resolve(userPart).uid
            guard parts.count == 2 else { return CopyOwner(uid: uid, gid: uid) }
            let gid = try UInt32(parts[1]) ?? resolver.resolve("0:" + parts[1]).gid
            return CopyOwner(uid: uid, gid: gid)
        } catch let error as SandboxError {
            throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range, detail: "--chown=\(spec): \(error.description)")
        }
    }

    /// Fetches an ADD URL (at most 512 MiB), checking `--checksum` when given.
    func download(_ url: String, checksum: String?, instruction: Instruction, range: SourceRange) async throws -> ([UInt8], String) {
        let response: HTTPResponse
        do {
            response = try await HTTPClient().send(HTTPRequest(url: url, timeouts: HTTPTimeouts(connect: 15, stall: 60), maxCollectedBody: 512 << 20))
        } catch {
            throw BuildEngineError.sourceNotFound(instruction: display(instruction), range: range, source: url, detail: "could not be downloaded: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw BuildEngineError.sourceNotFound(instruction: display(instruction), range: range, source: url, detail: "answered HTTP \(response.status)")
        }
        if let checksum {
            let actual = Digest.sha256(of: response.body)
            guard (try? Digest(parsing: checksum)) == actual else {
                throw BuildEngineError.invalidInstruction(instruction: display(instruction), range: range,
                                                          detail: "the download of \(url) hashes to \(actual), not --checksum=\(checksum)")
            }
        }
        let path = URLComponents(string: response.url)?.path ?? ""
        let fileName = path.split(separator: "/").last.map(String.init) ?? "index.html"
        return (response.body, fileName)
    }
}
