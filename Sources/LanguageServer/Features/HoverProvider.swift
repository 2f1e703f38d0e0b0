import DockerfileSyntax
import LSPTypes

/// Hover: what an instruction, a flag or a directive does; a variable's value at that point; what a stage or
/// base image reference resolves to.
enum HoverProvider {
    static func hover(_ request: HoverRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) -> Hover? {
        let definition = snapshot.analysis.definition
        let dockerfile = definition.dockerfile
        let converter = PositionConverter(source: dockerfile.source, encoding: context.encoding)
        let offset = converter.offset(of: request.position)
        let markdown = context.capabilities.hoverMarkdown
        func hover(_ text: String, _ range: SourceRange) -> Hover {
            Hover(contents: .documentation(text, markdownSupported: markdown), range: converter.range(range))
        }

        for directive in dockerfile.directives where SyntaxQueries.contains(directive.range, offset) {
            guard let doc = DockerfileReference.directives.first(where: { $0.name == directive.name }) else { return nil }
            return hover(DockerfileReference.markdown(for: doc), directive.range)
        }
        guard let index = SyntaxQueries.instructionIndex(containing: offset, in: dockerfile) else { return nil }
        var instruction = dockerfile.instructions[index]
        if instruction.kind == .onbuild, let trigger = instruction.trigger.first, SyntaxQueries.contains(trigger.range, offset),
           !SyntaxQueries.contains(instruction.keyword.range, offset) {
            instruction = trigger
        }
        if SyntaxQueries.contains(instruction.keyword.range, offset) {
            guard let kind = instruction.kind else { return nil }
            return hover(DockerfileReference.markdown(for: kind), instruction.keyword.range)
        }
        let stageIndex = definition.stage(containing: index)?.index
        for flag in instruction.flags {
            if let raw = flag.rawValue, SyntaxQueries.contains(raw.range, offset), flag.name == "from", instruction.kind == .copy {
                return hover(stageText(flag.value ?? raw.text, before: stageIndex, definition), raw.range)
            }
            guard SyntaxQueries.contains(flag.range, offset) else { continue }
            guard let kind = instruction.kind, let doc = DockerfileReference.flag(flag.name, of: kind) else { return nil }
            return hover(DockerfileReference.markdown(for: doc, of: kind), flag.range)
        }
        if let reference = SyntaxQueries.variableReference(at: offset, in: dockerfile.source, escape: dockerfile.escape) {
            let text = variableText(reference.name, at: index, instruction: instruction, offset: offset, context, definition)
            return hover(text, dockerfile.source.range(from: reference.range.lowerBound, to: reference.range.upperBound))
        }
        if case .from(let from)? = definition.commands[index], SyntaxQueries.contains(from.image.range, offset) {
            return hover(imageText(from, stageIndex: stageIndex, context, definition), from.image.range)
        }
        return nil
    }

    /// The index of the instruction whose keyword is under the request's position, if any.
    static func keywordInstruction(_ request: HoverRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) -> Int? {
        let dockerfile = snapshot.analysis.definition.dockerfile
        let offset = PositionConverter(source: dockerfile.source, encoding: context.encoding).offset(of: request.position)
        guard let index = SyntaxQueries.instructionIndex(containing: offset, in: dockerfile),
              SyntaxQueries.contains(dockerfile.instructions[index].keyword.range, offset) else { return nil }
        return index
    }

    private static func line(_ instructionIndex: Int, _ definition: BuildDefinition) -> Int {
        definition.dockerfile.instructions[instructionIndex].keyword.range.start.line + 1
    }

    static func stageText(_ word: String, before stageIndex: Int?, _ definition: BuildDefinition) -> String {
        guard let stage = SyntaxQueries.stage(named: word, before: stageIndex, in: definition) else {
            return "`\(shown(word))` is not the name of an earlier stage, so it is used as an image reference."
        }
        let from = definition.dockerfile.instructions[stage.fromIndex]
        return "Stage **\(stage.name ?? String(stage.index))** (stage \(stage.index), line \(from.keyword.range.start.line + 1)):\n\n```dockerfile\n\(shown(from.logicalText, limit: 200))\n```"
    }

    static func imageText(_ from: From, stageIndex: Int?, _ context: RequestContext, _ definition: BuildDefinition) -> String {
        let global = VariableScope.global(definition, buildArguments: context.settings.buildArgs)
        let expanded = global.expandQuietly(from.image.value, lexer: ShellLexer(escape: definition.dockerfile.escape))
        if let stageIndex, definition.stage(named: expanded, before: stageIndex) != nil {
            return stageText(expanded, before: stageIndex, definition)
        }
        if expanded.lowercased() == "scratch" { return "`scratch`: an empty base, with no files at all." }
        var text = "Base image `\(shown(expanded, limit: 200))`"
        if expanded != from.image.value { text += " (expanded from `\(shown(from.image.value, limit: 200))`)" }
        return text
    }

    static func variableText(_ name: String, at index: Int, instruction: Instruction, offset: Int,
                             _ context: RequestContext, _ definition: BuildDefinition) -> String {
        let variables = definition.variables(before: index, buildArguments: context.settings.buildArgs)
        var text = "**`$\(name)`**"
        if let variable = variables[name] {
            if let value = variable.value {
                text += " = `\(shown(value, limit: 200))`"
            } else {
                text += " has no value: set it with a build argument (the `buildArgs` setting, or `--build-arg \(name)=…`)"
            }
            switch variable.origin {
            case .globalArg(let at): text += "\n\nDeclared by the global ARG on line \(line(at, definition))."
            case .arg(let at): text += "\n\nDeclared by the ARG on line \(line(at, definition))."
            case .env(let at): text += "\n\nSet by the ENV on line \(line(at, definition))."
            case .predefined: text += "\n\nPredefined by the builder."
            }
            switch variable.origin {
            case .arg, .globalArg:
                if context.settings.buildArgs[name] != nil { text += " The `buildArgs` setting gives its value." }
            default:
                break
            }
        } else {
            text += " is not set before this line (the base image may define it)."
        }
        if let heredoc = instruction.heredocs.first(where: { SyntaxQueries.contains($0.bodyRange, offset) }), !heredoc.expand {
            text += "\n\nNot expanded here: the heredoc's delimiter is quoted."
        } else if let kind = instruction.kind, [.run, .cmd, .entrypoint].contains(kind) {
            text += "\n\nThe shell expands it when the command runs."
        }
        return text
    }
}
