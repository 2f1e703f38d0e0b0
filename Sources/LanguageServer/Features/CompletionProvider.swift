import Foundation
import DockerfileCheck
import DockerfileSyntax
import LSPTypes

/// Completion: instructions, the flags an instruction accepts, flag values (stages after `--from=`, mount types and
/// keys, network modes), variables after `$`, parser directives and their values, `AS` and stage names in FROM.
enum CompletionProvider {
    private struct Site {
        let definition: BuildDefinition
        let converter: PositionConverter
        let offset: Int
        let line: Int
        let lineStart: Int
        let context: RequestContext

        var dockerfile: Dockerfile { definition.dockerfile }
        var bytes: [UInt8] { definition.dockerfile.source.bytes }
        var markdown: Bool { context.capabilities.completionMarkdown }

        func edit(from start: Int, to end: Int? = nil, _ text: String) -> LSPTypes.TextEdit {
            LSPTypes.TextEdit(range: converter.range(from: start, to: end ?? offset), newText: text)
        }

        func item(_ label: String, _ kind: CompletionItemKind, from start: Int, to end: Int? = nil, insert: String? = nil,
                  detail: String? = nil, documentation: String? = nil, sort: String? = nil) -> CompletionItem {
            CompletionItem(label: label, kind: kind, detail: detail,
                           documentation: documentation.map { .documentation($0, markdownSupported: markdown) },
                           sortText: sort, filterText: nil, insertTextFormat: 1,
                           textEdit: edit(from: start, to: end, insert ?? label))
        }
    }

    static func completion(_ request: CompletionRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) -> CompletionList {
        let definition = snapshot.analysis.definition
        let source = definition.dockerfile.source
        let converter = PositionConverter(source: source, encoding: context.encoding)
        let offset = converter.offset(of: request.position)
        let line = source.line(containing: offset)
        let site = Site(definition: definition, converter: converter, offset: offset, line: line,
                        lineStart: source.contentStart(ofLine: line), context: context)
        return CompletionList(isIncomplete: false, items: items(site))
    }

    private static func items(_ site: Site) -> [CompletionItem] {
        let dockerfile = site.dockerfile
        let prefix = Array(site.bytes[site.lineStart..<site.offset])
        let trimmed = prefix.drop { $0 == 0x20 || $0 == 0x09 }

        // Parser directives: only while every line above is a directive.
        if trimmed.first == UInt8(ascii: "#") {
            let directiveLines = dockerfile.directives.map(\.range.start.line)
            if directiveLines == Array(0..<directiveLines.count) && site.line <= directiveLines.count {
                return directiveItems(site, Array(trimmed.dropFirst()))
            }
            return []
        }
        if let variable = variableItems(site, prefix) { return variable }

        let containing = SyntaxQueries.instructionIndex(containing: site.offset, in: dockerfile)
        if let index = containing, dockerfile.instructions[index].heredocs.contains(where: { SyntaxQueries.contains($0.bodyRange, site.offset) && site.offset > $0.bodyRange.startOffset }) {
            return []  // inside a heredoc body only variables complete
        }
        guard let index = SyntaxQueries.instructionIndex(onLine: site.line, in: dockerfile) else {
            // A blank line: any instruction can start here.
            return trimmed.allSatisfy({ Bytes.isLetter($0) }) ? keywordItems(site, from: site.offset - trimmed.count) : []
        }
        let instruction = dockerfile.instructions[index]
        if instruction.lines.lowerBound == site.line && site.offset <= instruction.keyword.range.endOffset {
            return keywordItems(site, from: instruction.keyword.range.startOffset, to: instruction.keyword.range.endOffset)
        }
        var target = instruction
        if instruction.kind == .onbuild {
            guard let trigger = instruction.trigger.first else {
                return keywordItems(site, from: wordStart(site, prefix), onbuild: true)
            }
            if site.offset <= trigger.keyword.range.endOffset {
                return keywordItems(site, from: trigger.keyword.range.startOffset, to: trigger.keyword.range.endOffset, onbuild: true)
            }
            target = trigger
        }
        return argumentItems(site, target, index: index, prefix: prefix)
    }

    /// The start of the word the cursor ends (after the last blank on the line).
    private static func wordStart(_ site: Site, _ prefix: [UInt8]) -> Int {
        var start = site.offset
        while start > site.lineStart && !Bytes.isSpace(site.bytes[start - 1]) { start -= 1 }
        return start
    }

    // MARK: Keywords

    private static func keywordItems(_ site: Site, from start: Int, to end: Int? = nil, onbuild: Bool = false) -> [CompletionItem] {
        let instructions = site.dockerfile.instructions
        let lower = instructions.filter { $0.keyword.text.hasNoASCIIUppercase }.count
        let upper = instructions.filter { $0.keyword.text.hasNoASCIILowercase }.count
        let useLowercase = lower > upper
        let beforeFirstFrom = !instructions.contains { $0.kind == .from && $0.range.startOffset < start }
        var kinds = InstructionKind.allCases
        if onbuild { kinds.removeAll { [.onbuild, .from, .maintainer].contains($0) } }
        return kinds.map { kind in
            let keyword = useLowercase ? kind.rawValue.lowercased() : kind.rawValue
            let first = beforeFirstFrom && (kind == .from || kind == .arg)
            return site.item(keyword, .keyword, from: start, to: end, insert: keyword + (end == nil ? " " : ""),
                             detail: DockerfileReference.instructions[kind]?.syntax.first,
                             documentation: DockerfileReference.markdown(for: kind),
                             sort: (first ? "0" : kind == .maintainer ? "2" : "1") + kind.rawValue)
        }
    }

    // MARK: Directives

    private static func directiveItems(_ site: Site, _ afterHash: [UInt8]) -> [CompletionItem] {
        let text = String(decoding: afterHash, as: UTF8.self)
        let nameStart = site.offset - afterHash.drop(while: { $0 == 0x20 || $0 == 0x09 }).count
        guard let equals = text.firstIndex(of: "=") else {
            guard text.trimmingLeadingBlanks.allSatisfy({ $0.isLetter }) else { return [] }
            return DockerfileReference.directives.map { doc in
                site.item(doc.name, .keyword, from: nameStart, insert: doc.name + "=",
                          detail: "# \(doc.name)=…", documentation: DockerfileReference.markdown(for: doc))
            }
        }
        let name = text[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        let value = String(text[text.index(after: equals)...])
        guard let doc = DockerfileReference.directives.first(where: { $0.name == name }) else { return [] }
        if name == "check" {
            // check=skip=A,B;error=true
            let segment = value.split(separator: ";", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            if let skip = segment.range(of: "skip=") , segment.hasPrefix("skip=") {
                let codes = segment[skip.upperBound...]
                let partial = codes.split(separator: ",", omittingEmptySubsequences: false).last.map(String.init) ?? ""
                let already = Set(codes.split(separator: ",").map(String.init))
                return Rules.all.filter { $0.isBuildKitRule && !already.contains($0.code) }.map { rule in
                    site.item(rule.code, .value, from: site.offset - partial.utf8.count, detail: rule.summary,
                              documentation: rule.url.map { "\(rule.summary)\n\n[\(rule.code)](\($0))" } ?? rule.summary)
                }
            }
            guard !segment.contains("=") else { return [] }
            return doc.values.map { site.item($0, .property, from: site.offset - segment.utf8.count) }
        }
        let typed = value.trimmingLeadingBlanks
        return doc.values.map { site.item($0, .value, from: site.offset - typed.utf8.count) }
    }

    // MARK: Variables

    /// Variables after `$` or `${`, or nil when the cursor does not follow one.
    private static func variableItems(_ site: Site, _ prefix: [UInt8]) -> [CompletionItem]? {
        var nameStart = prefix.count
        while nameStart > 0 && Bytes.isNameByte(prefix[nameStart - 1]) { nameStart -= 1 }
        var dollar = nameStart - 1
        if dollar >= 0 && prefix[dollar] == UInt8(ascii: "{") { dollar -= 1 }
        guard dollar >= 0, prefix[dollar] == UInt8(ascii: "$") else { return nil }
        if dollar > 0 && prefix[dollar - 1] == site.dockerfile.escape { return nil }  // \$ is a literal dollar
        let index = SyntaxQueries.instructionIndex(containing: site.offset, in: site.dockerfile)
            ?? SyntaxQueries.instructionCount(before: site.offset, in: site.dockerfile)
        let variables = site.definition.variables(before: index, buildArguments: site.context.settings.buildArgs)
        let start = site.lineStart + nameStart
        return variables.values.sorted { $0.name < $1.name }.map { variable in
            let origin: String
            switch variable.origin {
            case .globalArg: origin = "global ARG"
            case .arg: origin = "ARG"
            case .env: origin = "ENV"
            case .predefined: origin = "predefined"
            }
            let value = variable.value.map { "= \(shown($0))" } ?? "(no value)"
            return site.item(variable.name, .variable, from: start, detail: "\(origin) \(value)",
                             sort: (variable.origin == .predefined ? "1" : "0") + variable.name)
        }
    }

    // MARK: Arguments

    private static func argumentItems(_ site: Site, _ instruction: Instruction, index: Int, prefix: [UInt8]) -> [CompletionItem] {
        guard let kind = instruction.kind else { return [] }
        let start = wordStart(site, prefix)
        let word = String(decoding: site.bytes[start..<site.offset], as: UTF8.self)
        let afterArguments = (instruction.argumentText?.range.startOffset).map { $0 < start } ?? false
        let stageIndex = site.definition.stage(containing: index)?.index

        if word.hasPrefix("--") && !afterArguments {
            if let equals = word.firstIndex(of: "=") {
                let name = String(word[word.index(word.startIndex, offsetBy: 2)..<equals])
                let value = String(word[word.index(after: equals)...])
                return flagValueItems(site, kind: kind, flag: name, value: value, stageIndex: stageIndex, index: index)
            }
            let present = Set(instruction.flags.filter { $0.range.endOffset < start || $0.range.startOffset > site.offset }.map(\.name))
            return (DockerfileReference.flags[kind] ?? []).filter { flag in
                instructionFlags[kind]?[flag.name] == .strings || !present.contains(flag.name)
            }.map { flag in
                let insert = "--" + flag.name + (flag.value == nil ? "" : "=")
                return site.item("--" + flag.name, .property, from: start, insert: insert,
                                 detail: flag.value.map { "--\(flag.name)=\($0)" } ?? "--\(flag.name)",
                                 documentation: DockerfileReference.markdown(for: flag, of: kind))
            }
        }
        // The position among the words after the flags.
        let wordIndex = instruction.arguments.filter { $0.range.endOffset < start }.count
        switch kind {
        case .from:
            if wordIndex == 0 {
                var items = stageItems(site, before: stageIndex ?? site.definition.stages.count, from: start)
                items.append(site.item("scratch", .module, from: start, detail: "an empty base image"))
                return items
            }
            if wordIndex == 1 {
                let fromKeyword = instruction.keyword.text
                let keyword = fromKeyword.hasNoASCIIUppercase ? "as" : "AS"
                return [site.item(keyword, .keyword, from: start, insert: keyword + " ", detail: "AS <name>: name the stage")]
            }
            return []
        case .healthcheck where wordIndex == 0:
            return [site.item("CMD", .keyword, from: start, insert: "CMD ", detail: "HEALTHCHECK CMD <command>"),
                    site.item("NONE", .keyword, from: start, detail: "turn off the base image's check")]
        default:
            return []
        }
    }

    private static func stageItems(_ site: Site, before stageIndex: Int, from start: Int) -> [CompletionItem] {
        site.definition.stages.prefix(stageIndex).compactMap { stage in
            guard let name = stage.name else { return nil }
            let from = site.dockerfile.instructions[stage.fromIndex]
            return site.item(name, .module, from: start, detail: "stage \(stage.index): \(shown(from.logicalText, limit: 80))")
        }
    }

    private static func flagValueItems(_ site: Site, kind: InstructionKind, flag: String, value: String, stageIndex: Int?,
                                       index: Int) -> [CompletionItem] {
        let start = site.offset - value.utf8.count
        switch (kind, flag) {
        case (.copy, "from"):
            return stageItems(site, before: stageIndex ?? 0, from: start)
        case (.run, "mount"):
            let segment = value.split(separator: ",", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            let segmentStart = site.offset - segment.utf8.count
            guard let equals = segment.firstIndex(of: "=") else {
                return DockerfileReference.mountKeys.map { key in
                    site.item(key.name, .property, from: segmentStart, insert: key.name + "=", detail: key.summary)
                }
            }
            let key = String(segment[..<equals])
            let valueStart = site.offset - segment[segment.index(after: equals)...].utf8.count
            switch key {
            case "type": return ["bind", "cache", "tmpfs", "secret", "ssh"].map { site.item($0, .value, from: valueStart) }
            case "from": return stageItems(site, before: stageIndex ?? 0, from: valueStart)
            case "sharing": return ["shared", "private", "locked"].map { site.item($0, .value, from: valueStart) }
            case "readonly", "ro", "rw", "required": return ["true", "false"].map { site.item($0, .value, from: valueStart) }
            default: return []
            }
        default:
            guard let doc = DockerfileReference.flag(flag, of: kind) else { return [] }
            return doc.values.filter { !$0.hasPrefix("type=") }.map { site.item($0, .value, from: start) }
        }
    }
}

private extension String {
    var trimmingLeadingBlanks: String { String(drop { $0 == " " || $0 == "\t" }) }
}
