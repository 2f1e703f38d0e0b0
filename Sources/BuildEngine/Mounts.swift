import DockerfileSyntax
import Foundation
import ImageStore
import OCI
import Sandbox

/// A RUN `--mount` with its source found: what the sandbox binds, and what the step's cache key includes.
struct ResolvedMount {
    enum Source {
        /// A path of the build context (`type=bind`, the default).
        case context(components: [String])
        /// A path of a stage or image (`type=bind,from=…`).
        case tree(LayerTree, components: [String])
        /// A persistent cache folder (`type=cache`), by id.
        case cache(id: String, mode: mode_t, uid: UInt32, gid: UInt32)
        /// A tmpfs (`type=tmpfs`).
        case tmpfs(size: Int64?)
        /// A secret file from `--secret id=…,src=…` (`type=secret`).
        case secret(path: String, mode: mode_t, uid: UInt32, gid: UInt32)
        /// A file made for the step (a heredoc script run by its interpreter line).
        case file(content: String, mode: mode_t)
    }
    var source: Source
    var target: String
    var readOnly: Bool
    /// What the step's cache key includes for this mount (a bind's content digest; a cache's or secret's id only).
    var cacheText: String
}

/// Mounts ready for the sandbox, and the temporary copies to remove after the run.
struct PreparedMounts {
    var mounts: [SandboxMount] = []
    var temporary: [String] = []

    func cleanUp() {
        for path in temporary { try? FileTree.remove(path) }
    }
}

extension BuildRun {
    func resolveMounts(_ mounts: [Mount], instruction: Instruction, range: SourceRange, state: ImageState) async throws -> [ResolvedMount] {
        let shown = display(instruction)
        var resolved: [ResolvedMount] = []
        for mount in mounts {
            let fields = mount.fields
            func fail(_ detail: String) -> BuildEngineError { .invalidInstruction(instruction: shown, range: range, detail: detail) }
            let readOnly = fields["readonly"].map { $0 == "true" }
            var target = fields["target"].map { absolutePath($0, relativeTo: state.workingDirectory) }
            switch mount.type {
            case "bind":
                guard let where_ = target else { throw fail("--mount=type=bind needs target=PATH") }
                target = where_
                let source = pathComponents(DockerIgnore.clean("/" + (fields["source"] ?? ".")))
                if let from = fields["from"] {
                    let tree = try await sourceTree(from: from, stageIndex: stageIndexOf(instruction), instruction: instruction, range: range)
                    let resolvedPath = try tree.tree.resolve(source, followLast: true)
                    guard tree.tree.entry(resolvedPath) != nil else {
                        throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: fields["source"] ?? ".", detail: "does not exist in \(from)")
                    }
                    resolved.append(ResolvedMount(source: .tree(tree.tree as! LayerTree, components: resolvedPath), target: where_,
                                                  readOnly: readOnly ?? true, cacheText: "bind \(where_) from \(tree.key) /\(resolvedPath.joined(separator: "/"))"))
                } else {
                    let resolvedPath = try context.resolve(source, followLast: true)
                    guard context.entry(resolvedPath) != nil else {
                        throw BuildEngineError.sourceNotFound(instruction: shown, range: range, source: fields["source"] ?? ".", detail: "does not exist in the build context")
                    }
                    var lines: [String] = []
                    try sourceDigest(tree: context, components: resolvedPath, checksums: checksums, into: &lines)
                    resolved.append(ResolvedMount(source: .context(components: resolvedPath), target: where_, readOnly: readOnly ?? true,
                                                  cacheText: "bind \(where_) " + CacheKey.make(lines).description))
                }
            case "cache":
                guard let where_ = target else { throw fail("--mount=type=cache needs target=PATH") }
                let id = fields["id"] ?? where_
                let mode = fields["mode"].flatMap { mode_t($0, radix: 8) } ?? 0o755
                let uid = fields["uid"].flatMap { UInt32($0) } ?? 0
                let gid = fields["gid"].flatMap { UInt32($0) } ?? 0
                if fields["from"] != nil {
                    throw BuildEngineError.unsupported(instruction: shown, range: range, detail: "--mount=type=cache,from=… (a cache seeded from a stage) is not supported; drop from=")
                }
                resolved.append(ResolvedMount(source: .cache(id: id, mode: mode, uid: uid, gid: gid), target: where_,
                                              readOnly: readOnly ?? false, cacheText: "cache \(where_) \(id)"))
            case "tmpfs":
                guard let where_ = target else { throw fail("--mount=type=tmpfs needs target=PATH") }
                let size = fields["size"].flatMap { Self.byteSize($0) }
                resolved.append(ResolvedMount(source: .tmpfs(size: size), target: where_, readOnly: false, cacheText: "tmpfs \(where_)"))
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
                let mode = fields["mode"].flatMap { mode_t($0, radix: 8) } ?? 0o400
                resolved.append(ResolvedMount(source: .secret(path: path, mode: mode, uid: fields["uid"].flatMap { UInt32($0) } ?? 0,
                                                              gid: fields["gid"].flatMap { UInt32($0) } ?? 0),
                                              target: where_, readOnly: true, cacheText: "secret \(where_) \(id)"))
            case "ssh":
                throw BuildEngineError.unsupported(instruction: shown, range: range,
                    detail: "idpbuild does not forward SSH agents: RUN --mount=type=ssh is not supported; fetch with a secret mount (type=secret) instead")
            default:
                throw fail("unsupported mount type \(mount.type)")
            }
        }
        return resolved
    }

    /// Which stage an instruction belongs to (for `from=` lookups); triggers count as the last stage.
    func stageIndexOf(_ instruction: Instruction) -> Int {
        if let index = definition.dockerfile.instructions.firstIndex(where: { $0.range == instruction.range }),
           let stage = definition.stage(containing: index) { return stage.index }
        return definition.stages.count
    }

    /// Makes the host side of each mount: copies for binds (so a RUN never sees ignored files or writes back), the
    /// persistent cache folders, the secret files with their modes.
    func prepareMounts(_ mounts: [ResolvedMount], workDirectory: String) throws -> PreparedMounts {
        var prepared = PreparedMounts()
        guard !mounts.isEmpty else { return prepared }
        guard mkdir(workDirectory, 0o755) == 0, chmod(workDirectory, 0o755) == 0 else {
            throw BuildEngineError.io(path: workDirectory, operation: "create directory", errno: errno)
        }
        prepared.temporary.append(workDirectory)
        do {
            for (position, mount) in mounts.enumerated() {
                switch mount.source {
                case .context(let components):
                    let copy = workDirectory + "/\(position)"
                    try copyTree(from: context, components, to: copy)
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: mount.readOnly))
                case .tree(let tree, let components):
                    let copy = workDirectory + "/\(position)"
                    try copyTree(from: tree, components, to: copy)
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
                        throw BuildEngineError.io(path: path, operation: "read secret", errno: errno)
                    }
                    chown(copy, uid, gid)
                    chmod(copy, mode)
                    prepared.mounts.append(SandboxMount(kind: .bind(source: copy), target: mount.target, readOnly: true))
                case .file(let content, let mode):
                    let copy = workDirectory + "/\(position)"
                    guard FileManager.default.createFile(atPath: copy, contents: Data(content.utf8), attributes: nil), chmod(copy, mode) == 0 else {
                        throw BuildEngineError.io(path: copy, operation: "write the heredoc script", errno: errno)
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

    /// Copies a source tree's entry (a directory's contents or a file) to `destination`.
    func copyTree(from tree: SourceTree, _ components: [String], to destination: String) throws {
        guard let entry = tree.entry(components) else { throw BuildEngineError.io(path: destination, operation: "copy a missing source to", errno: ENOENT) }
        var copier = FileCopier(staging: destination, target: MergedView(layersTopFirst: []), owner: nil, mode: nil, timestampLimit: nil)
        try copier.copy(from: tree, components, entry: entry, to: destination)
    }

    /// `size=` of a tmpfs: bytes, or with a k, m or g suffix.
    static func byteSize(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let multipliers: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        if let last = lower.last, let multiplier = multipliers[last] { return Int64(lower.dropLast()).map { $0 * multiplier } }
        return Int64(lower.hasSuffix("b") ? String(lower.dropLast()) : lower)
    }
}
