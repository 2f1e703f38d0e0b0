import Testing
@testable import DockerfileSyntax

/// Any bytes give diagnostics, never a crash, a hang or superlinear work.
@Suite struct RobustnessTests {
    @Test func randomBytesNeverCrash() {
        var generator = SplitMix(seed: 42)
        let alphabet: [UInt8] = Array("FROM RUN COPY ENV ARG <<EOF \\`[]{}\"'$#=-:,\n\t ".utf8) + [0, 0xFF, 0xC3, 0x80]
        for _ in 0..<300 {
            let length = Int(generator.next() % 400)
            let bytes = (0..<length).map { _ in
                generator.next() % 3 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : alphabet[Int(generator.next() % UInt64(alphabet.count))]
            }
            let file = Dockerfile(bytes: bytes)
            _ = BuildDefinition(file).allProblems
            for instruction in file.instructions {
                #expect(instruction.range.startOffset <= instruction.range.endOffset)
                #expect(instruction.range.endOffset <= bytes.count)
            }
        }
    }

    @Test func tenMegabyteLineIsReportedNotFatal() {
        let line = "RUN echo " + String(repeating: "x", count: 10_000_000)
        let file = Dockerfile(parsing: "FROM a\n" + line + "\n")
        #expect(file.instructions.count == 2)
        let problem = file.problems.first { $0.code == "LineTooLong" }
        #expect(problem?.range.start.line == 1)
        #expect((problem?.message.count ?? 0) < 200)
    }

    @Test func deeplyNestedJSONIsRejectedWithoutRecursion() {
        let text = "CMD [" + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "]"
        let file = Dockerfile(parsing: text)
        #expect(file.instructions.first?.form == .shell)
    }

    @Test func everythingUnterminated() {
        for text in ["RUN <<EOF", "CMD [\"", "ENV A=\"x", "RUN a \\", "# escape=", "COPY --from=\"x a b", "ENV A=${B",
                     "HEALTHCHECK --interval=", "FROM \\\n", "ONBUILD", "\"\"\"", "ARG ${"] {
            let file = Dockerfile(parsing: text)
            _ = BuildDefinition(file).allProblems
        }
    }

    @Test func manyHeredocsOnOneLineStayLinear() {
        let markers = (0..<2_000).map { "<<E\($0)" }.joined(separator: " ")
        let bodies = (0..<2_000).map { "E\($0)" }.joined(separator: "\n")
        let file = Dockerfile(parsing: "RUN cat " + markers + "\n" + bodies + "\n")
        #expect(file.instructions[0].heredocs.count == 2_000)
    }
}

/// A small deterministic generator for the fuzz loop.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
