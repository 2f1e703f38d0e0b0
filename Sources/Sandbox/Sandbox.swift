import CSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Runs commands in a rootless container: a user namespace (when the caller is not root) mapped through
/// newuidmap/newgidmap, new mount/pid/ipc/uts (and optionally network) namespaces, an overlayfs root over the
/// image's layers, pivot_root, a minimal /dev, no_new_privs and Docker's default capabilities.
public struct Sandbox: Sendable {
    /// Docker's default `PATH`, used when the configuration's environment has none.
    public static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The program re-executed to set up namespaces: any binary that links CSandbox (the default, this one).
    public var helperExecutable: String
    /// Where per-run state (merged mount point, temporary upper and work directories, /etc files) goes.
    public var temporaryDirectory: String
    /// Subordinate ID sources and the single-ID fallback policy, for unprivileged callers.
    public var subordinateIDs: SubordinateIDPolicy
    /// The slirp4netns executable for `.private` networks; nil looks it up on `PATH`.
    public var slirp4netns: String?

    /// Creates a sandbox runner.
    public init(helperExecutable: String = "/proc/self/exe", temporaryDirectory: String? = nil,
                subordinateIDs: SubordinateIDPolicy = SubordinateIDPolicy(), slirp4netns: String? = nil) {
        self.helperExecutable = helperExecutable
        self.temporaryDirectory = temporaryDirectory
            ?? getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.subordinateIDs = subordinateIDs
        self.slirp4netns = slirp4netns
    }

    /// What a `.private` network would use here: the slirp4netns path, or why it cannot start.
    public func privateNetworkStatus() -> Result<String, SandboxError> {
        if let problem = UserModeNetwork.problem(slirp4netns) { return .failure(.userModeNetwork(detail: problem)) }
        return .success(UserModeNetwork.locate(slirp4netns) ?? "slirp4netns")
    }

    /// Starts the command and streams its events; the stream ends after `.finished`, or throws a
    /// `SandboxError`. Cancelling the consuming task (or dropping the stream) kills the whole process tree;
    /// use `start(_:)` to also wait until mounts and temporary directories are gone.
    public func run(_ configuration: SandboxConfiguration) -> AsyncThrowingStream<SandboxEvent, any Error> {
        start(configuration).events
    }

    /// Starts the command and returns a handle: its events, `cancel()`, and `waitUntilCleanedUp()`.
    public func start(_ configuration: SandboxConfiguration) -> SandboxRun {
        let (events, continuation) = AsyncThrowingStream<SandboxEvent, any Error>.makeStream()
        let prepared: PreparedRun
        do {
            prepared = try prepare(configuration)
        } catch {
            continuation.finish(throwing: error)
            return SandboxRun(events: events, supervisor: nil)
        }
        let supervisor = RunSupervisor(run: prepared, continuation: continuation)
        continuation.onTermination = { _ in supervisor.cancel() }
        supervisor.start()
        return SandboxRun(events: events, supervisor: supervisor)
    }

    /// Runs the command to completion and collects its output. When the task is cancelled it kills the
    /// process tree, waits until the sandbox is cleaned up, and throws `CancellationError`.
    public func runCollecting(_ configuration: SandboxConfiguration) async throws -> SandboxResult {
        let run = start(configuration)
        var output: [OutputLine] = []
        var warnings: [String] = []
        var termination: Termination?
        do {
            try await withTaskCancellationHandler {
                for try await event in run.events {
                    switch event {
                    case .warning(let text): warnings.append(text)
                    case .output(let line): output.append(line)
                    case .finished(let result): termination = result
                    }
                }
            } onCancel: {
                run.cancel()
            }
        } catch {
            await run.waitUntilCleanedUp()
            throw error
        }
        await run.waitUntilCleanedUp()
        guard let termination else {
            try Task.checkCancellation()
            throw SandboxError.supervisorFailed(detail: "the event stream ended without a result")
        }
        return SandboxResult(termination: termination, output: output, warnings: warnings)
    }

    // MARK: preparation

    func prepare(_ configuration: SandboxConfiguration) throws -> PreparedRun {
        guard let program = configuration.command.first, !program.isEmpty else { throw SandboxError.emptyCommand }
        for layer in configuration.layers where !Plumbing.isDirectory(layer) {
            throw SandboxError.missingRootfs(path: layer)
        }
        let layersTopFirst = Array(configuration.layers.map(Self.absolute).reversed())
        var upper = configuration.upperDirectory.map(Self.absolute)
        if let given = upper {
            if !Plumbing.exists(given) && (mkdir(given, 0o755) != 0 || chmod(given, 0o755) != 0) {
                throw SandboxError.badUpperDirectory(path: given, errno: errno)
            }
            guard Plumbing.isDirectory(given) else { throw SandboxError.badUpperDirectory(path: given, errno: ENOTDIR) }
        }
        let user = try UserResolver(layersTopFirst: (upper.map { [$0] } ?? []) + layersTopFirst)
            .resolve(configuration.user)
        var networkHelper: String?
        if configuration.network == .private {
            guard let found = UserModeNetwork.locate(slirp4netns) else {
                throw SandboxError.userModeNetwork(detail: UserModeNetwork.problem(slirp4netns) ?? "slirp4netns is missing")
            }
            networkHelper = found
        }
        let (mapping, warning): (IDMapping, String?) = try UserNamespace.mapping(policy: subordinateIDs)
        if !mapping.uids.isEmpty && !mapping.isSingleID && Plumbing.which("newuidmap") == nil {
            throw SandboxError.missingTool(name: "newuidmap", package: "uidmap")
        }

        var warnings = warning.map { [$0] } ?? []
        if !mapping.uids.isEmpty {
            for layer in configuration.layers {
                var st = stat()
                if stat(layer, &st) == 0, mapping.containerUID(st.st_uid) == nil {
                    warnings.append("layer \(layer) is owned by host uid \(st.st_uid), outside this user's ID mapping: " +
                        "its files cannot be copied up (changed) in the sandbox; unpack layers inside the user namespace (or as this user)")
                }
            }
        }
        let runDirectory = try Plumbing.makeTemporaryDirectory(in: Self.absolute(temporaryDirectory), prefix: "idpbuild-run-")
        var cleanup = [runDirectory]
        do {
            let work: String
            if let given = upper {
                let parent = given.split(separator: "/").dropLast().joined(separator: "/")
                // overlayfs wants the work directory on the upper directory's filesystem.
                work = try Plumbing.makeTemporaryDirectory(in: "/" + parent, prefix: ".idpbuild-work-")
                cleanup.append(work)
            } else {
                upper = runDirectory + "/upper"
                work = runDirectory + "/work"
                guard mkdir(upper!, 0o755) == 0, chmod(upper!, 0o755) == 0, mkdir(work, 0o700) == 0 else {
                    throw SandboxError.system(call: "creating \(runDirectory)/upper", errno: errno)
                }
            }
            let merged = runDirectory + "/merged"
            guard mkdir(merged, 0o755) == 0, chmod(merged, 0o755) == 0 else { throw SandboxError.system(call: "creating \(merged)", errno: errno) }
            var lowers = layersTopFirst
            if lowers.joined(separator: ":").utf8.count > 2048 {
                // Overlay mount options must fit in a page: name the layers through short links
                // (containers/storage's l/ directory does the same); the supervisor mounts from there.
                let links = runDirectory + "/l"
                guard mkdir(links, 0o755) == 0 else { throw SandboxError.system(call: "creating \(links)", errno: errno) }
                lowers = try lowers.enumerated().map { index, layer in
                    let link = links + "/" + String(index, radix: 36)
                    guard symlink(layer, link) == 0 else { throw SandboxError.system(call: "linking \(link)", errno: errno) }
                    return link
                }
            }
            if lowers.isEmpty {
                lowers = [runDirectory + "/empty"]
                guard mkdir(lowers[0], 0o755) == 0, chmod(lowers[0], 0o755) == 0 else { throw SandboxError.system(call: "creating \(lowers[0])", errno: errno) }
            }
            try Plumbing.writeFile(runDirectory + "/hosts", Self.hostsFile(hostname: configuration.hostname, network: configuration.network))
            try Plumbing.writeFile(runDirectory + "/resolv.conf", Self.resolvConf(network: configuration.network))

            var environment = configuration.environment
            if !environment.contains(where: { $0.hasPrefix("PATH=") }) { environment.insert(Self.defaultPath, at: 0) }
            if !environment.contains(where: { $0.hasPrefix("HOSTNAME=") }) { environment.append("HOSTNAME=" + configuration.hostname) }
            if !environment.contains(where: { $0.hasPrefix("HOME=") }) { environment.append("HOME=" + user.home) }

            var entries: [(String, String)] = [
                ("userns", mapping.uids.isEmpty ? "0" : "1"),
                ("net", configuration.network == .host ? "0" : configuration.network == .none ? "1" : "2"),
                ("upper", upper!), ("work", work), ("merged", merged),
                ("hostname", configuration.hostname),
                ("hosts", runDirectory + "/hosts"), ("resolv", runDirectory + "/resolv.conf"),
                ("uid", String(user.uid)), ("gid", String(user.gid)),
                ("cwd", configuration.workingDirectory.hasPrefix("/") ? configuration.workingDirectory : "/" + configuration.workingDirectory),
            ]
            entries += lowers.map { ("lower", $0) }
            entries += user.supplementaryGroups.map { ("group", String($0)) }
            entries += environment.map { ("env", $0) }
            entries += configuration.command.map { ("arg", $0) }
            for mount in configuration.mounts {
                guard mount.target.hasPrefix("/"), mount.target.count > 1 else { throw SandboxError.invalidMount(target: mount.target, reason: "the target must be an absolute path other than /") }
                let (kind, value): (String, String) = switch mount.kind {
                case .bind(let source): ("b", Self.absolute(source))
                case .tmpfs(let size): ("t", String(size ?? 0))
                }
                let fields = [kind, mount.readOnly ? "1" : "0", mount.target, value]
                guard !fields.contains(where: { $0.unicodeScalars.contains("\u{1}") }) else {
                    throw SandboxError.invalidMount(target: mount.target, reason: "paths must not contain control characters")
                }
                entries.append(("mount", fields.joined(separator: "\u{1}")))
            }
            entries += cleanup.map { ("cleanup", $0) }
            var payload: [UInt8] = []
            for (key, value) in entries {
                guard !key.utf8.contains(0), !value.utf8.contains(0) else { throw SandboxError.invalidUser("NUL byte in \(key)") }
                payload += Array(key.utf8) + [UInt8(ascii: "=")] + Array(value.utf8) + [0]
            }
            return PreparedRun(helper: helperExecutable, payload: payload, mapping: mapping,
                               warnings: warnings, timeout: configuration.timeout, cleanup: cleanup,
                               networkHelper: networkHelper, networkLog: runDirectory + "/slirp4netns.log")
        } catch {
            cleanup.forEach(Plumbing.removeTree)
            throw error
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        return Plumbing.cString(buffer) + "/" + path
    }

    static func hostsFile(hostname: String, network: NetworkMode) -> String {
        var text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t\(hostname)\n"
        if network == .host, let host = try? readText("/etc/hosts") {
            text += host.split(separator: "\n").filter { !$0.contains("localhost") }.map { $0 + "\n" }.joined()
        }
        return text
    }

    /// The host's resolv.conf for the host network; for a private one slirp4netns's resolver with the host's search
    /// domains and options (as Podman writes it); nothing without a network.
    static func resolvConf(network: NetworkMode) -> String {
        let host = (try? readText("/etc/resolv.conf")) ?? ""
        switch network {
        case .host: return host
        case .none: return ""
        case .private:
            let kept = host.split(separator: "\n").filter { $0.hasPrefix("search ") || $0.hasPrefix("options ") }
            return "nameserver \(UserModeNetwork.resolverAddress)\n" + kept.map { $0 + "\n" }.joined()
        }
    }
}

/// A started sandbox run.
public struct SandboxRun: Sendable {
    /// Warnings, output lines, then `.finished`; throws a `SandboxError` when the sandbox could not run.
    public let events: AsyncThrowingStream<SandboxEvent, any Error>
    let supervisor: RunSupervisor?

    /// Kills the whole process tree (idempotent); the events stream then ends without `.finished`.
    public func cancel() { supervisor?.cancel() }

    /// Returns once the supervisor is gone: no process, mount or temporary directory of this run is left.
    public func waitUntilCleanedUp() async { await supervisor?.waitUntilDone() }
}

/// Everything the supervisor needs, computed before anything is spawned.
struct PreparedRun: Sendable {
    var helper: String
    var payload: [UInt8]
    var mapping: IDMapping
    var warnings: [String]
    var timeout: Double?
    var cleanup: [String]
    /// slirp4netns, for a private network.
    var networkHelper: String?
    /// Where slirp4netns's messages go.
    var networkLog: String
}
