import DockerfileSyntax

/// Lookups in the syntax tree by byte offset, shared by hover, completion and tokens.
enum SyntaxQueries {
    /// Whether `offset` is inside `range` or at its end (a cursor right after a word is on it).
    static func contains(_ range: SourceRange, _ offset: Int) -> Bool {
        range.startOffset <= offset && offset <= range.endOffset
    }

    /// The index of the instruction whose range (heredoc bodies included) holds `offset`.
    static func instructionIndex(containing offset: Int, in dockerfile: Dockerfile) -> Int? {
        let instructions = dockerfile.instructions
        var low = 0
        var high = instructions.count - 1
        var found: Int?
        while low <= high {
            let mid = (low + high) / 2
            if instructions[mid].range.startOffset <= offset {
                found = mid
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        guard let found, contains(instructions[found].range, offset) else { return nil }
        return found
    }

    /// The index of the instruction whose own lines (heredoc bodies excluded) include `line`.
    static func instructionIndex(onLine line: Int, in dockerfile: Dockerfile) -> Int? {
        let instructions = dockerfile.instructions
        var low = 0
        var high = instructions.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let lines = instructions[mid].lines
            if lines.contains(line) { return mid }
            if lines.lowerBound > line { high = mid - 1 } else { low = mid + 1 }
        }
        return nil
    }

    /// The number of instructions that start before `offset` (the index a new instruction there would get).
    static func instructionCount(before offset: Int, in dockerfile: Dockerfile) -> Int {
        dockerfile.instructions.prefix { $0.range.startOffset < offset }.count
    }

    /// A variable reference (`$NAME`, `${NAME}`, `${NAME:-x}`) in `bytes` that holds `offset`.
    struct VariableReferenceSite {
        /// The variable's name.
        var name: String
        /// From `$` to the end of the name (or the closing brace).
        var range: Swift.Range<Int>
        /// The name's bytes.
        var nameRange: Swift.Range<Int>
    }

    /// Every variable reference in `bytes[range]`, skipping characters escaped with `escape`.
    static func variableReferences(_ bytes: [UInt8], in range: Swift.Range<Int>, escape: UInt8) -> [VariableReferenceSite] {
        var found: [VariableReferenceSite] = []
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            if byte == escape {
                index += 2
                continue
            }
            guard byte == UInt8(ascii: "$"), index + 1 < range.upperBound else {
                index += 1
                continue
            }
            let braced = bytes[index + 1] == UInt8(ascii: "{")
            let nameStart = index + (braced ? 2 : 1)
            var nameEnd = nameStart
            while nameEnd < range.upperBound && Bytes.isNameByte(bytes[nameEnd]) { nameEnd += 1 }
            guard nameEnd > nameStart, !Bytes.isDigit(bytes[nameStart]) else {
                index += 1
                continue
            }
            var end = nameEnd
            if braced {
                var depth = 1
                var scan = nameEnd
                while scan < range.upperBound && bytes[scan] != 0x0A {
                    if bytes[scan] == UInt8(ascii: "{") { depth += 1 }
                    if bytes[scan] == UInt8(ascii: "}") {
                        depth -= 1
                        if depth == 0 {
                            end = scan + 1
                            break
                        }
                    }
                    scan += 1
                }
            }
            found.append(VariableReferenceSite(name: String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self),
                                               range: index..<end, nameRange: nameStart..<nameEnd))
            index = nameEnd
        }
        return found
    }

    /// The variable reference at `offset` on its line.
    static func variableReference(at offset: Int, in source: SourceText, escape: UInt8) -> VariableReferenceSite? {
        let line = source.line(containing: offset)
        let range = source.contentStart(ofLine: line)..<source.contentEnd(ofLine: line)
        return variableReferences(source.bytes, in: range, escape: escape)
            .first { $0.range.lowerBound <= offset && offset < $0.range.upperBound }
    }

    /// The stage a `--from`/`from=`/`FROM` word names, before stage `before` (by name, or by index for numbers).
    static func stage(named word: String, before stageIndex: Int?, in definition: BuildDefinition) -> Stage? {
        if let number = Int(word), number >= 0, number < definition.stages.count {
            return definition.stages[number]
        }
        if let stageIndex { return definition.stage(named: word, before: stageIndex) }
        return definition.stage(named: word)
    }
}
