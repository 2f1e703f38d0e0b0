/// The network a sandboxed process sees.
public enum NetworkMode: String, Sendable, Codable, CaseIterable {
    /// A network namespace of its own, connected to the outside by user-mode networking (slirp4netns): outgoing
    /// connections work, the host's loopback services are not reachable. Docker's default for RUN.
    case `private`
    /// The host's network namespace (every host service on 127.0.0.1 is reachable).
    case host
    /// A new network namespace with only `lo` up.
    case none
}

/// An extra mount inside the sandbox (RUN `--mount`): a host path bound at a target, or a fresh tmpfs.
public struct SandboxMount: Sendable, Hashable {
    /// What is mounted.
    public enum Kind: Sendable, Hashable {
        /// A host file or directory (bound recursively).
        case bind(source: String)
        /// An empty tmpfs, optionally limited to this many bytes.
        case tmpfs(sizeBytes: Int64?)
    }
    /// What is mounted.
    public var kind: Kind
    /// The absolute path inside the sandbox; missing directories are created and removed again after the run,
    /// so they never show up in the upper directory.
    public var target: String
    /// Mount read-only.
    public var readOnly: Bool

    /// Makes a mount.
    public init(kind: Kind, target: String, readOnly: Bool) {
        self.kind = kind
        self.target = target
        self.readOnly = readOnly
    }
}

/// What to run and on which filesystem: the image's layers, the step's upper directory, and the image config
/// values (env, working directory, user, network).
public struct SandboxConfiguration: Sendable {
    /// Unpacked layer directories, base layer first (the image manifest's order). May be empty (`FROM scratch`).
    public var layers: [String]
    /// The directory that receives the command's changes; kept after the run. `nil`: a temporary one, removed.
    public var upperDirectory: String?
    /// The program and its arguments; the program is looked up in the sandbox's `PATH`.
    public var command: [String]
    /// `KEY=VALUE` entries, in order; `PATH` defaults to Docker's when absent, `HOME` to the user's home.
    public var environment: [String]
    /// The working directory inside the sandbox, created when missing (as Docker does).
    public var workingDirectory: String
    /// `USER`: a name or uid, optionally `:group` or `:gid`, resolved through the rootfs's /etc/passwd and
    /// /etc/group. `nil` is root.
    public var user: String?
    /// The network namespace.
    public var network: NetworkMode
    /// The sandbox's hostname.
    public var hostname: String
    /// Kill the whole process tree after this many seconds.
    public var timeout: Double?
    /// Extra mounts, in order.
    public var mounts: [SandboxMount]

    /// Creates a configuration; only the layers and the command are required.
    public init(layers: [String], upperDirectory: String? = nil, command: [String], environment: [String] = [],
                workingDirectory: String = "/", user: String? = nil, network: NetworkMode = .private,
                hostname: String = "sandbox", timeout: Double? = nil, mounts: [SandboxMount] = []) {
        self.mounts = mounts
        self.layers = layers
        self.upperDirectory = upperDirectory
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.network = network
        self.hostname = hostname
        self.timeout = timeout
    }
}

/// One line a sandboxed process wrote, without its newline.
public struct OutputLine: Sendable, Equatable {
    /// Which stream the line came from.
    public enum Stream: String, Sendable, Codable { case stdout, stderr }
    /// The line's text (invalid UTF-8 is repaired).
    public var text: String
    /// The stream.
    public var stream: Stream

    /// Creates an output line.
    public init(text: String, stream: Stream) {
        self.text = text
        self.stream = stream
    }
}

/// How a sandboxed command ended.
public enum Termination: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// It was killed by this signal.
    case signaled(Int32)

    /// The status a shell would report: the exit code, or 128 + the signal number.
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }
}

/// What a run reports, in order: warnings, then output lines, then exactly one `finished`.
public enum SandboxEvent: Sendable, Equatable {
    /// Something the caller should tell the user (for example, a single-ID mapping fallback).
    case warning(String)
    /// A line of output.
    case output(OutputLine)
    /// The command ended.
    case finished(Termination)
}

/// The collected outcome of a run.
public struct SandboxResult: Sendable, Equatable {
    /// How the command ended.
    public var termination: Termination
    /// Every output line, in arrival order.
    public var output: [OutputLine]
    /// Warnings issued while starting the sandbox.
    public var warnings: [String]

    /// The stdout lines only.
    public var stdout: [String] { output.filter { $0.stream == .stdout }.map(\.text) }
    /// The stderr lines only.
    public var stderr: [String] { output.filter { $0.stream == .stderr }.map(\.text) }
}
