import DockerfileSyntax
import LSPTypes

/// The outline: stages holding their instructions, ARG/ENV/LABEL holding their keys; global ARGs at the top.
enum SymbolProvider {
    static func symbols(_ snapshot: DocumentSnapshot, _ context: RequestContext) -> DocumentSymbolResponse {
        let definition = snapshot.analysis.definition
        let dockerfile = definition.dockerfile
        let converter = PositionConverter(source: dockerfile.source, encoding: context.encoding)
        var top: [DocumentSymbol] = []
        let firstFrom = definition.stages.first?.fromIndex ?? dockerfile.instructions.count
        for index in 0..<firstFrom {
            top.append(symbol(for: index, definition, converter))
        }
        for stage in definition.stages {
            let from = dockerfile.instructions[stage.fromIndex]
            let children = stage.instructionIndices.map { symbol(for: $0, definition, converter) }
            let last = stage.instructionIndices.last.map { dockerfile.instructions[$0] } ?? from
            let selection = stage.from.nameArgument?.range ?? stage.from.image.range
            top.append(DocumentSymbol(
                name: stage.name ?? "stage \(stage.index)", detail: "FROM " + shown(stage.from.image.value, limit: 80),
                kind: .module, range: converter.range(from: from.range.startOffset, to: last.range.endOffset),
                selectionRange: converter.range(selection), children: children))
        }
        guard context.capabilities.hierarchicalDocumentSymbols else {
            return .flat(flatten(top, container: nil, uri: snapshot.uri))
        }
        return .hierarchical(top)
    }

    private static func symbol(for index: Int, _ definition: BuildDefinition, _ converter: PositionConverter) -> DocumentSymbol {
        let instruction = definition.dockerfile.instructions[index]
        var children: [DocumentSymbol] = []
        var kind = SymbolKind.function
        switch definition.commands[index] {
        case .arg(let pairs)?, .env(let pairs)?:
            kind = .variable
            children = pairs.map { pair in
                DocumentSymbol(name: pair.key, detail: pair.value.map { shown($0, limit: 60) }, kind: .variable,
                               range: converter.range(pair.range), selectionRange: converter.range(pair.keyRange), children: nil)
            }
        case .label(let pairs)?:
            kind = .property
            children = pairs.map { pair in
                DocumentSymbol(name: pair.key, detail: pair.value.map { shown($0, limit: 60) }, kind: .property,
                               range: converter.range(pair.range), selectionRange: converter.range(pair.keyRange), children: nil)
            }
        case nil where instruction.kind == nil:
            kind = .event
        default:
            break
        }
        let detail = instruction.argumentText.map { shown($0.text, limit: 60) }
        return DocumentSymbol(name: instruction.name, detail: detail, kind: kind, range: converter.range(instruction.range),
                              selectionRange: converter.range(instruction.keyword.range),
                              children: children.isEmpty ? nil : children)
    }

    private static func flatten(_ symbols: [DocumentSymbol], container: String?, uri: String) -> [SymbolInformation] {
        symbols.flatMap { symbol in
            [SymbolInformation(name: symbol.name, kind: symbol.kind, location: Location(uri: uri, range: symbol.range),
                               containerName: container)]
                + flatten(symbol.children ?? [], container: symbol.name, uri: uri)
        }
    }
}

/// Folding: multi-line instructions (continuations and heredocs), blocks of comments, and stages.
enum FoldingProvider {
    static func ranges(_ snapshot: DocumentSnapshot, _ context: RequestContext) -> [FoldingRange] {
        let definition = snapshot.analysis.definition
        let dockerfile = definition.dockerfile
        var ranges: [FoldingRange] = []
        func lastLine(_ range: SourceRange) -> Int {
            range.end.character == 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line
        }
        for stage in definition.stages {
            let from = dockerfile.instructions[stage.fromIndex]
            let last = stage.instructionIndices.last.map { dockerfile.instructions[$0] } ?? from
            let end = lastLine(last.range)
            if end > from.range.start.line {
                ranges.append(FoldingRange(startLine: from.range.start.line, endLine: end, kind: "region"))
            }
        }
        for instruction in dockerfile.instructions {
            let end = lastLine(instruction.range)
            if end > instruction.range.start.line {
                ranges.append(FoldingRange(startLine: instruction.range.start.line, endLine: end, kind: nil))
            }
        }
        var commentStart: Int?
        var commentEnd = 0
        func closeComments() {
            if let start = commentStart, commentEnd > start {
                ranges.append(FoldingRange(startLine: start, endLine: commentEnd, kind: "comment"))
            }
            commentStart = nil
        }
        for element in dockerfile.elements {
            if case .comment(let comment) = element {
                if commentStart == nil || comment.range.start.line != commentEnd + 1 {
                    closeComments()
                    commentStart = comment.range.start.line
                }
                commentEnd = comment.range.start.line
            } else {
                closeComments()
            }
        }
        closeComments()
        // A stage of one multi-line FROM folds the same lines twice: keep one.
        var seen = Set<[Int]>()
        return ranges.sorted { ($0.startLine, $0.endLine) < ($1.startLine, $1.endLine) }
            .filter { seen.insert([$0.startLine, $0.endLine]).inserted }
    }
}
