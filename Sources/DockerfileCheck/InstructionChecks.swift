import DockerfileSyntax

/// Rules about single instructions and their repetition within a stage.
enum InstructionChecks {
    static func run(_ context: inout CheckContext) {
        let definition = context.definition
        for stage in definition.stages {
            var repeated: [String: [Int]] = [:]
            var sawShell = false
            var workdirSet = false
            for index in stage.instructionIndices {
                let instruction = context.instructions[index]
                checkMisplacedFlags(instruction, &context)
                guard let command = definition.commands[index] else { continue }
                switch command {
                case .cmd(let line), .entrypoint(let line):
                    repeated[instruction.name, default: []].append(index)
                    if !line.isExec && !sawShell, let text = instruction.argumentText {
                        context.add("JSONArgsRecommended", text.range,
                                    "JSON arguments recommended for \(instruction.name) to prevent unintended behavior related to OS signals",
                                    fix: execFormFix(text))
                    }
                case .healthcheck:
                    repeated["HEALTHCHECK", default: []].append(index)
                case .shell:
                    sawShell = true
                case .maintainer(let author):
                    let escaped = author.value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
                    let label = "LABEL org.opencontainers.image.authors=\"\(escaped)\""
                    context.add("MaintainerDeprecated", instruction.keyword.range,
                                "Maintainer instruction is deprecated in favor of using label: write \(label)",
                                fix: Fix(title: "Replace with LABEL org.opencontainers.image.authors",
                                         edits: [TextEdit(range: instruction.range, newText: label)]),
                                tags: [.deprecated])
                case .workdir(let path):
                    if !workdirSet && !path.value.containsByte(UInt8(ascii: "$")) {
                        if isAbsolute(path.value) {
                            workdirSet = true
                        } else {
                            context.add("WorkdirRelativePath", path.range,
                                        "Relative workdir \"\(shown(path.value))\" can have unexpected results if the base image changes; use an absolute path")
                        }
                    } else if path.value.containsByte(UInt8(ascii: "$")) {
                        workdirSet = true
                    }
                case .env(let pairs), .label(let pairs):
                    if let first = instruction.arguments.first, !first.value.containsByte(UInt8(ascii: "=")), let pair = pairs.first {
                        context.add("LegacyKeyValueFormat", pair.range,
                                    "\"\(instruction.name) key=value\" should be used instead of legacy \"\(instruction.name) key value\" format",
                                    fix: legacyFix(pair))
                    }
                    if instruction.kind == .env { checkSecrets(pairs, instruction: "ENV", &context) }
                case .arg(let pairs):
                    checkSecrets(pairs, instruction: "ARG", &context)
                case .expose(let ports):
                    for port in ports where !port.value.containsByte(UInt8(ascii: "$")) { checkPort(port, &context) }
                case .stopSignal(let signal):
                    checkSignal(signal, &context)
                case .copy(let copy):
                    checkDestination(copy, &context)
                default:
                    break
                }
            }
            for (name, indices) in repeated where indices.count > 1 {
                for index in indices.dropLast() {
                    context.add("MultipleInstructionsDisallowed", context.instructions[index].range,
                                "Multiple \(name) instructions should not be used in the same stage because only the last one will be used",
                                tags: [.unnecessary])
                }
            }
        }
    }

    /// `COPY a b --chown=1`: a flag after the arguments is read as an argument (a path, an image name).
    private static func checkMisplacedFlags(_ instruction: Instruction, _ context: inout CheckContext) {
        guard let kind = instruction.kind, [.copy, .add, .from].contains(kind), instruction.form == .shell,
              let known = instructionFlags[kind] else { return }
        for argument in instruction.arguments where argument.value.hasPrefix("--") {
            let name = String(argument.value.dropFirst(2).prefix { $0 != "=" })
            guard known[name] != nil else { continue }
            // Move the flag right after the keyword (its range is the argument and the blanks before it).
            var start = argument.range.startOffset
            let bytes = context.source.bytes
            while start > 0 && (bytes[start - 1] == 0x20 || bytes[start - 1] == 0x09) { start -= 1 }
            let keywordEnd = instruction.keyword.range
            let insertAt = SourceRange(start: keywordEnd.end, end: keywordEnd.end, startOffset: keywordEnd.endOffset,
                                       endOffset: keywordEnd.endOffset)
            let fix = Fix(title: "Move \(shown(argument.value)) after \(instruction.name)",
                          edits: [TextEdit(range: insertAt, newText: " " + argument.value),
                                  TextEdit(range: context.source.range(from: start, to: argument.range.endOffset), newText: "")])
            context.add("MisplacedFlag", argument.range,
                        "\(shown(argument.value)) comes after the arguments, so Docker reads it as an argument, not a flag: flags go right after \(instruction.name)",
                        fix: argument.range.start.line == keywordEnd.start.line ? fix : nil)
        }
    }

    /// Absolute on Linux (`/app`) or, for Windows images, with a drive letter (`C:\\app`, `C:/app`).
    private static func isAbsolute(_ path: String) -> Bool {
        if path.hasPrefix("/") || path.hasPrefix("\\") { return true }
        let characters = Array(path.prefix(3))
        return characters.count == 3 && characters[0].isLetter && characters[1] == ":" && (characters[2] == "\\" || characters[2] == "/")
    }

    /// Exec form for a shell-form command made only of plain words (nothing a shell would interpret).
    private static func execFormFix(_ text: Token) -> Fix? {
        let special: Set<Character> = ["\"", "'", "\\", "`", "$", "|", "&", ";", "<", ">", "(", ")", "*", "?", "[", "]",
                                        "{", "}", "~", "#", "=", "\n", "\t", "!"]
        guard !text.text.contains(where: { special.contains($0) }) else { return nil }
        let words = text.text.split(whereSeparator: { $0 == " " }).map { "\"\($0)\"" }
        guard !words.isEmpty else { return nil }
        return Fix(title: "Use exec form", edits: [TextEdit(range: text.range, newText: "[" + words.joined(separator: ", ") + "]")])
    }

    private static func legacyFix(_ pair: KeyValue) -> Fix? {
        guard let value = pair.value, let valueRange = pair.valueRange, pair.keyRange != pair.range || valueRange != pair.range else { return nil }
        let hasBlank = value.contains { $0 == " " || $0 == "\t" }
        let hasQuote = value.contains { $0 == "\"" || $0 == "'" }
        if hasBlank && hasQuote { return nil }
        let newValue = hasBlank ? "\"" + value.replacingAll("\\", with: "\\\\") + "\"" : value
        return Fix(title: "Use \(pair.key)=value", edits: [TextEdit(range: pair.range, newText: "\(pair.key)=\(newValue)")])
    }

    private static let secretWords: [String] = ["apikey", "auth", "credential", "credentials", "key", "password",
                                                "pword", "passwd", "secret", "token"]
    private static let allowedWords: [String] = ["public", "file", "version"]

    /// BuildKit's rule: a `_`-separated part of the name is a secret word, and no part is an allowed word.
    private static func checkSecrets(_ pairs: [KeyValue], instruction: String, _ context: inout CheckContext) {
        for pair in pairs {
            var secret = false
            var allowed = false
            for part in pair.key.utf8.split(separator: UInt8(ascii: "_")) where part.count >= 3 && part.count <= 11 {
                let word = String(decoding: part, as: UTF8.self)
                if secretWords.contains(where: { word.equalsIgnoringASCIICase($0) }) { secret = true }
                if allowedWords.contains(where: { word.equalsIgnoringASCIICase($0) }) { allowed = true }
            }
            guard secret && !allowed else { continue }
            context.add("SecretsUsedInArgOrEnv", pair.keyRange,
                        "Do not use ARG or ENV instructions for sensitive data (\(instruction) \"\(shown(pair.key))\"): the value stays in the image; use RUN --mount=type=secret")
        }
    }

    private static func checkPort(_ port: Argument, _ context: inout CheckContext) {
        let text = port.value
        if text.containsByte(UInt8(ascii: ":")) {
            context.add("ExposeInvalidFormat", port.range,
                        "EXPOSE instruction should not define an IP address or host-port mapping, found '\(shown(text))'")
            return
        }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let ports = parts[0]
        if parts.count == 2 {
            let proto = String(parts[1])
            guard ["tcp", "udp", "sctp"].contains(proto.lowercased()) else {
                context.add("InvalidPort", port.range, "invalid proto: \(shown(proto)) (use tcp, udp or sctp)")
                return
            }
            if proto != proto.lowercased() {
                let protoStart = ports.utf8.count + 1
                let protoRange = context.range(in: port.range, text: text, bytes: protoStart..<text.utf8.count)
                context.add("ExposeProtoCasing", protoRange, "Defined protocol '\(text)' in EXPOSE instruction should be lowercase",
                            fix: Fix(title: "Write \(proto.lowercased())", edits: [TextEdit(range: protoRange, newText: proto.lowercased())]))
            }
        }
        let bounds = ports.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = UInt16(bounds[0]) else {
            context.add("InvalidPort", port.range, "invalid containerPort: \(shown(String(bounds[0]))) (a port is a number from 0 to 65535)")
            return
        }
        if bounds.count == 2 {
            guard let high = UInt16(bounds[1]), high >= low else {
                context.add("InvalidPort", port.range, "invalid port range: \(shown(String(ports))) (write LOW-HIGH with LOW ≤ HIGH ≤ 65535)")
                return
            }
        }
    }

    private static let signalNames: Set<String> = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
        "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
    ]

    private static func checkSignal(_ signal: Argument, _ context: inout CheckContext) {
        let value = signal.value
        guard !value.containsByte(UInt8(ascii: "$")) else { return }
        if let number = Int(value) {
            if number <= 0 { context.add("InvalidSignal", signal.range, "Invalid signal: \(value) (signal numbers start at 1)") }
            return
        }
        var name = value.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if signalNames.contains(name) { return }
        for base in ["RTMIN+", "RTMAX-"] where name.hasPrefix(base) {
            if let offset = Int(name.dropFirst(base.count)), (1...15).contains(offset) { return }
        }
        let suggestion = Suggest.closest(to: name, in: signalNames).map { " (did you mean SIG\($0)?)" } ?? ""
        context.add("InvalidSignal", signal.range, "Invalid signal: \(shown(value))\(suggestion)")
    }

    /// A destination BuildKit copies into rather than onto: `dir/`, `.`, `..`, `dir/.`, and Windows' `C:\\dir\\`.
    private static func namesDirectory(_ destination: String) -> Bool {
        destination.hasSuffix("/") || destination.hasSuffix("\\") || destination == "." || destination == ".."
            || destination.hasSuffix("/.") || destination.hasSuffix("/..")
    }

    private static func checkDestination(_ copy: FileCopy, _ context: inout CheckContext) {
        guard let destination = copy.destination, copy.sources.count + copy.heredocSources.count > 1 else { return }
        let value = destination.value
        guard !namesDirectory(value), !value.containsByte(UInt8(ascii: "$")) else { return }
        let end = SourceRange(start: destination.range.end, end: destination.range.end,
                              startOffset: destination.range.endOffset, endOffset: destination.range.endOffset)
        context.add("CopyDestinationNotDirectory", destination.range,
                    "When using \(copy.isAdd ? "ADD" : "COPY") with more than one source file, the destination must be a directory and end with a /",
                    fix: Fix(title: "Add a trailing /", edits: [TextEdit(range: end, newText: "/")]))
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var result = ""
        var rest = self[...]
        while let found = rest.firstRange(of: target) {
            result += rest[..<found.lowerBound]
            result += replacement
            rest = rest[found.upperBound...]
        }
        return result + rest
    }
}
