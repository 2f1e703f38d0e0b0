import DockerfileSyntax

/// A documented check: its code, default severity, what it means, an example and how to fix it.
public struct Rule: Sendable, Hashable {
    /// Stable code.
    public var code: String
    /// Default severity (a few parse rules are errors in one context and warnings in another; this is the usual one).
    public var severity: Severity
    /// One line: what the rule finds.
    public var summary: String
    /// A Dockerfile fragment that triggers it.
    public var example: String
    /// How to resolve it.
    public var fix: String
    /// BuildKit's documentation page, for rules BuildKit has too.
    public var url: String?

    /// Whether this is one of BuildKit's build checks (named the same, so `# check=skip=` works alike).
    public var isBuildKitRule: Bool { url != nil }
}

/// The rule table; every code a diagnostic can carry is here (a test keeps it so).
public enum Rules {
    private static func buildKit(_ code: String, _ summary: String, _ example: String, _ fix: String) -> Rule {
        var kebab = ""
        for (index, character) in code.enumerated() {
            if character.isUppercase && index > 0 {
                let previous = code[code.index(code.startIndex, offsetBy: index - 1)]
                if previous.isLowercase { kebab += "-" }
            }
            kebab += character.lowercased()
        }
        kebab = kebab.replacingAll("jsonargs", with: "json-args")
        return Rule(code: code, severity: .warning, summary: summary, example: example, fix: fix,
                    url: "https://docs.docker.com/go/dockerfile/rule/\(kebab)/")
    }

    private static func error(_ code: String, _ summary: String, _ example: String, _ fix: String) -> Rule {
        Rule(code: code, severity: .error, summary: summary, example: example, fix: fix, url: nil)
    }

    private static func warning(_ code: String, _ summary: String, _ example: String, _ fix: String) -> Rule {
        Rule(code: code, severity: .warning, summary: summary, example: example, fix: fix, url: nil)
    }

    /// Every rule, parse errors first, then instruction errors, then lint warnings.
    public static let all: [Rule] = [
        // Lines, directives, continuations, heredocs, JSON
        error("NoInstructions", "The file has no instructions (empty, or only comments).", "# just a comment", "Add a FROM instruction."),
        error("LineTooLong", "A line is longer than Docker's limit of 65,535 bytes.", "RUN echo <70,000 characters>", "Split the line with continuations, or move the data into a file copied with COPY."),
        warning("MisplacedDirective", "A parser directive after the first instruction, comment or blank line is only a comment.", "FROM alpine\n# escape=`", "Move the directive to the very top of the file."),
        error("DuplicateDirective", "A parser directive is given twice.", "# syntax=docker/dockerfile:1\n# syntax=docker/dockerfile:1", "Remove the repeated directive (quick fix)."),
        error("InvalidEscapeDirective", "The escape directive names a character other than \\ or `.", "# escape=/", "Use `# escape=\\` or `# escape=``` (quick fix)."),
        error("InvalidCheckDirective", "The check directive has an option Docker does not understand.", "# check=skip=JSONArgsRecommended;warn=true", "Use skip=RULE,…, error=true|false or experimental=RULE,…."),
        buildKit("NoEmptyContinuation", "An empty line inside a continuation (Docker drops it; it will become an error).", "RUN apk add \\\n\n    curl", "Remove the empty line (quick fix)."),
        error("UnterminatedHeredoc", "A heredoc has no terminator line, so it swallows the rest of the file.", "RUN <<EOF\necho hi", "Add a line holding only the terminator word (EOF) after the body."),
        error("JSONArrayNotStrings", "An exec-form JSON array has an element that is not a string.", "CMD [\"sleep\", 5]", "Quote every element: CMD [\"sleep\", \"5\"]."),
        warning("InvalidJSONArray", "Arguments start with [ but are not valid JSON, so Docker runs them as a shell command (and SHELL rejects them).", "CMD [\"nginx\", \"-g\", \"daemon off;\"", "Close the array and quote every element with double quotes."),
        warning("JSONInSingleQuotes", "A JSON array written with single quotes is not JSON; Docker runs it as a shell command.", "CMD ['nginx']", "Use double quotes: CMD [\"nginx\"] (quick fix)."),

        // Instructions
        error("UnknownInstruction", "The keyword is not a Dockerfile instruction.", "RUNN make", "Fix the spelling (quick fix offers the closest instruction)."),
        error("UnknownFlag", "A flag the instruction does not accept.", "COPY --chwon=1000 a /a", "Use one of the instruction's flags (quick fix offers the closest)."),
        warning("MisplacedFlag", "A flag of the instruction written after its arguments, where Docker reads it as an argument.", "COPY app /app --chown=1000", "Put flags right after the keyword: COPY --chown=1000 app /app (quick fix)."),
        error("DuplicateFlag", "A flag that may appear once is given twice.", "COPY --chown=1 --chown=2 a /a", "Remove one of them (quick fix)."),
        error("FlagMissingValue", "A flag that needs a value has none.", "COPY --from a /a", "Write --from=VALUE."),
        error("FlagInvalidBool", "A boolean flag has a value other than true or false.", "COPY --link=yes a /a", "Write --link, --link=true or --link=false."),
        error("MissingArguments", "The instruction lacks required arguments.", "COPY app", "Give what the message names (COPY needs a source and a destination)."),
        error("BlankName", "An ENV, LABEL or ARG pair with an empty name.", "ENV =value", "Give the variable a name."),
        error("MissingValue", "Legacy `ENV name value` form with no value.", "ENV DEBUG", "Write ENV DEBUG=value (or ENV DEBUG=\"\")."),
        error("InvalidKeyValue", "A word without = in a name=value list.", "ENV A=1 B", "Write every pair as name=value."),
        error("InvalidFromArguments", "FROM with other than one or three arguments, or a second argument other than AS.", "FROM alpine build", "Write FROM image or FROM image AS name."),
        error("InvalidStageName", "A stage name that does not start with a letter or has characters other than a-z 0-9 - _ .", "FROM alpine AS 1st", "Rename the stage, e.g. AS first."),
        error("InvalidNetwork", "RUN --network with a mode other than default, none or host.", "RUN --network=bridge make", "Use --network=default, none or host."),
        error("InvalidSecurity", "RUN --security with a value other than sandbox or insecure.", "RUN --security=privileged make", "Use --security=sandbox (insecure is not supported by idpbuild)."),
        error("InvalidMount", "A RUN --mount specification Docker rejects.", "RUN --mount=type=volume,target=/x make", "Use type=bind|cache|tmpfs|secret|ssh and the keys the message lists."),
        error("HeredocAsDestination", "COPY or ADD with a heredoc as its destination.", "COPY a <<EOF", "The destination must be a path; heredocs can only be sources."),
        error("FromFlagVariable", "COPY --from uses a variable, which Docker does not expand.", "COPY --from=$BUILDER /a /a", "Define a stage FROM ${BUILDER} AS builder and copy --from=builder."),
        error("HealthcheckArguments", "HEALTHCHECK NONE with arguments, or HEALTHCHECK CMD without a command.", "HEALTHCHECK CMD", "Write HEALTHCHECK CMD command, or HEALTHCHECK NONE alone."),
        error("HealthcheckType", "HEALTHCHECK followed by a word other than CMD or NONE.", "HEALTHCHECK curl -f http://localhost/", "Write HEALTHCHECK CMD curl -f http://localhost/ (quick fix)."),
        error("InvalidDuration", "A HEALTHCHECK duration Docker cannot read (Go duration syntax: 30s, 1m30s).", "HEALTHCHECK --interval=5 CMD true", "Add a unit: --interval=5s."),
        error("InvalidRetries", "HEALTHCHECK --retries that is not a non-negative whole number.", "HEALTHCHECK --retries=-1 CMD true", "Use --retries=3."),
        error("OnbuildTrigger", "ONBUILD ONBUILD, ONBUILD FROM or ONBUILD MAINTAINER.", "ONBUILD FROM alpine", "Use another instruction as the trigger."),
        error("ShellRequiresJSON", "SHELL not written as a JSON array.", "SHELL /bin/bash -c", "Write SHELL [\"/bin/bash\", \"-c\"]."),
        error("EmptyVolume", "VOLUME with an empty path.", "VOLUME [\"\"]", "Give a path."),
        error("InstructionBeforeFrom", "An instruction other than ARG before the first FROM.", "RUN make\nFROM alpine", "Move it after a FROM."),
        error("NoFromInstruction", "Instructions but no FROM: there is no stage to build.", "ARG VERSION=1", "Add FROM image (or FROM scratch)."),

        // Lint rules shared with BuildKit
        buildKit("StageNameCasing", "Stage names should be lowercase.", "FROM alpine AS Build", "Lowercase the name (quick fix)."),
        buildKit("FromAsCasing", "The AS keyword's case should match FROM's.", "FROM alpine as build", "Write AS like FROM (quick fix)."),
        buildKit("ConsistentInstructionCasing", "Instructions should all be upper case or all lower case, like the majority.", "FROM alpine\nrun make", "Change the keyword's case (quick fix)."),
        buildKit("DuplicateStageName", "Two stages have the same name; the later one wins.", "FROM a AS build\nFROM b AS build", "Rename one of them."),
        buildKit("ReservedStageName", "A stage named scratch or context.", "FROM alpine AS scratch", "Choose another name."),
        buildKit("JSONArgsRecommended", "Shell-form CMD or ENTRYPOINT: the process runs under /bin/sh -c and does not receive signals.", "CMD nginx -g 'daemon off;'", "Use exec form: CMD [\"nginx\", \"-g\", \"daemon off;\"] (quick fix when the command is plain words)."),
        buildKit("MaintainerDeprecated", "MAINTAINER is deprecated.", "MAINTAINER Jane <jane@example.com>", "Use LABEL org.opencontainers.image.authors=\"Jane <jane@example.com>\" (quick fix)."),
        buildKit("UndefinedArgInFrom", "FROM uses a variable that no global ARG declares.", "FROM alpine:$VERSION", "Declare ARG VERSION=… before the first FROM."),
        buildKit("WorkdirRelativePath", "A relative WORKDIR before any absolute one: its meaning depends on the base image.", "WORKDIR app", "Use an absolute path: WORKDIR /app."),
        buildKit("UndefinedVar", "A variable used before any ARG or ENV defines it (the base image may define it; idpbuild cannot see that offline).", "COPY $SRC /src", "Declare it with ARG or ENV first, or fix the name."),
        buildKit("MultipleInstructionsDisallowed", "More than one CMD, ENTRYPOINT or HEALTHCHECK in a stage: only the last counts.", "CMD a\nCMD b", "Remove the earlier one (marked as unnecessary)."),
        buildKit("LegacyKeyValueFormat", "ENV or LABEL in the legacy `key value` form.", "ENV DEBUG 1", "Write ENV DEBUG=1 (quick fix)."),
        buildKit("RedundantTargetPlatform", "FROM --platform=$TARGETPLATFORM is the default.", "FROM --platform=$TARGETPLATFORM alpine", "Remove the flag (quick fix)."),
        buildKit("SecretsUsedInArgOrEnv", "An ARG or ENV name that looks like a secret: its value stays in the image.", "ENV API_TOKEN=abc", "Use RUN --mount=type=secret instead."),
        buildKit("InvalidDefaultArgInFrom", "With the ARG defaults, the FROM image name is empty or invalid.", "ARG TAG\nFROM alpine:$TAG", "Give the ARG a default: ARG TAG=3.19."),
        buildKit("FromPlatformFlagConstDisallowed", "FROM --platform with a constant value.", "FROM --platform=linux/amd64 alpine", "Use $BUILDPLATFORM or $TARGETPLATFORM, or put the platform in the stage name."),
        buildKit("ExposeProtoCasing", "EXPOSE protocol in upper case.", "EXPOSE 80/TCP", "Write 80/tcp (quick fix)."),
        buildKit("ExposeInvalidFormat", "EXPOSE with an IP address or host:container mapping.", "EXPOSE 0.0.0.0:80:80", "EXPOSE only the container port: EXPOSE 80."),

        // Our own checks
        error("InvalidPort", "EXPOSE with something that is not a port, a port range or a protocol tcp/udp/sctp.", "EXPOSE http", "Write EXPOSE 80 or EXPOSE 80/udp."),
        error("InvalidSignal", "STOPSIGNAL that is not a signal name or number.", "STOPSIGNAL SIGFOO", "Use a name like SIGTERM or a number like 15."),
        error("InvalidSubstitution", "A quote or ${…} substitution Docker cannot process in a word it expands.", "WORKDIR ${DIR", "Close the brace or quote, or escape the $ as \\$."),
        error("InvalidBaseImage", "The FROM image is not a valid image reference.", "FROM Alpine", "Image names are lowercase: FROM alpine."),
        error("CopyFromLaterStage", "COPY --from or RUN --mount from= names a stage defined later.", "FROM alpine\nCOPY --from=build /a /a\nFROM alpine AS build", "Move the stage before the one that copies from it."),
        error("CopyFromOwnStage", "COPY --from or RUN --mount from= names the stage it is in.", "FROM alpine AS build\nCOPY --from=build /a /b", "Copy from an earlier stage."),
        warning("CopyFromUnknownStage", "COPY --from or RUN --mount from= names no stage, so Docker pulls an image of that name.", "COPY --from=biuld /a /a", "Fix the stage name (the message suggests the closest), or use a full image reference."),
        error("CopyDestinationNotDirectory", "COPY or ADD of several sources to a destination that does not end with /.", "COPY a b /dest", "End the destination with /: COPY a b /dest/ (quick fix)."),
        warning("UnsupportedByEngine", "Valid Dockerfile syntax that idpbuild's build engine does not execute; the build will stop there.", "RUN --mount=type=ssh git clone …", "Change the instruction, or build this Dockerfile with BuildKit."),
    ]

    /// The rules by code.
    public static let byCode: [String: Rule] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })

    /// The rule documentation as Markdown (what `docs/CHECKS.md` holds).
    public static func markdown() -> String {
        var text = """
        # Dockerfile checks

        Every diagnostic `idpbuild check` and `idpbuild lsp` report has one of these codes. Rules that BuildKit also has
        keep BuildKit's name, so `# check=skip=RULE` and `idpbuild check --ignore RULE` work the same way; they link to
        Docker's page for the rule. `# check=skip=` applies to warnings; `# check=error=true` makes BuildKit's warnings
        errors, as Docker does, and leaves idpbuild's own warnings warnings; `--ignore` applies to any code.
        Generated by `idpbuild check --list-rules`; a test keeps this file equal to that output.

        | Code | Severity | What it finds | Example | Fix |
        | --- | --- | --- | --- | --- |

        """
        for rule in all {
            let code = rule.url.map { "[`\(rule.code)`](\($0))" } ?? "`\(rule.code)`"
            let example = "`" + rule.example.replacingAll("\n", with: "` ⏎ `").replacingAll("|", with: "\\|") + "`"
            text += "| \(code) | \(rule.severity.rawValue) | \(cell(rule.summary)) | \(example) | \(cell(rule.fix)) |\n"
        }
        return text
    }

    private static func cell(_ text: String) -> String {
        text.replacingAll("|", with: "\\|").replacingAll("\n", with: " ")
    }
}
