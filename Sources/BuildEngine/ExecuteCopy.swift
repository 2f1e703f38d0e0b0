import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import HTTP
import ImageStore
import OCI
import Sandbox

extension PlanExecution {
    func executeCopy(_ copy: CopyInputs, step: PlannedStep, result: StageResult, dependencies: [Int: StageResult]) async throws -> BuildCacheRecord {
        let shown = step.display, range = step.range
        guard let key = step.key else { throw BuildError.stepFailed(instruction: shown, range: range, detail: "the step has no cache key") }
        let excludes = copy.excludes.isEmpty ? nil : try DockerIgnore(parsing: copy.excludes.joined(separator: "\n"))
        var tree: SourceTree = plan.context
        var matches = copy.contextMatches
        if let from = copy.from {
            let layers = try self.tree(from, dependencies: dependencies, step: step)
            tree = layers
            for source in copy.sources {
                let matched = try matchSources(source, in: layers)
                if try matched.isEmpty || (!hasGlob(source) && layers.entry(layers.resolve(matched[0], followLast: true)) == nil) {
                    throw BuildError.sourceNotFound(instruction: shown, range: range, source: source, detail: "does not exist in \(name(from))")
                }
                matches += matched
            }
        }
        let lowers = try layerDirectories(result)
        let view = MergedView(layersTopFirst: lowers.reversed())
        let owner = try copy.chown.map { try resolveOwner($0, layers: lowers, step: step) }
        let staging = try makeWorkDirectory("copy")
        do {
            var copier = FileCopier(staging: staging, target: view, owner: owner, mode: copy.chmod.map { mode_t($0) }, timestampLimit: options.timestamp)
            let destination = copy.destination
            let destinationText = copy.destinationText
            let slash = destinationText.hasSuffix("/") || destinationText.hasSuffix("/.") || destinationText == "." || destinationText == ".."
            let count = matches.count + copy.heredocs.count + copy.urls.count
            let existingDirectory = try copier.isDirectory(destination)
            if count > 1 && !slash && !existingDirectory {
                throw BuildError.invalidInstruction(instruction: shown, range: range,
                    detail: "with more than one source the destination must be a directory and end with a /: write \(destinationText)/")
            }
            let intoDirectory = slash || count > 1 || existingDirectory
            for match in matches {
                let resolved = try tree.resolve(match, followLast: true)
                let tree: SourceTree = excludes.map { ExcludingTree(base: tree, root: resolved, excludes: $0) } ?? tree
                if let excludes, let name = match.last, excludes.excludes(name) { continue }
                guard let entry = tree.entry(resolved) else {
                    throw BuildError.sourceNotFound(instruction: shown, range: range, source: "/" + match.joined(separator: "/"), detail: "does not exist")
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
                        throw BuildError.invalidInstruction(instruction: shown, range: range, detail: "cannot extract \(relative): \(error)")
                    }
                } else {
                    let fileName = copy.parents ? relative : (match.last ?? relative)
                    let target = try copier.prepare(intoDirectory ? destination + "/" + fileName : destination)
                    try copier.copy(from: tree, resolved, entry: entry, to: target)
                }
            }
            let now = options.timestamp ?? Int64(Date().timeIntervalSince1970)
            for heredoc in copy.heredocs {
                let target = try copier.prepare(intoDirectory ? destination + "/" + heredoc.name : destination)
                try copier.write(Array(heredoc.content.utf8), to: target, mode: 0o644, mtime: now)
            }
            for url in copy.urls {
                let (bytes, fileName) = try await download(url, checksum: copy.checksum, step: step)
                let target = try copier.prepare(intoDirectory ? destination + "/" + fileName : destination)
                try copier.write(bytes, to: target, mode: 0o600, mtime: now)
            }
        } catch {
            try? FileTree.remove(staging)
            throw error
        }
        return try commitLayer(from: staging, key: key, result: result)
    }

    /// WORKDIR creates its directory when the image lacks it (a small layer), as BuildKit does.
    func executeWorkdir(_ path: String, step: PlannedStep, result: StageResult) throws -> BuildCacheRecord {
        guard let key = step.key else { throw BuildError.stepFailed(instruction: step.display, range: step.range, detail: "the step has no cache key") }
        let view = MergedView(layersTopFirst: try layerDirectories(result).reversed())
        let resolved = try view.resolve(pathComponents(path), followLast: true)
        if view.lookup(resolved)?.isDirectory == true {
            let record = BuildCacheRecord(key: key, layer: nil, diffID: nil, chainID: nil, created: created)
            try store.putCacheRecord(record)
            return record
        }
        let staging = try makeWorkDirectory("workdir")
        do {
            var copier = FileCopier(staging: staging, target: view, owner: nil, mode: nil, timestampLimit: options.timestamp)
            try copier.makeDirectories(resolved)
        } catch {
            try? FileTree.remove(staging)
            throw error
        }
        return try commitLayer(from: staging, key: key, result: result)
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
    func resolveOwner(_ spec: String, layers: [String], step: PlannedStep) throws -> CopyOwner {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let userPart = parts.first, !userPart.isEmpty else {
            throw BuildError.invalidInstruction(instruction: step.display, range: step.range, detail: "--chown=\(spec): expected USER[:GROUP]")
        }
        do {
            let resolver = UserResolver(layersTopFirst: layers.reversed())
            let uid = try UInt32(userPart) ?? resolver.resolve(userPart).uid
            guard parts.count == 2 else { return CopyOwner(uid: uid, gid: uid) }
            let gid = try UInt32(parts[1]) ?? resolver.resolve("0:" + parts[1]).gid
            return CopyOwner(uid: uid, gid: gid)
        } catch let error as SandboxError {
            throw BuildError.invalidInstruction(instruction: step.display, range: step.range, detail: "--chown=\(spec): \(error.description)")
        }
    }

    /// Fetches an ADD URL (at most 512 MiB), checking `--checksum` when given.
    func download(_ url: String, checksum: String?, step: PlannedStep) async throws -> ([UInt8], String) {
        let response: HTTPResponse
        do {
            response = try await HTTPClient().send(HTTPRequest(url: url, timeouts: HTTPTimeouts(connect: 15, stall: 60), maxCollectedBody: 512 << 20))
        } catch {
            throw BuildError.sourceNotFound(instruction: step.display, range: step.range, source: url, detail: "could not be downloaded: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw BuildError.sourceNotFound(instruction: step.display, range: step.range, source: url, detail: "answered HTTP \(response.status)")
        }
        if let checksum {
            let actual = Digest.sha256(of: response.body)
            guard (try? Digest(parsing: checksum)) == actual else {
                throw BuildError.invalidInstruction(instruction: step.display, range: step.range,
                                                          detail: "the download of \(url) hashes to \(actual), not --checksum=\(checksum)")
            }
        }
        let path = URLComponents(string: response.url)?.path ?? ""
        let fileName = path.split(separator: "/").last.map(String.init) ?? "index.html"
        return (response.body, fileName)
    }
}
