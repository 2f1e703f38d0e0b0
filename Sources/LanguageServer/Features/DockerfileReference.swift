import Foundation
import DockerfileSyntax
import LSPTypes

/// Short documentation, in our own words, for every instruction, flag and parser directive: the one table that
/// hover and completion both read.
public enum DockerfileReference {
    /// An instruction's documentation.
    public struct InstructionDoc: Sendable {
        /// What it does.
        public let summary: String
        /// Its forms.
        public let syntax: [String]
    }

    /// A flag's documentation.
    public struct FlagDoc: Sendable {
        /// The flag's name without `--`.
        public let name: String
        /// How its value is written (`<platform>`), or nil for a Boolean flag.
        public let value: String?
        /// What it does.
        public let summary: String
        /// Values offered by completion.
        public let values: [String]
    }

    /// A parser directive's documentation.
    public struct DirectiveDoc: Sendable {
        /// The name (`syntax`, `escape`, `check`).
        public let name: String
        /// What it does.
        public let summary: String
        /// Values offered by completion.
        public let values: [String]
    }

    /// The documentation of each instruction.
    public static let instructions: [InstructionKind: InstructionDoc] = [
        .from: InstructionDoc(
            summary: "Starts a build stage from a base image, or from `scratch` for an empty one. `AS name` names the stage so that `COPY --from=name` and later `FROM name` lines can refer to it. Only the ARGs declared before the first FROM can be used in the image reference.",
            syntax: ["FROM [--platform=<platform>] <image>[:<tag>|@<digest>] [AS <name>]"]),
        .run: InstructionDoc(
            summary: "Runs a command in the stage's filesystem and keeps what it changed as a new layer. The shell form runs through the stage's SHELL (`/bin/sh -c` by default); the exec form (a JSON array) runs the program directly, with no shell to expand variables. A heredoc (`RUN <<EOF`) passes a multi-line script.",
            syntax: ["RUN [--mount=<mount>] [--network=<mode>] [--security=<mode>] <command>", "RUN [\"<executable>\", \"<argument>\", …]"]),
        .cmd: InstructionDoc(
            summary: "Sets the default command of containers started from the image; arguments given to `docker run` replace it. Only the last CMD of the built stage counts. With an ENTRYPOINT, CMD supplies its default arguments. Prefer the exec form, so the process receives stop signals directly.",
            syntax: ["CMD [\"<executable>\", \"<argument>\", …]", "CMD [\"<argument>\", …]  (default arguments for ENTRYPOINT)", "CMD <command> <argument> …"]),
        .label: InstructionDoc(
            summary: "Adds key–value metadata to the image configuration, such as `org.opencontainers.image.source`. Quote values that contain spaces. Labels of the base image are inherited and can be overridden.",
            syntax: ["LABEL <key>=<value> [<key>=<value> …]"]),
        .maintainer: InstructionDoc(
            summary: "Deprecated: sets the image's author field. Write `LABEL org.opencontainers.image.authors=\"…\"` instead.",
            syntax: ["MAINTAINER <name>"]),
        .expose: InstructionDoc(
            summary: "Documents the ports the container listens on: `80`, `53/udp`, or a range such as `8000-8010/tcp`. It publishes nothing by itself; `docker run -p` does that.",
            syntax: ["EXPOSE <port>[/<protocol>] …"]),
        .env: InstructionDoc(
            summary: "Sets environment variables for the rest of the stage and for containers run from the image. Values may use earlier variables; an ENV wins over an ARG of the same name. Values are stored in the image, so never put secrets here.",
            syntax: ["ENV <key>=<value> [<key>=<value> …]"]),
        .add: InstructionDoc(
            summary: "Copies files into the stage like COPY, and can also download URLs, clone Git repositories and unpack local tar archives. Prefer COPY unless you need one of those.",
            syntax: ["ADD [--chown=<user>:<group>] [--chmod=<mode>] [--link] [--checksum=<digest>] [--keep-git-dir] [--unpack] [--exclude=<pattern>] <source> … <destination>", "ADD [\"<source>\", …, \"<destination>\"]"]),
        .copy: InstructionDoc(
            summary: "Copies files from the build context — or, with `--from`, from another stage or an image — into the stage's filesystem. Sources are relative to the context root and cannot reach outside it; a destination ending in `/` is a directory. A heredoc can supply a file's content inline.",
            syntax: ["COPY [--from=<stage|image>] [--chown=<user>:<group>] [--chmod=<mode>] [--link] [--parents] [--exclude=<pattern>] <source> … <destination>", "COPY [\"<source>\", …, \"<destination>\"]"]),
        .entrypoint: InstructionDoc(
            summary: "Sets the program containers run; in exec form, CMD and the arguments of `docker run` are appended to it. The shell form ignores CMD and runs under `/bin/sh -c`, so the program does not receive stop signals.",
            syntax: ["ENTRYPOINT [\"<executable>\", \"<argument>\", …]", "ENTRYPOINT <command> <argument> …"]),
        .volume: InstructionDoc(
            summary: "Marks paths as mount points: each container gets a volume there, filled from the image's content at that path.",
            syntax: ["VOLUME [\"<path>\", …]", "VOLUME <path> …"]),
        .user: InstructionDoc(
            summary: "Sets the user, and optionally the group, for the following RUN instructions and for containers, by name or numeric ID. A name must exist in the image's /etc/passwd by the time it is used.",
            syntax: ["USER <user>[:<group>]"]),
        .workdir: InstructionDoc(
            summary: "Sets the working directory for the following RUN, CMD, ENTRYPOINT, COPY and ADD instructions, creating it if needed. A relative path is resolved against the previous WORKDIR.",
            syntax: ["WORKDIR <path>"]),
        .arg: InstructionDoc(
            summary: "Declares a build argument, set with `--build-arg NAME=value`, with an optional default. Declared before the first FROM, it can be used in FROM lines (declare it again inside a stage to use it there); inside a stage it is visible from its declaration to the end of the stage. Values show up in the image history: never pass secrets this way.",
            syntax: ["ARG <name>[=<default>] …"]),
        .onbuild: InstructionDoc(
            summary: "Stores an instruction to run later, when another Dockerfile builds on this image (`FROM` it). The trigger cannot be FROM, MAINTAINER or another ONBUILD.",
            syntax: ["ONBUILD <INSTRUCTION> <arguments>"]),
        .stopsignal: InstructionDoc(
            summary: "Sets the signal that stops the container's main process (SIGTERM by default), by name such as `SIGQUIT` or by number such as `3`.",
            syntax: ["STOPSIGNAL <signal>"]),
        .healthcheck: InstructionDoc(
            summary: "Tells the container runtime how to test that a container still works: the command runs at every interval, and exit status 0 means healthy, 1 unhealthy. `HEALTHCHECK NONE` turns off a check inherited from the base image.",
            syntax: ["HEALTHCHECK [--interval=<duration>] [--timeout=<duration>] [--start-period=<duration>] [--start-interval=<duration>] [--retries=<n>] CMD <command>", "HEALTHCHECK NONE"]),
        .shell: InstructionDoc(
            summary: "Sets the shell that shell-form RUN, CMD and ENTRYPOINT use (`[\"/bin/sh\", \"-c\"]` by default). It must be written as a JSON array.",
            syntax: ["SHELL [\"<executable>\", \"<parameter>\", …]"]),
    ]

    private static let chown = FlagDoc(name: "chown", value: "<user>:<group>", summary: "Sets the owner of the copied files, by name or numeric ID (names are looked up in the stage's /etc/passwd and /etc/group). Without it, files belong to root (0:0).", values: [])
    private static let chmod = FlagDoc(name: "chmod", value: "<mode>", summary: "Sets the permission bits of the copied files, in octal (`755`) or symbolic (`u+x`) notation.", values: [])
    private static let link = FlagDoc(name: "link", value: nil, summary: "Puts the copied files in a layer of their own that does not depend on the layers below, so it can be reused when they change.", values: ["true", "false"])
    private static let exclude = FlagDoc(name: "exclude", value: "<pattern>", summary: "Leaves out sources that match the pattern (written like a .dockerignore line; repeatable).", values: [])

    /// The documentation of each instruction's flags.
    public static let flags: [InstructionKind: [FlagDoc]] = [
        .from: [FlagDoc(name: "platform", value: "<platform>", summary: "Builds the stage on the base image's variant for this platform, such as `linux/arm64`; `$BUILDPLATFORM` runs build tools natively when cross-compiling.", values: ["$BUILDPLATFORM", "$TARGETPLATFORM", "linux/amd64", "linux/arm64"])],
        .copy: [
            FlagDoc(name: "from", value: "<stage|image>", summary: "Copies from an earlier build stage (by name or index) or from an image, instead of the build context.", values: []),
            chown, chmod, link,
            FlagDoc(name: "parents", value: nil, summary: "Keeps the sources' parent directories under the destination: `COPY --parents a/b/c.txt /dst/` creates `/dst/a/b/c.txt`.", values: ["true", "false"]),
            exclude,
        ],
        .add: [
            chown, chmod, link,
            FlagDoc(name: "checksum", value: "<digest>", summary: "Verifies a downloaded (HTTP) source against this digest, such as `sha256:…`.", values: []),
            FlagDoc(name: "keep-git-dir", value: nil, summary: "Keeps the `.git` directory when the source is a Git repository.", values: ["true", "false"]),
            FlagDoc(name: "unpack", value: nil, summary: "Whether to unpack a tar archive source: by default local archives are unpacked and downloaded ones are copied as they are.", values: ["true", "false"]),
            exclude,
        ],
        .run: [
            FlagDoc(name: "mount", value: "type=<type>,…", summary: "Mounts a filesystem only while the command runs; nothing in it is stored in the layer. Types: `bind` (files from the context or a stage, read-only by default), `cache` (a directory kept between builds, for package managers and compilers), `tmpfs`, `secret` (a secret file, never stored) and `ssh` (the SSH agent socket). Repeatable.", values: ["type=bind", "type=cache", "type=tmpfs", "type=secret", "type=ssh"]),
            FlagDoc(name: "network", value: "<mode>", summary: "The network the command gets: `default` (the build's network), `none` (loopback only) or `host`.", values: ["default", "none", "host"]),
            FlagDoc(name: "security", value: "<mode>", summary: "`insecure` gives the command extra privileges (BuildKit requires an entitlement for it); idpbuild supports only the default, `sandbox`.", values: ["sandbox", "insecure"]),
            FlagDoc(name: "device", value: "<name>", summary: "Makes a CDI device available to the command (labs syntax, not supported by idpbuild's engine).", values: []),
        ],
        .healthcheck: [
            FlagDoc(name: "interval", value: "<duration>", summary: "Time between checks, such as `30s` or `1m30s` (default 30s).", values: ["30s", "1m"]),
            FlagDoc(name: "timeout", value: "<duration>", summary: "Time after which a running check counts as failed (default 30s).", values: ["10s", "30s"]),
            FlagDoc(name: "start-period", value: "<duration>", summary: "Start-up time during which failed checks do not count (default 0s).", values: ["5s", "30s"]),
            FlagDoc(name: "start-interval", value: "<duration>", summary: "Time between checks during the start period (default 5s).", values: ["5s"]),
            FlagDoc(name: "retries", value: "<n>", summary: "Consecutive failures before the container is reported unhealthy (default 3).", values: ["3"]),
        ],
    ]

    /// The documentation of a flag of an instruction.
    public static func flag(_ name: String, of kind: InstructionKind) -> FlagDoc? {
        flags[kind]?.first { $0.name == name }
    }

    /// The parser directives.
    public static let directives: [DirectiveDoc] = [
        DirectiveDoc(name: "syntax", summary: "Names the Dockerfile frontend image BuildKit would use, such as `docker/dockerfile:1`. idpbuild reads the Dockerfile itself; the directive is kept for other builders.", values: ["docker/dockerfile:1"]),
        DirectiveDoc(name: "escape", summary: "Sets the escape and line-continuation character: `\\` (the default) or `` ` `` (convenient with Windows paths).", values: ["\\", "`"]),
        DirectiveDoc(name: "check", summary: "Configures build checks: `skip=Rule1,Rule2` (or `skip=all`) leaves warnings out, `error=true` turns warnings into errors, `experimental=Rule` enables experimental rules.", values: ["skip=", "error=true", "experimental="]),
    ]

    /// The `RUN --mount` keys and what they mean.
    public static let mountKeys: [(name: String, summary: String)] = [
        ("type", "bind, cache, tmpfs, secret or ssh"),
        ("target", "where it is mounted (also dst, destination)"),
        ("source", "the path in the context or the `from` stage (also src)"),
        ("from", "the stage or image for bind and cache sources"),
        ("readonly", "mount read-only (also ro)"),
        ("rw", "bind mounts: allow writes (discarded afterwards)"),
        ("id", "cache and secret: which cache or secret"),
        ("sharing", "cache: shared, private or locked"),
        ("mode", "file mode of the cache directory or secret"),
        ("uid", "owner user ID"),
        ("gid", "owner group ID"),
        ("required", "secret and ssh: fail when it is not provided"),
        ("env", "secret: expose the secret as this environment variable"),
        ("size", "tmpfs: size limit"),
    ]

    /// The documentation page of an instruction.
    public static func url(for kind: InstructionKind) -> String {
        "https://docs.docker.com/reference/dockerfile/#\(kind.rawValue.lowercased())"
    }

    /// Hover and completion text for an instruction.
    public static func markdown(for kind: InstructionKind) -> String {
        guard let doc = instructions[kind] else { return kind.rawValue }
        var text = "**\(kind.rawValue)** — \(doc.summary)\n\n```dockerfile\n" + doc.syntax.joined(separator: "\n") + "\n```"
        if let flags = flags[kind], !flags.isEmpty {
            text += "\n\nFlags: " + flags.map { "`--\($0.name)`" }.joined(separator: ", ")
        }
        return text + "\n\n[Dockerfile reference](\(url(for: kind)))"
    }

    /// Hover and completion text for a flag.
    public static func markdown(for flag: FlagDoc, of kind: InstructionKind) -> String {
        let form = flag.value.map { "--\(flag.name)=\($0)" } ?? "--\(flag.name)"
        return "**\(kind.rawValue) `\(form)`** — \(flag.summary)"
    }

    /// Hover and completion text for a directive.
    public static func markdown(for directive: DirectiveDoc) -> String {
        "**# \(directive.name)=** (parser directive) — \(directive.summary) Directives must come before any instruction, comment or blank line."
    }
}

extension MarkupContent {
    /// Markdown text for clients that show it, the same text without markup for the others.
    static func documentation(_ markdown: String, markdownSupported: Bool) -> MarkupContent {
        if markdownSupported { return MarkupContent(kind: .markdown, value: markdown) }
        var plain = markdown.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "```dockerfile\n", with: "")
            .replacingOccurrences(of: "\n```", with: "").replacingOccurrences(of: "`", with: "")
        if let link = plain.range(of: "\n\n[Dockerfile reference](") {
            let url = plain[link.upperBound...].dropLast()
            plain = String(plain[..<link.lowerBound]) + "\n\nReference: " + url
        }
        return MarkupContent(kind: .plaintext, value: plain)
    }
}
