/// `KEY=value` (or legacy `KEY value`) from ENV, LABEL or ARG, with the ranges of its parts.
public struct KeyValue: Sendable, Hashable {
    /// The key as written (unexpanded).
    public var key: String
    /// The value as written (unexpanded, quotes kept), or nil for an ARG without a default.
    public var value: String?
    /// The key's range.
    public var keyRange: SourceRange
    /// The value's range, if there is a value.
    public var valueRange: SourceRange?
    /// The whole pair.
    public var range: SourceRange
}

/// A command line of RUN, CMD, ENTRYPOINT or HEALTHCHECK CMD.
public struct CommandLine: Sendable, Hashable {
    /// The exec-form arguments, or one element holding the shell-form text.
    public var arguments: [String]
    /// Whether it was written in exec (JSON) form; shell form runs through the stage's SHELL.
    public var isExec: Bool
}

/// A `RUN --mount=…` specification, parsed per BuildKit's keys.
public struct Mount: Sendable, Hashable {
    /// `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`.
    public var type: String
    /// Every `key=value` field as written (keys normalised: `dst`/`destination` → `target`, `src` → `source`).
    public var fields: [String: String]
    /// Where it is mounted.
    public var target: String? { fields["target"] }
    /// The source path in the context or stage.
    public var source: String? { fields["source"] }
    /// `from=` stage, image or context.
    public var from: String? { fields["from"] }
    /// The flag it came from.
    public var range: SourceRange
}

/// FROM: the base image, the stage name and the platform.
public struct From: Sendable, Hashable {
    /// The base image or stage, as written (variables not yet expanded).
    public var image: Argument
    /// The stage name, lowercased (Docker matches stage names case-insensitively), if `AS name` is given.
    public var stageName: String?
    /// The `AS` keyword and the name as written.
    public var asKeyword: Argument?
    /// The name as written.
    public var nameArgument: Argument?
    /// `--platform`, if given.
    public var platform: Flag?
}

/// COPY or ADD: sources, destination and options.
public struct FileCopy: Sendable, Hashable {
    /// Whether this is ADD (remote URLs, git and archive extraction) rather than COPY.
    public var isAdd: Bool
    /// Source paths (context or stage paths, URLs for ADD), unexpanded.
    public var sources: [Argument]
    /// Heredocs used as sources.
    public var heredocSources: [Heredoc]
    /// The destination, unexpanded.
    public var destination: Argument?
    /// `--from=` (COPY only).
    public var from: Flag?
    /// `--chown=`.
    public var chown: Flag?
    /// `--chmod=`.
    public var chmod: Flag?
    /// `--link`.
    public var link: Bool
    /// `--parents` (COPY).
    public var parents: Bool
    /// `--exclude=` patterns.
    public var excludes: [String]
    /// `--checksum=` (ADD).
    public var checksum: Flag?
    /// `--keep-git-dir` (ADD).
    public var keepGitDir: Bool
    /// `--unpack` (ADD), nil when not given.
    public var unpack: Bool?
}

/// RUN: the command, its heredocs and options.
public struct Run: Sendable, Hashable {
    /// The command line.
    public var command: CommandLine
    /// Heredoc files attached to the command.
    public var heredocs: [Heredoc]
    /// `--mount` specifications.
    public var mounts: [Mount]
    /// `--network=default|none|host`.
    public var network: String?
    /// `--security=sandbox|insecure`.
    public var security: String?
}

/// HEALTHCHECK: a command with timings, or NONE.
public struct Healthcheck: Sendable, Hashable {
    /// nil for `HEALTHCHECK NONE`.
    public var command: CommandLine?
    /// `--interval` in seconds.
    public var interval: Double?
    /// `--timeout` in seconds.
    public var timeout: Double?
    /// `--start-period` in seconds.
    public var startPeriod: Double?
    /// `--start-interval` in seconds.
    public var startInterval: Double?
    /// `--retries`.
    public var retries: Int?
}

/// A typed instruction, derived from the syntax tree.
public enum Command: Sendable, Hashable {
    indirect case from(From)
    case arg([KeyValue])
    case env([KeyValue])
    case label([KeyValue])
    indirect case run(Run)
    case cmd(CommandLine)
    case entrypoint(CommandLine)
    case shell([String])
    indirect case copy(FileCopy)
    case workdir(Argument)
    case user(Argument)
    case expose([Argument])
    case volume([Argument])
    case stopSignal(Argument)
    indirect case healthcheck(Healthcheck)
    indirect case onbuild(Instruction?)
    case maintainer(Argument)
}
