/// The kind of value a flag takes.
public enum FlagKind: Sendable, Hashable {
    /// `--name=value`, once.
    case string
    /// `--name` or `--name=true|false`, once.
    case bool
    /// `--name=value`, repeatable.
    case strings
}

/// The flags each instruction accepts, as BuildKit's frontend does (RUN's `--device` is labs-only).
public let instructionFlags: [InstructionKind: [String: FlagKind]] = [
    .from: ["platform": .string],
    .add: ["chown": .string, "chmod": .string, "link": .bool, "keep-git-dir": .bool, "checksum": .string,
           "unpack": .bool, "exclude": .strings],
    .copy: ["chown": .string, "chmod": .string, "from": .string, "link": .bool, "parents": .bool,
            "exclude": .strings],
    .run: ["mount": .strings, "network": .string, "security": .string, "device": .strings],
    .healthcheck: ["interval": .string, "timeout": .string, "start-period": .string, "start-interval": .string,
                   "retries": .string],
]

/// The stage-name grammar BuildKit applies after lowercasing.
func isValidStageName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, first >= 0x61 && first <= 0x7A else { return false }
    return bytes.dropFirst().allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || Bytes.isDigit($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
}

/// Types instructions (BuildKit's `instructions.Parse*`), collecting a problem for every error it would report.
struct CommandParser {
    let source: SourceText
    let escape: UInt8
    var problems: [SyntaxProblem] = []
    /// Set while typing an ONBUILD trigger, whose errors Docker reports only when the trigger runs.
    private var triggerDepth = 0

    init(source: SourceText, escape: UInt8) {
        self.source = source
        self.escape = escape
    }

    private mutating func report(_ code: String, _ message: String, _ range: SourceRange, fix: Fix? = nil) {
        if triggerDepth > 0 {
            problems.append(SyntaxProblem(code: code, severity: .warning,
                                          message: message + " (in an ONBUILD trigger: Docker fails when the trigger runs)",
                                          range: range, fix: fix))
        } else {
            problems.append(SyntaxProblem(code: code, severity: .error, message: message, range: range, fix: fix))
        }
    }

    /// The command for `instruction`, or nil (with a problem) when it cannot be typed.
    mutating func command(for instruction: Instruction) -> Command? {
        guard let kind = instruction.kind else {
            let suggestion = Suggest.closest(to: instruction.keyword.text, in: InstructionKind.allCases.map(\.rawValue))
            var message = "unknown instruction: \(shown(instruction.keyword.text))"
            var fix: Fix?
            if let suggestion {
                message += " (did you mean \(suggestion)?)"
                fix = Fix(title: "Change to \(suggestion)", edits: [TextEdit(range: instruction.keyword.range, newText: suggestion)])
            }
            report("UnknownInstruction", message, instruction.keyword.range, fix: fix)
            return nil
        }
        if kind == .healthcheck, let type = instruction.arguments.first, type.value.equalsIgnoringASCIICase("NONE") {
            // Docker does not read flags for HEALTHCHECK NONE.
        } else {
            // Flag errors are reported, but the instruction is still typed so later checks see it.
            _ = validateFlags(instruction, kind: kind)
        }
        let arguments = instruction.arguments
        let name = kind.rawValue
        switch kind {
        case .from:
            return from(instruction)
        case .arg:
            guard !arguments.isEmpty else { return missing(instruction, "ARG requires at least one argument") }
            var pairs: [KeyValue] = []
            for word in arguments {
                let split = splitPair(word)
                if split.key.isEmpty {
                    report("BlankName", "ARG names can not be blank", word.range)
                    return nil
                }
                pairs.append(split)
            }
            return .arg(pairs)
        case .env, .label:
            guard let pairs = keyValues(instruction, name: name) else { return nil }
            return kind == .env ? .env(pairs) : .label(pairs)
        case .run:
            return run(instruction)
        case .cmd, .entrypoint:
            let line = CommandLine(arguments: arguments.map(\.value), isExec: instruction.form == .exec)
            return kind == .cmd ? .cmd(line) : .entrypoint(line)
        case .shell:
            guard !arguments.isEmpty else { return missing(instruction, "SHELL requires at least one argument") }
            guard instruction.form == .exec else {
                report("ShellRequiresJSON", "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]",
                       instruction.argumentText?.range ?? instruction.keyword.range)
                return nil
            }
            return .shell(arguments.map(\.value))
        case .add, .copy:
            return fileCopy(instruction, isAdd: kind == .add)
        case .workdir, .user, .maintainer, .stopsignal:
            guard let argument = arguments.first else {
                return missing(instruction, "\(name) requires exactly one argument")
            }
            switch kind {
            case .workdir: return .workdir(argument)
            case .user: return .user(argument)
            case .maintainer: return .maintainer(argument)
            default: return .stopSignal(argument)
            }
        case .expose:
            guard !arguments.isEmpty else { return missing(instruction, "EXPOSE requires at least one argument") }
            return .expose(arguments)
        case .volume:
            guard !arguments.isEmpty else { return missing(instruction, "VOLUME requires at least one argument") }
            for argument in arguments where argument.value.allSatisfy(\.isWhitespace) {
                report("EmptyVolume", "VOLUME specified can not be an empty string", argument.range)
                return nil
            }
            return .volume(arguments)
        case .healthcheck:
            return healthcheck(instruction)
        case .onbuild:
            return onbuild(instruction)
        }
    }

    private mutating func missing(_ instruction: Instruction, _ message: String) -> Command? {
        report("MissingArguments", message, instruction.keyword.range)
        return nil
    }

    // MARK: Flags

    private mutating func validateFlags(_ instruction: Instruction, kind: InstructionKind) -> Bool {
        let allowed = instructionFlags[kind] ?? [:]
        var seen: [String] = []
        var valid = true
        for flag in instruction.flags {
            guard let flagKind = allowed[flag.name] else {
                var message = "unknown flag: --\(shown(flag.name))"
                var fix: Fix?
                if allowed.isEmpty {
                    message += " (\(instruction.name) takes no flags)"
                    fix = Fix(title: "Remove --\(flag.name)", edits: [TextEdit(range: flagRemovalRange(flag), newText: "")], isPreferred: false)
                } else if let suggestion = Suggest.closest(to: flag.name, in: allowed.keys.sorted()) {
                    message += " (did you mean --\(suggestion)?)"
                    fix = Fix(title: "Change to --\(suggestion)", edits: [TextEdit(range: flag.nameRange, newText: "--\(suggestion)")])
                } else {
                    message += " (\(instruction.name) accepts \(allowed.keys.sorted().map { "--" + $0 }.joined(separator: ", ")))"
                }
                report("UnknownFlag", message, flag.nameRange, fix: fix)
                valid = false
                continue
            }
            if flagKind != .strings && seen.contains(flag.name) {
                report("DuplicateFlag", "duplicate flag specified: --\(flag.name)", flag.range,
                       fix: Fix(title: "Remove the repeated --\(flag.name)", edits: [TextEdit(range: flagRemovalRange(flag), newText: "")]))
                valid = false
                continue
            }
            seen.append(flag.name)
            switch flagKind {
            case .bool:
                if let value = flag.value {
                    if value.isEmpty {
                        report("FlagMissingValue", "missing a value on flag: --\(flag.name)", flag.range)
                        valid = false
                    } else if !value.equalsIgnoringASCIICase("true") && !value.equalsIgnoringASCIICase("false") {
                        report("FlagInvalidBool", "expecting boolean value for flag --\(flag.name), not: \(shown(value))",
                               flag.rawValue?.range ?? flag.range)
                        valid = false
                    }
                }
            case .string, .strings:
                if flag.value == nil {
                    report("FlagMissingValue", "missing a value on flag: --\(flag.name) (write --\(flag.name)=VALUE)", flag.range)
                    valid = false
                }
            }
        }
        return valid
    }

    /// The flag and the blanks after it, for a removal edit.
    private func flagRemovalRange(_ flag: Flag) -> SourceRange {
        var end = flag.range.endOffset
        while end < source.bytes.count && (source.bytes[end] == 0x20 || source.bytes[end] == 0x09) { end += 1 }
        return source.range(from: flag.range.startOffset, to: end)
    }

    private func boolFlag(_ instruction: Instruction, _ name: String) -> Bool? {
        guard let flag = instruction.flag(name) else { return nil }
        return (flag.value ?? "true").equalsIgnoringASCIICase("true")
    }

    // MARK: Instructions

    private mutating func from(_ instruction: Instruction) -> Command? {
        let arguments = instruction.arguments
        guard let image = arguments.first else {
            return missing(instruction, "FROM requires either one or three arguments: FROM image [AS name]")
        }
        if arguments.count == 3 && arguments[1].value.equalsIgnoringASCIICase("as") {
            let stageName = arguments[2].value.lowercased()
            guard isValidStageName(stageName) else {
                report("InvalidStageName", "invalid name for build stage: \"\(shown(arguments[2].value))\", name can't start with a number or contain symbols",
                       arguments[2].range)
                return nil
            }
            return .from(From(image: image, stageName: stageName, asKeyword: arguments[1], nameArgument: arguments[2],
                              platform: instruction.flag("platform")))
        }
        guard arguments.count == 1 else {
            var message = "FROM requires either one or three arguments: FROM image [AS name]"
            if arguments.count == 3 { message = "the second argument of FROM should be AS: FROM image AS name" }
            report("InvalidFromArguments", message, arguments[1].range)
            return nil
        }
        return .from(From(image: image, stageName: nil, asKeyword: nil, nameArgument: nil, platform: instruction.flag("platform")))
    }

    /// The sub-range of an argument, when the argument is written on one line (otherwise the whole argument).
    private func subRange(_ argument: Argument, _ bytes: Range<Int>) -> SourceRange {
        let length = argument.range.endOffset - argument.range.startOffset
        guard length == argument.value.utf8.count else { return argument.range }
        let start = argument.range.startOffset
        return source.range(from: start + bytes.lowerBound, to: start + bytes.upperBound)
    }

    private func splitPair(_ word: Argument) -> KeyValue {
        let utf8 = Array(word.value.utf8)
        guard let equals = utf8.firstIndex(of: UInt8(ascii: "=")) else {
            return KeyValue(key: word.value, value: nil, keyRange: word.range, valueRange: nil, range: word.range)
        }
        return KeyValue(key: String(decoding: utf8[..<equals], as: UTF8.self),
                        value: String(decoding: utf8[(equals + 1)...], as: UTF8.self),
                        keyRange: subRange(word, 0..<equals), valueRange: subRange(word, equals + 1..<utf8.count),
                        range: word.range)
    }

    private mutating func keyValues(_ instruction: Instruction, name: String) -> [KeyValue]? {
        let words = instruction.arguments
        guard let first = words.first, let text = instruction.argumentText else {
            _ = missing(instruction, "\(name) requires at least one argument")
            return nil
        }
        if !first.value.containsByte(UInt8(ascii: "=")) {
            // Legacy form: KEY value (the rest of the line is the value).
            let bytes = Array(text.text.utf8)
            var keyEnd = 0
            while keyEnd < bytes.count && !Bytes.isBlank(bytes[keyEnd]) { keyEnd += 1 }
            var valueStart = keyEnd
            while valueStart < bytes.count && Bytes.isBlank(bytes[valueStart]) { valueStart += 1 }
            guard valueStart < bytes.count else {
                report("MissingValue", "\(name) must have two arguments: \(name) \(shown(first.value))=value", first.range)
                return nil
            }
            let asArgument = Argument(value: text.text, range: text.range)
            return [KeyValue(key: String(decoding: bytes[..<keyEnd], as: UTF8.self),
                             value: String(decoding: bytes[valueStart...], as: UTF8.self),
                             keyRange: subRange(asArgument, 0..<keyEnd), valueRange: subRange(asArgument, valueStart..<bytes.count),
                             range: text.range)]
        }
        var pairs: [KeyValue] = []
        for word in words {
            guard word.value.containsByte(UInt8(ascii: "=")) else {
                report("InvalidKeyValue", "Syntax error - can't find = in \"\(shown(word.value))\". Must be of the form: name=value", word.range)
                return nil
            }
            let pair = splitPair(word)
            if pair.key.isEmpty {
                report("BlankName", "\(name) names can not be blank", word.range)
                return nil
            }
            pairs.append(pair)
        }
        return pairs
    }

    private mutating func run(_ instruction: Instruction) -> Command? {
        var mounts: [Mount] = []
        for flag in instruction.flags(named: "mount") {
            guard let mount = parseMount(flag) else { return nil }
            mounts.append(mount)
        }
        let network = instruction.flag("network")
        if let network, let value = network.value, !["default", "none", "host"].contains(value) {
            report("InvalidNetwork", "invalid network mode \"\(shown(value))\": use default, none or host", network.rawValue?.range ?? network.range)
            return nil
        }
        let security = instruction.flag("security")
        if let security, let value = security.value, !["sandbox", "insecure"].contains(value) {
            report("InvalidSecurity", "security \"\(shown(value))\" is not valid: use sandbox or insecure", security.rawValue?.range ?? security.range)
            return nil
        }
        let line = CommandLine(arguments: instruction.arguments.map(\.value), isExec: instruction.form == .exec)
        return .run(Run(command: line, heredocs: instruction.heredocs, mounts: mounts, network: network?.value, security: security?.value))
    }

    /// BuildKit's `parseMount`: CSV fields of `key=value`.
    private mutating func parseMount(_ flag: Flag) -> Mount? {
        let range = flag.rawValue?.range ?? flag.range
        guard let fields = csvFields(flag.value ?? "") else {
            report("InvalidMount", "failed to parse csv mounts: unterminated quote in --mount", range)
            return nil
        }
        var type = "bind"
        var values: [String: String] = [:]
        func fail(_ message: String) -> Mount? {
            report("InvalidMount", message, range)
            return nil
        }
        for field in fields {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0].lowercased()
            guard parts.count == 2 else {
                switch key {
                case "readonly", "ro": values["readonly"] = "true"
                case "readwrite", "rw": values["readonly"] = "false"
                case "required":
                    guard type == "secret" || type == "ssh" else { return fail("unexpected key 'required' for mount type '\(type)'") }
                    values["required"] = "true"
                default: return fail("invalid field '\(shown(field))' must be a key=value pair")
                }
                continue
            }
            let value = String(parts[1])
            switch key {
            case "type":
                let lowered = value.lowercased()
                guard ["bind", "cache", "tmpfs", "secret", "ssh"].contains(lowered) else {
                    let hint = Suggest.closest(to: lowered, in: ["bind", "cache", "tmpfs", "secret", "ssh"]).map { " (did you mean \($0)?)" } ?? ""
                    return fail("unsupported mount type \"\(shown(value))\"\(hint)")
                }
                type = lowered
            case "from":
                if let dollar = value.firstIndex(of: "$"), dollar != value.index(before: value.endIndex) {
                    return fail("'from' doesn't support variable expansion, define alias stage instead")
                }
                values["from"] = value
            case "source", "src": values["source"] = value
            case "target", "dst", "destination": values["target"] = value
            case "readonly", "ro":
                guard let flagValue = parseGoBool(value) else { return fail("invalid value for \(key): \(value)") }
                values["readonly"] = String(flagValue)
            case "readwrite", "rw":
                guard let flagValue = parseGoBool(value) else { return fail("invalid value for \(key): \(value)") }
                values["readonly"] = String(!flagValue)
            case "required":
                guard type == "secret" || type == "ssh" else { return fail("unexpected key 'required' for mount type '\(type)'") }
                guard let flagValue = parseGoBool(value) else { return fail("invalid value for \(key): \(value)") }
                values["required"] = String(flagValue)
            case "size":
                guard type == "tmpfs" else { return fail("unexpected key 'size' for mount type '\(type)'") }
                values["size"] = value
            case "id": values["id"] = value
            case "sharing":
                guard ["shared", "private", "locked"].contains(value.lowercased()) else {
                    return fail("unsupported sharing value \"\(value)\": use shared, private or locked")
                }
                values["sharing"] = value.lowercased()
            case "mode":
                guard UInt32(value, radix: 8) != nil else { return fail("invalid value \(value) for mode") }
                values["mode"] = value
            case "uid", "gid":
                guard UInt32(value) != nil else { return fail("invalid value \(value) for \(key)") }
                values[key] = value
            case "env": values["env"] = value
            default:
                let keys = ["type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode",
                            "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"]
                let hint = Suggest.closest(to: key, in: keys).map { " (did you mean \($0)?)" } ?? ""
                return fail("unexpected key '\(shown(key))' in '\(shown(field))'\(hint)")
            }
        }
        if !(type == "secret" || type == "ssh" || type == "cache") {
            for key in ["mode", "uid", "gid"] where values[key] != nil {
                return fail("\(key) not allowed for \"\(type)\" type mounts")
            }
        }
        if type == "secret" {
            if values["from"] != nil { return fail("secret mount should not have a from") }
            if values["sharing"] != nil { return fail("secret mount should not define sharing") }
            if values["source"] == nil && values["target"] == nil && values["id"] == nil {
                return fail("invalid secret mount. one of source, target required")
            }
            if values["source"] != nil && values["id"] != nil { return fail("both source and id can't be set") }
        }
        if values["sharing"] != nil && type != "cache" { return fail("invalid cache sharing set for \(type) mount") }
        values["type"] = type
        return Mount(type: type, fields: values, range: flag.range)
    }

    private func parseGoBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// Splits a CSV record (Go's encoding/csv rules: `"` quotes a field, `""` is a quote inside one).
    private func csvFields(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        var fields: [String] = []
        var current: [UInt8] = []
        var inQuotes = false
        var atFieldStart = true
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index < bytes.count && bytes[index] == UInt8(ascii: "\"") {
                        current.append(byte)
                        index += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(byte)
                }
            } else if byte == UInt8(ascii: ",") {
                if !current.isEmpty { fields.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
                atFieldStart = true
                continue
            } else if byte == UInt8(ascii: "\"") && atFieldStart {
                inQuotes = true
            } else {
                current.append(byte)
            }
            atFieldStart = false
        }
        if inQuotes { return nil }
        if !current.isEmpty { fields.append(String(decoding: current, as: UTF8.self)) }
        return fields
    }

    private mutating func fileCopy(_ instruction: Instruction, isAdd: Bool) -> Command? {
        let name = isAdd ? "ADD" : "COPY"
        let arguments = instruction.arguments
        guard arguments.count >= 2 else {
            let message = arguments.isEmpty
                ? "\(name) requires at least two arguments: \(name) SOURCE... DESTINATION"
                : "\(name) requires at least two arguments, but only one was provided. Destination could not be determined"
            report("MissingArguments", message, arguments.first?.range ?? instruction.keyword.range)
            return nil
        }
        let destination = arguments[arguments.count - 1]
        if instruction.form != .exec && isHeredocWord(destination.value) {
            report("HeredocAsDestination", "\(name) cannot accept a heredoc as a destination", destination.range)
            return nil
        }
        var sources: [Argument] = []
        var heredocSources: [Heredoc] = []
        for source in arguments.dropLast() {
            if instruction.form != .exec, isHeredocWord(source.value),
               let heredoc = instruction.heredocs.first(where: { $0.marker == source.range }) {
                heredocSources.append(heredoc)
            } else {
                sources.append(source)
            }
        }
        if let from = instruction.flag("from"), let value = from.value, value.containsByte(UInt8(ascii: "$")) {
            report("FromFlagVariable", "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                   from.rawValue?.range ?? from.range)
            return nil
        }
        return .copy(FileCopy(
            isAdd: isAdd, sources: sources, heredocSources: heredocSources, destination: destination,
            from: instruction.flag("from"), chown: instruction.flag("chown"), chmod: instruction.flag("chmod"),
            link: boolFlag(instruction, "link") ?? false, parents: boolFlag(instruction, "parents") ?? false,
            excludes: instruction.flags(named: "exclude").compactMap(\.value), checksum: instruction.flag("checksum"),
            keepGitDir: boolFlag(instruction, "keep-git-dir") ?? false, unpack: boolFlag(instruction, "unpack")))
    }

    /// Whether an argument is a heredoc marker (`<<EOF`, `<<-EOF`, `3<<EOF`).
    private func isHeredocWord(_ word: String) -> Bool {
        guard word.containsByte(UInt8(ascii: "<")) else { return false }
        let bytes = Array(word.utf8)
        var index = 0
        while index < bytes.count && Bytes.isDigit(bytes[index]) { index += 1 }
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "<"), bytes[index + 1] == UInt8(ascii: "<") else { return false }
        index += 2
        if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
        while index < bytes.count && Bytes.isSpace(bytes[index]) { index += 1 }
        return index < bytes.count && !bytes[index...].contains(UInt8(ascii: "<"))
    }

    private mutating func healthcheck(_ instruction: Instruction) -> Command? {
        guard let typeArgument = instruction.arguments.first else {
            return missing(instruction, "HEALTHCHECK requires at least one argument: HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
        }
        let type = typeArgument.value.uppercased()
        let rest = instruction.arguments.dropFirst()
        if type == "NONE" {
            guard rest.isEmpty else {
                report("HealthcheckArguments", "HEALTHCHECK NONE takes no arguments", rest.first!.range)
                return nil
            }
            return .healthcheck(Healthcheck(command: nil))
        }
        guard type == "CMD" else {
            report("HealthcheckType", "Unknown type \"\(shown(type))\" in HEALTHCHECK (try CMD)", typeArgument.range,
                   fix: Fix(title: "Change to CMD", edits: [TextEdit(range: typeArgument.range, newText: "CMD")], isPreferred: false))
            return nil
        }
        guard !rest.isEmpty else {
            report("HealthcheckArguments", "Missing command after HEALTHCHECK CMD", typeArgument.range)
            return nil
        }
        var check = Healthcheck(command: CommandLine(arguments: rest.map(\.value), isExec: instruction.form == .exec))
        for name in ["interval", "timeout", "start-period", "start-interval"] {
            guard let flag = instruction.flag(name), let value = flag.value, !value.isEmpty else { continue }
            switch GoDuration.parse(value) {
            case .failure(let error):
                report("InvalidDuration", "\(error.message) in --\(name)", flag.rawValue?.range ?? flag.range)
                return nil
            case .success(let seconds):
                if seconds != 0 && seconds < 0.001 {
                    report("InvalidDuration", "Interval \"\(name)\" cannot be less than 1ms", flag.rawValue?.range ?? flag.range)
                    return nil
                }
                switch name {
                case "interval": check.interval = seconds
                case "timeout": check.timeout = seconds
                case "start-period": check.startPeriod = seconds
                default: check.startInterval = seconds
                }
            }
        }
        if let flag = instruction.flag("retries"), let value = flag.value, !value.isEmpty {
            guard let retries = Int32(value) else {
                report("InvalidRetries", "--retries must be a whole number, not \"\(value)\"", flag.rawValue?.range ?? flag.range)
                return nil
            }
            guard retries >= 0 else {
                report("InvalidRetries", "--retries cannot be negative (\(retries))", flag.rawValue?.range ?? flag.range)
                return nil
            }
            check.retries = Int(retries)
        }
        return .healthcheck(check)
    }

    private mutating func onbuild(_ instruction: Instruction) -> Command? {
        guard let trigger = instruction.trigger.first else {
            return missing(instruction, "ONBUILD requires at least one argument: ONBUILD INSTRUCTION")
        }
        switch trigger.keyword.text.uppercased() {
        case "ONBUILD":
            report("OnbuildTrigger", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", trigger.keyword.range)
            return nil
        case "FROM", "MAINTAINER":
            report("OnbuildTrigger", "\(trigger.keyword.text.uppercased()) isn't allowed as an ONBUILD trigger", trigger.keyword.range)
            return nil
        default:
            break
        }
        triggerDepth += 1
        _ = command(for: trigger)
        triggerDepth -= 1
        return .onbuild(trigger)
    }
}
