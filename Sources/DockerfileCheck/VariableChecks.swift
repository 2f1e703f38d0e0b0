import DockerfileSyntax
import OCI

/// Variables: undefined ones, substitutions Docker cannot process, and what FROM becomes with the ARG defaults.
enum VariableChecks {
    /// A word that Docker expands, with where it is and whether undefined variables in it are reported.
    private struct Word {
        var text: String
        var range: SourceRange
        var reportUndefined = true
        var rawBody = false
    }

    static func run(_ context: inout CheckContext) {
        let definition = context.definition
        let global = VariableScope.global(definition, buildArguments: context.options.buildArguments)
        let lexer = ShellLexer(escape: context.dockerfile.escape)
        let globalNames = global.variables.compactMap { name, variable -> String? in
            if case .globalArg = variable.origin { return name } else { return nil }
        }.sorted()
        for stage in definition.stages {
            checkFrom(stage, global: global, globalNames: globalNames, lexer: lexer, &context)
        }
        var bodyLexer = ShellLexer(escape: UInt8(ascii: "\\"))
        bodyLexer.skipProcessQuotes = true
        // Walk the stages in order, keeping each one's final scope for the stages built on it.
        var finalScopes: [Int: [String: Variable]] = [:]
        var baseImages: [Int: String?] = [:]
        for stage in definition.stages {
            let parent = definition.parentStage(of: stage, global: global)
            var scope = global.stageStart(inheriting: parent.flatMap { finalScopes[$0.index] } ?? [:])
            let baseImage: String? = parent.map { baseImages[$0.index] ?? nil }
                ?? (global.expandQuietly(stage.from.image.value, lexer: lexer).lowercased() == "scratch" ? nil : shown(stage.from.image.value))
            baseImages[stage.index] = baseImage
            for index in stage.instructionIndices {
                guard let command = definition.commands[index] else { continue }
                forEachWord(of: command) { word in
                    let expansion: Expansion
                    do throws(ExpansionError) {
                        expansion = try (word.rawBody ? bodyLexer : lexer).process(word.text) { name in
                            scope.lookup(name).map { $0.value ?? "" }
                        }
                    } catch {
                        context.add("InvalidSubstitution", context.range(in: word.range, text: word.text, bytes: error.range),
                                    "\(error.message) in \(context.instructions[index].name)")
                        return
                    }
                    guard word.reportUndefined else { return }
                    for reference in expansion.references where !reference.isSet {
                        reportUndefined(reference, in: word, scope: scope, baseImage: baseImage, &context)
                    }
                }
                scope.apply(command, at: index, lexer: lexer)
            }
            finalScopes[stage.index] = scope.variables
        }
    }

    private static func reportUndefined(_ reference: VariableReference, in word: Word, scope: VariableScope,
                                        baseImage: String?, _ context: inout CheckContext) {
        let range = context.range(in: word.range, text: word.text, bytes: reference.range)
        let suggestion = Suggest.closest(to: reference.name, in: scope.variables.keys.sorted(), caseSensitive: true)
        var message = "Usage of undefined variable '$\(shown(reference.name))'"
        if let suggestion { message += " (did you mean $\(suggestion)?)" }
        // Offline we cannot see the base image's ENV: a name that is not a likely typo may well come from it.
        var severity = Severity.warning
        if let baseImage, suggestion == nil {
            message += "; declare it with ARG or ENV, unless the base image \(baseImage) sets it"
            severity = .information
        }
        var fix: Fix?
        if let suggestion, range != word.range {
            let nameBytes = Array(word.text.utf8)[reference.range]
            if let nameStart = findName(reference.name, in: Array(nameBytes)) {
                let nameRange = context.range(in: range, text: String(decoding: nameBytes, as: UTF8.self),
                                              bytes: nameStart..<nameStart + reference.name.utf8.count)
                fix = Fix(title: "Change to $\(suggestion)", edits: [TextEdit(range: nameRange, newText: suggestion)])
            }
        }
        context.add("UndefinedVar", range, severity: severity, message, fix: fix)
    }

    private static func findName(_ name: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(name.utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }

    /// Calls `body` with every word of `command` that Docker expands.
    private static func forEachWord(of command: Command, _ body: (Word) -> Void) {
        switch command {
        case .env(let pairs), .label(let pairs):
            for pair in pairs {
                body(Word(text: pair.key, range: pair.keyRange))
                if let value = pair.value, let range = pair.valueRange { body(Word(text: value, range: range)) }
            }
        case .arg(let pairs):
            for pair in pairs {
                if let value = pair.value { body(Word(text: value, range: pair.valueRange ?? pair.range)) }
            }
        case .copy(let copy):
            for source in copy.sources { body(Word(text: source.value, range: source.range)) }
            if let destination = copy.destination { body(Word(text: destination.value, range: destination.range)) }
            for flag in [copy.chown, copy.chmod, copy.checksum] {
                if let raw = flag?.rawValue { body(Word(text: raw.text, range: raw.range)) }
            }
            for heredoc in copy.heredocSources where heredoc.expand {
                body(Word(text: heredoc.content, range: heredoc.bodyRange, rawBody: true))
            }
        case .workdir(let argument), .user(let argument), .stopSignal(let argument):
            body(Word(text: argument.value, range: argument.range))
        case .volume(let arguments):
            for argument in arguments { body(Word(text: argument.value, range: argument.range)) }
        case .expose(let arguments):
            for argument in arguments { body(Word(text: argument.value, range: argument.range, reportUndefined: false)) }
        default:
            break
        }
    }

    private static func checkFrom(_ stage: Stage, global: VariableScope, globalNames: [String], lexer: ShellLexer,
                                  _ context: inout CheckContext) {
        let definition = context.definition
        let image = stage.from.image
        let lookup: (String) -> String? = { global.lookup($0).map { $0.value ?? "" } }
        let expansion: Expansion
        do {
            expansion = try lexer.process(image.value, lookup: lookup)
        } catch {
            context.add("InvalidSubstitution", context.range(in: image.range, text: image.value, bytes: error.range),
                        "\(error.message) in FROM")
            return
        }
        var undeclared = false
        for reference in expansion.references where !reference.isSet {
            undeclared = true
            let suggestion = Suggest.closest(to: reference.name, in: globalNames, caseSensitive: true)
            context.add("UndefinedArgInFrom", context.range(in: image.range, text: image.value, bytes: reference.range),
                        "FROM argument '\(shown(reference.name))' is not declared" + (suggestion.map { " (did you mean \($0)?)" } ?? "")
                            + ": declare it with ARG before the first FROM")
        }
        let value = expansion.value
        if !expansion.references.isEmpty {
            if !undeclared, value.isEmpty || (value.lowercased() != "scratch" && referenceProblem(value) != nil) {
                context.add("InvalidDefaultArgInFrom", image.range,
                            "Default value for ARG \(shown(image.value)) results in empty or invalid base image name (\"\(shown(value))\"); give the ARG a default or pass --build-arg")
            }
        } else if value.lowercased() != "scratch" {
            let isStage = definition.stage(named: value, before: stage.index) != nil
            if isStage && value != value.lowercased() {
                context.add("InvalidBaseImage", image.range,
                            "invalid reference format: repository name (\(shown(value))) must be lowercase; stage names are matched in lowercase, so write FROM \(shown(value.lowercased()))",
                            fix: Fix(title: "Write \(value.lowercased())", edits: [TextEdit(range: image.range, newText: value.lowercased())]))
            } else if !isStage, let problem = referenceProblem(value) {
                context.add("InvalidBaseImage", image.range, "invalid reference format: \(problem)")
            }
        }
        checkPlatform(stage, global: global, lexer: lexer, lookup: lookup, globalNames: globalNames, &context)
    }

    /// Why `text` is not a valid image reference (distribution's grammar, as `OCI.Reference` parses it), or nil.
    private static func referenceProblem(_ text: String) -> String? {
        do {
            _ = try Reference(parsing: text)
            return nil
        } catch OCIError.invalidReference(_, let reason) {
            return shown(reason, limit: 200)
        } catch {
            return shown("\(error)", limit: 200)
        }
    }

    private static func checkPlatform(_ stage: Stage, global: VariableScope, lexer: ShellLexer, lookup: (String) -> String?,
                                      globalNames: [String], _ context: inout CheckContext) {
        guard let platform = stage.from.platform, let raw = platform.rawValue else { return }
        let expansion: Expansion
        do {
            expansion = try lexer.process(raw.text, lookup: lookup)
        } catch {
            context.add("InvalidSubstitution", context.range(in: raw.range, text: raw.text, bytes: error.range),
                        "\(error.message) in FROM --platform")
            return
        }
        for reference in expansion.references where !reference.isSet {
            context.add("UndefinedArgInFrom", context.range(in: raw.range, text: raw.text, bytes: reference.range),
                        "FROM argument '\(reference.name)' is not declared: declare it with ARG before the first FROM")
        }
        if raw.text == "$TARGETPLATFORM" || raw.text == "${TARGETPLATFORM}" {
            var end = platform.range.endOffset
            let bytes = context.source.bytes
            while end < bytes.count && (bytes[end] == 0x20 || bytes[end] == 0x09) { end += 1 }
            context.add("RedundantTargetPlatform", platform.range,
                        "Setting platform to predefined \(raw.text) in FROM is redundant as this is the default behavior",
                        fix: Fix(title: "Remove --platform", edits: [TextEdit(range: context.source.range(from: platform.range.startOffset, to: end), newText: "")]))
        } else if expansion.references.isEmpty {
            let parts = expansion.value.split(separator: "/")
            guard parts.count >= 2 else { return }
            let name = stage.name ?? ""
            if name.contains(String(parts[0])) || name.contains(String(parts[1])) { return }
            context.add("FromPlatformFlagConstDisallowed", raw.range,
                        "FROM --platform flag should not use constant value \"\(shown(expansion.value))\"; use $BUILDPLATFORM or $TARGETPLATFORM")
        }
    }
}
