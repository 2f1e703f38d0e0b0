import DockerfileSyntax

/// Stage names, their casing, instruction casing, and references between stages (`COPY --from`, `--mount from=`).
enum StageChecks {
    static func run(_ context: inout CheckContext) {
        let definition = context.definition
        var seenNames: Set<String> = []
        for stage in definition.stages {
            let fromInstruction = context.instructions[stage.fromIndex]
            guard let name = stage.from.nameArgument else { continue }
            if !name.value.hasNoASCIIUppercase {
                context.add("StageNameCasing", name.range, "Stage name '\(name.value)' should be lowercase",
                            fix: Fix(title: "Lowercase the stage name", edits: [TextEdit(range: name.range, newText: name.value.lowercased())]))
            }
            if let asKeyword = stage.from.asKeyword {
                let keyword = fromInstruction.keyword.text
                let expected: String? = keyword.hasNoASCIIUppercase ? "as" : keyword.hasNoASCIILowercase ? "AS" : nil
                if let expected, asKeyword.value != expected {
                    context.add("FromAsCasing", asKeyword.range, "'\(asKeyword.value)' and '\(keyword)' keywords' casing do not match",
                                fix: Fix(title: "Write \(expected)", edits: [TextEdit(range: asKeyword.range, newText: expected)]))
                }
            }
            let lowered = name.value.lowercased()
            if lowered == "scratch" || lowered == "context" {
                context.add("ReservedStageName", name.range, "Stage name should not use the same name as reserved stage \"\(lowered)\"")
            }
            if !seenNames.insert(lowered).inserted {
                context.add("DuplicateStageName", name.range, "Duplicate stage name \"\(lowered)\", stage names should be unique")
            }
        }
        checkInstructionCasing(&context)
        checkStageReferences(&context)
    }

    private static func checkInstructionCasing(_ context: inout CheckContext) {
        guard let firstFrom = context.definition.stages.first?.fromIndex else { return }
        var lower = 0
        var upper = 0
        for instruction in context.instructions[firstFrom...] where instruction.kind != nil {
            let keyword = instruction.keyword.text
            if keyword.hasNoASCIIUppercase { lower += 1 } else if keyword.hasNoASCIILowercase { upper += 1 }
        }
        let majorityLower = lower > upper
        for instruction in context.instructions[firstFrom...] where instruction.kind != nil {
            let keyword = instruction.keyword.text
            guard majorityLower ? !keyword.hasNoASCIIUppercase : !keyword.hasNoASCIILowercase else { continue }
            let wanted = majorityLower ? keyword.lowercased() : keyword.uppercased()
            context.add("ConsistentInstructionCasing", instruction.keyword.range,
                        "Command '\(keyword)' should match the case of the command majority (\(majorityLower ? "lowercase" : "uppercase"))",
                        fix: Fix(title: "Change to \(wanted)", edits: [TextEdit(range: instruction.keyword.range, newText: wanted)]))
        }
    }

    private static func checkStageReferences(_ context: inout CheckContext) {
        let definition = context.definition
        for stage in definition.stages {
            for index in stage.instructionIndices {
                switch definition.commands[index] {
                case .copy(let copy)?:
                    if let from = copy.from, let value = from.value, !value.isEmpty {
                        checkReference(value, range: from.rawValue?.range ?? from.range, in: stage, what: "copy from", fixable: from.rawValue != nil, &context)
                    }
                case .run(let run)?:
                    for mount in run.mounts {
                        if let from = mount.from, !from.isEmpty {
                            checkReference(from, range: mount.range, in: stage, what: "mount from", fixable: false, &context)
                        }
                    }
                default:
                    break
                }
            }
            // FROM naming the stage itself or a later stage: Docker would look for an image of that name.
            let base = stage.from.image.value.lowercased()
            if !base.containsByte(UInt8(ascii: "$")), let later = definition.stage(named: base, atOrAfter: stage.index),
               definition.stage(named: base, before: stage.index) == nil {
                let line = context.instructions[later.fromIndex].keyword.range.start.line + 1
                let message = later.index == stage.index
                    ? "FROM \(stage.from.image.value) names this stage itself: a stage can only build on an earlier stage or an image"
                    : "FROM \(stage.from.image.value) names the stage defined later (line \(line)): a stage can only build on an earlier stage; move that stage before this one"
                context.add(later.index == stage.index ? "CopyFromOwnStage" : "CopyFromLaterStage", stage.from.image.range, message)
            }
        }
    }

    private static func checkReference(_ value: String, range: SourceRange, in stage: Stage, what: String,
                                       fixable: Bool, _ context: inout CheckContext) {
        let stages = context.definition.stages
        let current = stage.name.map { "\"\($0)\"" } ?? "\(stage.index)"
        if let number = Int(value), value.allSatisfy(\.isNumber) {
            if number == stage.index {
                context.add("CopyFromOwnStage", range, "cannot \(what) stage \(number): it is the current stage")
            } else if number > stage.index {
                context.add("CopyFromLaterStage", range,
                            "cannot \(what) stage \(number), it needs to be defined before current stage \(current)")
            }
            return
        }
        let name = value.lowercased()
        if context.definition.stage(named: name, before: stage.index) != nil { return }
        if stage.name == name {
            context.add("CopyFromOwnStage", range, "cannot \(what) stage \"\(name)\": it is the current stage (circular dependency)")
            return
        }
        if context.definition.stage(named: name, atOrAfter: stage.index + 1) != nil {
            context.add("CopyFromLaterStage", range,
                        "cannot \(what) stage \"\(name)\", it needs to be defined before current stage \(current)")
            return
        }
        let earlier = stages.filter { $0.index < stage.index }.compactMap(\.name)
        if let suggestion = Suggest.closest(to: name, in: earlier) {
            context.add("CopyFromUnknownStage", range,
                        "no stage named \"\(shown(value))\" is defined before this one, so Docker will pull an image named \"\(shown(value))\" (did you mean \(suggestion)?)",
                        fix: fixable ? Fix(title: "Change to \(suggestion)", edits: [TextEdit(range: range, newText: suggestion)]) : nil)
        } else if !value.containsByte(UInt8(ascii: "/")) && !value.containsByte(UInt8(ascii: ":")) && !value.containsByte(UInt8(ascii: "@")) {
            // Copying from an image by its short name is legitimate; only a hint unless it looks like a typo.
            context.add("CopyFromUnknownStage", range, severity: .information,
                        "no stage named \"\(shown(value))\" is defined before this one, so Docker will pull the image \"\(shown(value))\"; if you meant a stage, define it earlier with FROM … AS \(shown(name))")
        }
    }
}
