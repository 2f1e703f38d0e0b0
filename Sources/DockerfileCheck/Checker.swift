import DockerfileSyntax

/// Runs every check over a Dockerfile: the parser's and the typed layer's problems, then the lint rules.
///
/// Unlike BuildKit, which stops at the first error, every error and warning found is reported, each at its
/// natural place (the flag, the argument, the variable), so an editor can show them all at once.
public enum Checker {
    /// Checks Dockerfile text.
    public static func check(_ text: String, options: CheckOptions = CheckOptions()) -> [Diagnostic] {
        check(Dockerfile(parsing: text), options: options)
    }

    /// Checks a parsed Dockerfile.
    public static func check(_ dockerfile: Dockerfile, options: CheckOptions = CheckOptions()) -> [Diagnostic] {
        check(BuildDefinition(dockerfile), options: options)
    }

    /// Checks a typed Dockerfile.
    public static func check(_ definition: BuildDefinition, options: CheckOptions = CheckOptions()) -> [Diagnostic] {
        var context = CheckContext(definition: definition, options: options)
        for problem in definition.dockerfile.problems + definition.problems {
            context.diagnostics.append(Diagnostic(code: problem.code, severity: problem.severity, range: problem.range,
                                                  message: problem.message, fix: problem.fix))
        }
        StageChecks.run(&context)
        InstructionChecks.run(&context)
        VariableChecks.run(&context)
        EngineSupport.run(&context)
        return context.finish()
    }
}

/// What the passes share: the definition, options and the diagnostics so far.
struct CheckContext {
    let definition: BuildDefinition
    let options: CheckOptions
    var diagnostics: [Diagnostic] = []

    var dockerfile: Dockerfile { definition.dockerfile }
    var source: SourceText { definition.dockerfile.source }
    var instructions: [Instruction] { definition.dockerfile.instructions }

    /// Adds a diagnostic with the rule's default severity.
    mutating func add(_ code: String, _ range: SourceRange, severity: Severity? = nil, _ message: String, fix: Fix? = nil,
                      tags: [Diagnostic.Tag] = []) {
        let level = severity ?? Rules.byCode[code]?.severity ?? .warning
        diagnostics.append(Diagnostic(code: code, severity: level, range: range, message: message, fix: fix, tags: tags))
    }

    /// The range of `bytes` inside a piece of text that starts at `base` (the whole `base` when the text spans a
    /// continuation, where offsets inside it do not map one to one).
    func range(in base: SourceRange, text: String, bytes: Range<Int>) -> SourceRange {
        guard base.endOffset - base.startOffset == text.utf8.count, bytes.upperBound <= text.utf8.count else { return base }
        return source.range(from: base.startOffset + bytes.lowerBound, to: base.startOffset + bytes.upperBound)
    }

    /// Applies the `# check=` directive and the ignored codes, and sorts.
    mutating func finish() -> [Diagnostic] {
        var directive = CheckDirective()
        if let check = dockerfile.directive("check") {
            let (parsed, problem) = CheckDirective.parse(check.value.text)
            directive = parsed
            if let problem { add("InvalidCheckDirective", check.value.range, problem) }
        }
        var result: [Diagnostic] = []
        result.reserveCapacity(diagnostics.count)
        for var diagnostic in diagnostics {
            if options.ignoredCodes.contains(diagnostic.code) { continue }
            if diagnostic.severity != .error {
                if directive.skipAll || directive.skipped.contains(diagnostic.code) { continue }
                // error=true fails Docker's build on BuildKit's checks; idpbuild's own warnings (a frontend it does not
                // run, a --from it will pull) are not Docker's errors, so they stay warnings.
                if directive.warningsAreErrors && diagnostic.severity == .warning && Rules.byCode[diagnostic.code]?.isBuildKitRule == true {
                    diagnostic.severity = .error
                }
            }
            result.append(diagnostic)
        }
        result.sort {
            $0.range.startOffset != $1.range.startOffset ? $0.range.startOffset < $1.range.startOffset : $0.code < $1.code
        }
        return result
    }
}
