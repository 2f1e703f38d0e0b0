/// One build stage: a FROM and the instructions up to the next FROM.
public struct Stage: Sendable, Hashable {
    /// Position among the stages, from 0.
    public var index: Int
    /// The stage name, lowercased, if `AS name` was given.
    public var name: String?
    /// The FROM.
    public var from: From
    /// Index of the FROM in `Dockerfile.instructions`.
    public var fromIndex: Int
    /// Indices of the stage's other instructions in `Dockerfile.instructions`.
    public var instructionIndices: Range<Int>
}

/// The typed view of a Dockerfile: a `Command` per instruction, global ARGs, stages, and the problems found
/// while typing the instructions (BuildKit's `instructions` layer).
public struct BuildDefinition: Sendable {
    /// The syntax tree.
    public let dockerfile: Dockerfile
    /// The typed command of each instruction, nil when it could not be typed (unknown keyword, bad arguments).
    public let commands: [Command?]
    /// Indices of the ARG instructions before the first FROM (usable in FROM lines only).
    public let globalArgIndices: [Int]
    /// The stages in order.
    public let stages: [Stage]
    /// Problems of the typed layer (flags, argument counts, values).
    public let problems: [SyntaxProblem]
    /// Stage indices by (lowercased) name, in file order.
    public let stageIndicesByName: [String: [Int]]

    /// Types every instruction of `dockerfile`.
    public init(_ dockerfile: Dockerfile) {
        self.dockerfile = dockerfile
        var parser = CommandParser(source: dockerfile.source, escape: dockerfile.escape)
        var commands: [Command?] = []
        commands.reserveCapacity(dockerfile.instructions.count)
        for instruction in dockerfile.instructions {
            commands.append(parser.command(for: instruction))
        }
        var globalArgs: [Int] = []
        var stages: [Stage] = []
        for (index, instruction) in dockerfile.instructions.enumerated() {
            if case .from(let from)? = commands[index] {
                if var last = stages.popLast() {
                    last.instructionIndices = last.fromIndex + 1..<index
                    stages.append(last)
                }
                stages.append(Stage(index: stages.count, name: from.stageName, from: from, fromIndex: index,
                                    instructionIndices: index + 1..<dockerfile.instructions.count))
            } else if stages.isEmpty {
                if instruction.kind == .arg {
                    globalArgs.append(index)
                } else if instruction.kind != nil && instruction.kind != .from {
                    parser.problems.append(SyntaxProblem(
                        code: "InstructionBeforeFrom", severity: .error,
                        message: "no build stage in current context: \(instruction.name) must come after a FROM instruction (only ARG may come before the first FROM)",
                        range: instruction.keyword.range))
                }
            }
        }
        if stages.isEmpty, let first = dockerfile.instructions.first {
            parser.problems.append(SyntaxProblem(
                code: "NoFromInstruction", severity: .error,
                message: "the Dockerfile has no FROM instruction: a build stage starts with FROM (use FROM scratch for an empty image)",
                range: first.keyword.range))
        }
        self.commands = commands
        self.globalArgIndices = globalArgs
        self.stages = stages
        self.problems = parser.problems
        var byName: [String: [Int]] = [:]
        for stage in stages {
            if let name = stage.name { byName[name, default: []].append(stage.index) }
        }
        self.stageIndicesByName = byName
    }

    /// The stage named `name` (case-insensitive); the later one wins when names repeat, as in Docker.
    public func stage(named name: String) -> Stage? {
        stageIndicesByName[name.lowercased()]?.last.map { stages[$0] }
    }

    /// The last stage named `name` (case-insensitive) that comes before stage index `index`.
    public func stage(named name: String, before index: Int) -> Stage? {
        stageIndicesByName[name.lowercased()]?.last { $0 < index }.map { stages[$0] }
    }

    /// The first stage named `name` (case-insensitive) at or after stage index `index`.
    public func stage(named name: String, atOrAfter index: Int) -> Stage? {
        stageIndicesByName[name.lowercased()]?.first { $0 >= index }.map { stages[$0] }
    }

    /// The stage an instruction belongs to (its FROM included), or nil before the first FROM.
    public func stage(containing instructionIndex: Int) -> Stage? {
        var low = 0
        var high = stages.count - 1
        var found: Stage?
        while low <= high {
            let mid = (low + high) / 2
            if stages[mid].fromIndex <= instructionIndex {
                found = stages[mid]
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found
    }

    /// The earlier stage that `stage` is built on (`FROM name` naming it), if any.
    public func parentStage(of stage: Stage, global: VariableScope) -> Stage? {
        let base = global.expandQuietly(stage.from.image.value, lexer: ShellLexer(escape: dockerfile.escape))
        return self.stage(named: base, before: stage.index)
    }

    /// Syntax and typing problems together, in file order.
    public var allProblems: [SyntaxProblem] {
        (dockerfile.problems + problems).sorted { $0.range.startOffset < $1.range.startOffset }
    }
}
