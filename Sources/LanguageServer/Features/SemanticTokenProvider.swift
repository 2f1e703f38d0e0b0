import DockerfileSyntax
import LSPTypes

/// Semantic tokens (full document): keywords, comments, directives, flags and their values, stage names, ARG/ENV
/// and LABEL keys, and variable references, including those inside heredoc bodies that expand them.
enum SemanticTokenProvider {
    private enum TokenType: Int, CaseIterable {
        case keyword, comment, macro, parameter, string, variable, property, namespace

        var name: String { "\(self)" }
    }

    private static let declaration = 1
    private static let deprecated = 2

    /// The legend in the server's capabilities.
    static let legend = ServerCapabilities.SemanticTokensLegend(
        tokenTypes: TokenType.allCases.map(\.name), tokenModifiers: ["declaration", "deprecated"])

    private struct Token {
        var start: Int
        var end: Int
        var type: TokenType
        var modifiers = 0
    }

    static func tokens(_ snapshot: DocumentSnapshot, _ context: RequestContext) -> SemanticTokens {
        let definition = snapshot.analysis.definition
        let dockerfile = definition.dockerfile
        let source = dockerfile.source
        var tokens: [Token] = []
        func add(_ range: SourceRange, _ type: TokenType, _ modifiers: Int = 0) {
            guard range.endOffset > range.startOffset else { return }
            tokens.append(Token(start: range.startOffset, end: range.endOffset, type: type, modifiers: modifiers))
        }
        for directive in dockerfile.directives {
            add(directive.nameToken.range, .macro)
            add(directive.value.range, .string)
        }
        for element in dockerfile.elements {
            if case .comment(let comment) = element { add(comment.range, .comment) }
        }
        for (index, instruction) in dockerfile.instructions.enumerated() {
            for comment in instruction.innerComments { add(comment.range, .comment) }
            for part in [instruction] + instruction.trigger {
                add(part.keyword.range, .keyword, part.kind == .maintainer ? deprecated : 0)
                for flag in part.flags {
                    add(flag.nameRange, .parameter)
                    if let value = flag.rawValue, !value.text.contains("$") {
                        add(value.range, part.kind == .copy && flag.name == "from" ? .namespace : .string)
                    }
                }
            }
            switch definition.commands[index] {
            case .from(let from)?:
                if let keyword = from.asKeyword { add(keyword.range, .keyword) }
                if let name = from.nameArgument { add(name.range, .namespace, declaration) }
            case .arg(let pairs)?, .env(let pairs)?:
                for pair in pairs { add(pair.keyRange, .variable, declaration) }
            case .label(let pairs)?:
                for pair in pairs { add(pair.keyRange, .property) }
            default:
                break
            }
            for line in instruction.lines {
                let range = source.contentStart(ofLine: line)..<source.contentEnd(ofLine: line)
                for reference in SyntaxQueries.variableReferences(source.bytes, in: range, escape: dockerfile.escape) {
                    tokens.append(Token(start: reference.range.lowerBound, end: reference.range.upperBound, type: .variable))
                }
            }
            for heredoc in instruction.heredocs where heredoc.expand {
                for reference in SyntaxQueries.variableReferences(source.bytes, in: heredoc.bodyRange.bytes, escape: dockerfile.escape) {
                    tokens.append(Token(start: reference.range.lowerBound, end: reference.range.upperBound, type: .variable))
                }
            }
        }
        tokens.sort { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        let converter = PositionConverter(source: source, encoding: context.encoding)
        var data: [Int] = []
        data.reserveCapacity(tokens.count * 5)
        var previousLine = 0
        var previousCharacter = 0
        var lastEnd = -1
        for token in tokens where token.start >= lastEnd {
            let start = converter.position(ofOffset: token.start)
            let end = converter.position(ofOffset: token.end)
            guard start.line == end.line, end.character > start.character else { continue }  // one line each
            data += [start.line - previousLine, start.line == previousLine ? start.character - previousCharacter : start.character,
                     end.character - start.character, token.type.rawValue, token.modifiers]
            previousLine = start.line
            previousCharacter = start.character
            lastEnd = token.end
        }
        return SemanticTokens(data: data)
    }
}
