// The planner on its own, as BuildKit's dockerfile2llb conversion tests: a Dockerfile, a context folder and a store
// seen through `PlanEnvironment` in, a plan out. Nothing runs, nothing needs root; each test takes milliseconds. The
// environment here is a small in-memory one (the store's own conformance is exercised by every build test).
import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import OCI
import Testing

/// Base images, cache records and cache files in memory.
final class MemoryEnvironment: PlanEnvironment, @unchecked Sendable {
    private let lock = NSLock()
    private var images: [String: BaseImage] = [:]
    private var records: Set<Digest> = []
    private var files: [String: [UInt8]] = [:]

    func add(_ image: BaseImage) { lock.withLock { images[image.reference] = image } }
    func image(_ reference: String, platform: Platform) -> BaseImage? { lock.withLock { images[reference] } }
    func hasCacheRecord(_ key: Digest) -> Bool { lock.withLock { records.contains(key) } }
    func readCacheFile(_ name: String) -> [UInt8]? { lock.withLock { files[name] } }
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws { lock.withLock { files[name] = bytes } }

    /// What running `plan` leaves behind: a record for every keyed step and its slot's inputs.
    func markBuilt(_ plan: BuildPlan) {
        for step in plan.steps {
            if let key = step.key { lock.withLock { _ = records.insert(key) } }
            if let slot = step.slot, let inputs = step.inputs, let bytes = try? JSONEncoder().encode(inputs) {
                lock.withLock { files[slot] = Array(bytes) }
            }
        }
    }
}

/// A base image named `reference` with an env and ONBUILD triggers; `digest` from `seed` so tests can "move" it.
func baseImage(_ reference: String = "docker.io/library/alpine:3.19", seed: String = "1", env: [String] = ["PATH=/usr/bin:/bin"],
               onBuild: [String]? = nil) -> BaseImage {
    var container = ContainerConfig()
    container.Env = env
    container.OnBuild = onBuild
    let config = ImageConfig(architecture: Platform.current.architecture, os: "linux", config: container, rootfs: RootFS(diffIDs: []))
    return BaseImage(reference: reference, digest: Digest.sha256(of: Array("\(reference) \(seed)".utf8)), config: config, layers: [])
}

/// A context folder with files, removed at the end of the test.
final class Context {
    let path: String
    init(_ files: [String: String]) throws {
        path = NSTemporaryDirectory() + "/idpbuild-plan-" + UUID().uuidString
        for (name, text) in files {
            let file = path + "/" + name
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: false, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func write(_ name: String, _ text: String) throws { try text.write(toFile: path + "/" + name, atomically: false, encoding: .utf8) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct Planning {
    let environment = MemoryEnvironment()

    init(base: BaseImage = baseImage()) { environment.add(base) }

    func plan(_ dockerfile: String, _ context: Context, buildArgs: [String: String] = [:], target: String? = nil, noCache: Bool = false,
              allow: Set<BuildEntitlement> = []) throws -> BuildPlan {
        let options = BuildOptions(dockerfilePath: context.path + "/Dockerfile", contextDirectory: context.path, buildArguments: buildArgs,
                                   target: target, noCache: noCache, entitlements: allow, dockerfileContents: Data(dockerfile.utf8))
        return try Planner(environment: environment).plan(options)
    }
}

extension BuildPlan {
    /// The step of the instruction on `line` (1-based).
    func step(line: Int) -> PlannedStep? { steps.first { $0.instructionIndex != nil && $0.range.start.line == line - 1 } }
    /// The RUN environment of the instruction on `line`.
    func environment(line: Int) -> [String] {
        if case .run(let inputs)? = step(line: line)?.operation { return inputs.environment }
        return []
    }
    func reason(line: Int) -> String? {
        if case .willRun(let reason)? = step(line: line)?.verdict { return reason.description }
        return nil
    }
}

@Suite struct PlannerTests {
    @Test func argsAndEnvAreScopedAsDockerScopesThem() throws {
        let context = try Context([:])
        let dockerfile = """
            ARG BASE=alpine:3.19
            ARG VERSION=1.0
            FROM $BASE AS build
            ARG VERSION
            ARG LOCAL=default
            ENV LOCAL=from-env
            RUN echo $VERSION $LOCAL
            FROM $BASE
            RUN echo $VERSION
            """
        let plan = try Planning().plan(dockerfile, context, buildArgs: ["LOCAL": "given"], target: "build")
        #expect(plan.stages.map(\.index) == [0])
        guard case .image(let reference, let image)? = plan.stage(0)?.base else { Issue.record("no image base"); return }
        #expect(reference == "docker.io/library/alpine:3.19" && image != nil)
        // The global ARG reaches the stage that declares it; ENV wins over an ARG of the same name.
        let first = plan.environment(line: 7)
        #expect(first.contains("VERSION=1.0") && first.contains("LOCAL=from-env") && !first.contains("LOCAL=given"))
        // Not declared in the second stage: not in its environment (and the first stage is not needed by it).
        let last = try Planning().plan(dockerfile, context)
        #expect(last.stages.map(\.index) == [1])
        #expect(!last.environment(line: 9).contains { $0.hasPrefix("VERSION=") })
    }

    @Test func onlyTheStagesTheTargetNeedsArePlannedDependenciesFirst() throws {
        let context = try Context(["a.txt": "a"])
        let dockerfile = """
            FROM alpine:3.19 AS tools
            RUN make tools
            FROM alpine:3.19 AS unused
            RUN exit 7
            FROM alpine:3.19 AS app
            COPY a.txt /a.txt
            RUN --mount=type=bind,from=tools,target=/t true
            FROM app AS final
            COPY --from=tools /bin/tool /usr/bin/tool
            """
        let plan = try Planning().plan(dockerfile, context)
        #expect(plan.stages.map(\.index) == [0, 2, 3])
        #expect(plan.stage(3)?.dependencies == [2, 0])
        #expect(plan.stage(2)?.dependencies == [0])
        #expect(plan.steps.map(\.number) == Array(1...plan.totalSteps))
        // Numbers follow the plan, not timing: the same Dockerfile always numbers its steps the same way.
        #expect(try Planning().plan(dockerfile, context).steps.map { "\($0.number) \($0.display)" } == plan.steps.map { "\($0.number) \($0.display)" })
        let app = try Planning().plan(dockerfile, context, target: "app")
        #expect(app.stages.map(\.index) == [0, 2])
        #expect(throws: BuildError.self) { _ = try Planning().plan(dockerfile, context, target: "nope") }
    }

    @Test func onbuildTriggersOfTheBaseAreStepsOfTheFrom() throws {
        let context = try Context(["x": "1"])
        let planning = Planning(base: baseImage(onBuild: ["COPY x /x", "RUN echo triggered"]))
        let plan = try planning.plan("FROM alpine:3.19\nRUN echo mine\n", context)
        let steps = try #require(plan.stage(0)?.steps)
        #expect(steps.map(\.display) == ["FROM alpine:3.19", "COPY x /x", "RUN echo triggered", "RUN echo mine"])
        #expect(steps[1].instructionIndex == nil && steps[1].number == steps[0].number)
        #expect(plan.stage(0)?.config.config?.OnBuild == nil, "triggers are not inherited further")
        let forbidden = Planning(base: baseImage(onBuild: ["FROM scratch"]))
        #expect(throws: BuildError.self) { _ = try forbidden.plan("FROM alpine:3.19\n", context) }
    }

    @Test func aKeyChangesExactlyWhenAnInputChanges() throws {
        let context = try Context(["src/a.txt": "a", "other.txt": "o"])
        let planning = Planning()
        let dockerfile = "FROM alpine:3.19\nARG VERSION=1\nCOPY src /src\nLABEL x=1\nRUN make\n"
        func keys(_ text: String = dockerfile, args: [String: String] = [:]) throws -> [Digest?] {
            try planning.plan(text, context, buildArgs: args).steps.map(\.key)
        }
        let before = try keys()
        #expect(try keys() == before, "the same inputs give the same keys")
        try context.write("other.txt", "changed")
        #expect(try keys() == before, "a file the build does not read changes nothing")
        #expect(try keys(dockerfile.replacingOccurrences(of: "LABEL x=1", with: "LABEL x=2")) == before, "a label is config, not a file-system input")
        let newArg = try keys(args: ["VERSION": "2"])
        #expect(newArg[2] == before[2] && newArg[4] != before[4], "an ARG in scope is part of RUN's environment, not COPY's")
        try context.write("src/a.txt", "b")
        let newFile = try keys()
        #expect(newFile[2] != before[2] && newFile[4] != before[4], "a copied file changes its COPY and what follows")
        planning.environment.add(baseImage(seed: "2"))
        let newBase = try keys()
        #expect(newBase[2] != newFile[2] && newBase[4] != newFile[4], "another base digest changes every key after FROM")
    }

    @Test func aStepThatWillRunSaysWhy() throws {
        let context = try Context(["src/a.txt": "a", "src/b.txt": "b"])
        let planning = Planning()
        let dockerfile = "FROM alpine:3.19\nARG VERSION=1.0\nCOPY src /src\nRUN make\n"
        let first = try planning.plan(dockerfile, context)
        #expect(first.reason(line: 3) == "no cache record")
        #expect(first.reason(line: 4) == "it follows #3 COPY src /src, which will run")
        planning.environment.markBuilt(first)
        let again = try planning.plan(dockerfile, context)
        #expect(again.isFullyCached && again.cacheStates.allSatisfy { $0.state != .willRun })

        try context.write("src/b.txt", "changed")
        let changed = try planning.plan(dockerfile, context)
        #expect(changed.reason(line: 3) == "src/b.txt changed")
        #expect(changed.cacheStates.first { $0.instructionIndex == 2 }?.reason == "src/b.txt changed")
        planning.environment.markBuilt(changed)

        let arg = try planning.plan(dockerfile, context, buildArgs: ["VERSION": "1.1"])
        #expect(arg.step(line: 3)?.verdict == .cached)
        #expect(arg.reason(line: 4) == "ARG VERSION: 1.0 → 1.1")
        #expect(try planning.plan(dockerfile, context, noCache: true).reason(line: 3) == "--no-cache")

        planning.environment.add(baseImage(seed: "moved"))
        let moved = try planning.plan(dockerfile, context)
        #expect(moved.reason(line: 3) == "the base image alpine:3.19 now has another digest")
        #expect(moved.reason(line: 4) == "it follows #3 COPY src /src, which will run")
    }

    @Test func aMissingBaseImageIsAStepThatWillRunNotAnError() throws {
        let context = try Context([:])
        let plan = try Planning().plan("FROM debian:12\nRUN true\n", context)
        #expect(plan.reason(line: 1) == "the base image docker.io/library/debian:12 is not in the store: it will be pulled")
        #expect(plan.reason(line: 2) == "it follows #1 FROM debian:12, which will run")
        guard case .image(_, let image)? = plan.stage(0)?.base else { Issue.record("no image base"); return }
        #expect(image == nil)
    }

    @Test func whatNoBuildCouldDoIsRefusedWhilePlanning() throws {
        let context = try Context(["a": "a"])
        let planning = Planning()
        #expect { _ = try planning.plan("FROM alpine:3.19\nRUN --network=host true\n", context) } throws: { error in
            guard case .entitlementRequired(_, let range, .networkHost)? = error as? BuildError else { return false }
            return range?.start.line == 1
        }
        #expect(try planning.plan("FROM alpine:3.19\nRUN --network=host true\n", context, allow: [.networkHost]).totalSteps == 2)
        #expect(throws: BuildError.self) { _ = try planning.plan("FROM alpine:3.19\nCOPY missing /m\n", context) }
        #expect(throws: BuildError.self) { _ = try planning.plan("FROM alpine:3.19\nSTOPSIGNAL SIGNOPE\n", context) }
        #expect(throws: BuildError.self) { _ = try planning.plan("FROM alpine:3.19\nRUNN x\n", context) }
    }

    @Test func independentStagesHaveNoEdgeBetweenThem() throws {
        let context = try Context([:])
        let plan = try Planning().plan("""
            FROM alpine:3.19 AS left
            RUN sleep 2
            FROM alpine:3.19 AS right
            RUN sleep 2
            FROM alpine:3.19
            COPY --from=left /l /l
            COPY --from=right /r /r
            """, context)
        #expect(plan.stage(0)?.dependencies == [] && plan.stage(1)?.dependencies == [])
        #expect(plan.stage(2)?.dependencies == [0, 1])
    }
}

/// Cache keys hash `LENGTH:PART\n` per part: the bytes every record in existing stores was keyed by, whatever way
/// they are fed to the hasher (a change here would silently miss every cache).
@Suite struct CacheKeyFormatTests {
    @Test func keysHashLengthPrefixedLines() {
        let parts = ["scratch", "linux/amd64", "", "é"]
        let bytes = Array("7:scratch\n11:linux/amd64\n0:\n2:é\n".utf8)
        #expect(CacheKey.make(parts) == Digest.sha256(of: bytes))
        #expect(CacheKey.make(["ab", "c"]) != CacheKey.make(["a", "bc"]))
    }
}
