import BuildEvents
import DockerfileSyntax
import Foundation
import OCI

/// A build as a value, before anything runs: the stages the target needs with their edges, and every step with its
/// resolved inputs, its cache key and whether it is cached (and, when it is not, why). The role BuildKit's LLB plays
/// for its solver: the CLI, the editor and the worker all read this one thing.
public struct BuildPlan: Sendable {
    /// The needed stages, each after every stage it depends on.
    public var stages: [PlannedStage]
    /// The Dockerfile index of the stage the build produces.
    public var targetStage: Int
    /// The platform built for.
    public var platform: Platform
    /// The build context folder (absolute).
    public var contextDirectory: String
    /// The Dockerfile's path (for messages).
    public var dockerfilePath: String
    /// How many numbered steps the plan has.
    public var totalSteps: Int
    /// The build context as COPY and bind mounts read it (`.dockerignore` applied).
    package var context: ContextTree

    /// Every step, in step-number order.
    public var steps: [PlannedStep] { stages.flatMap(\.steps) }

    /// The stage with Dockerfile index `index`.
    public func stage(_ index: Int) -> PlannedStage? { stages.first { $0.index == index } }

    /// Per instruction of the Dockerfile: cached, will run (with the reason) or metadata; for editors and `--dry-run`.
    public var cacheStates: [StepCacheState] {
        steps.compactMap { step in
            guard let index = step.instructionIndex else { return nil }
            switch step.verdict {
            case .metadata: return StepCacheState(instructionIndex: index, range: step.range, state: .metadata)
            case .cached: return StepCacheState(instructionIndex: index, range: step.range, state: .cached)
            case .willRun(let reason): return StepCacheState(instructionIndex: index, range: step.range, state: .willRun, reason: reason.description)
            }
        }.sorted { $0.instructionIndex < $1.instructionIndex }
    }

    /// Whether running the plan would only read cache records (nothing runs, copies or pulls).
    public var isFullyCached: Bool {
        !steps.isEmpty && steps.allSatisfy { if case .willRun = $0.verdict { return false } else { return true } }
    }
}

/// One stage of a plan.
public struct PlannedStage: Sendable {
    /// Its index in the Dockerfile.
    public var index: Int
    /// Its name (`AS NAME`), if any.
    public var name: String?
    /// What it starts from.
    public var base: StageBase
    /// The stages it reads from (its base, `COPY --from`, `RUN --mount=from=`), by Dockerfile index.
    public var dependencies: [Int]
    /// Its steps: FROM (and the base's ONBUILD triggers), then one per instruction.
    public var steps: [PlannedStep]
    /// The image config it ends with, apart from the layers and history the executor adds.
    public var config: ImageConfig
    /// The cache key of its file system at the end.
    public var key: Digest

    /// `NAME` or `stage-N`, as BuildKit labels a stage.
    public var label: String { name ?? "stage-\(index)" }
}

/// What a stage starts from.
public enum StageBase: Sendable {
    /// The empty image.
    case scratch
    /// An image, with what the store has of it (nil: not there yet; it is pulled before the plan runs).
    case image(reference: String, image: BaseImage?)
    /// An earlier stage, by Dockerfile index.
    case stage(Int)
}

/// An image a stage (or a `COPY --from`) starts from, as the store has it.
public struct BaseImage: Sendable, Hashable {
    /// The canonical reference (`docker.io/library/alpine:3.19`).
    public var reference: String
    /// The manifest's digest.
    public var digest: Digest
    /// Its config.
    public var config: ImageConfig
    /// Its layer descriptors, parallel to `config.rootfs.diffIDs`.
    public var layers: [Descriptor]

    /// Makes a base image.
    public init(reference: String, digest: Digest, config: ImageConfig, layers: [Descriptor]) {
        self.reference = reference
        self.digest = digest
        self.config = config
        self.layers = layers
    }
}

/// One step of a plan.
public struct PlannedStep: Sendable {
    /// BuildKit-style step number (`#N`), fixed by the plan, not by timing.
    public var number: Int
    /// The stage's Dockerfile index.
    public var stageIndex: Int
    /// The instruction's index in the Dockerfile; nil for a base image's ONBUILD trigger (shown under its FROM).
    public var instructionIndex: Int?
    /// The instruction's range.
    public var range: SourceRange
    /// The instruction as progress shows it (its first line, shortened).
    public var display: String
    /// What the step does.
    public var operation: StepOperation
    /// The cache key (nil for steps that only change the config).
    public var key: Digest?
    /// The history entry it adds (`created_by`), or nil for none.
    public var history: String?
    /// Cached, will run (why), or metadata only.
    public var verdict: StepVerdict
    /// What the key was made of, to explain a later miss (the slot's record).
    public var inputs: StepInputs?
    /// The build-cache file that remembers the inputs of this step's slot (written when the step runs).
    package var slot: String?
    /// Whether that file already holds these inputs (nothing to write).
    package var slotIsCurrent = false
}

/// What a step does when it runs.
public enum StepOperation: Sendable {
    /// FROM: the stage's base (see `PlannedStage.base`).
    case from
    /// Only the image config changes.
    case metadata
    /// RUN in the sandbox.
    case run(RunInputs)
    /// COPY or ADD.
    case copy(CopyInputs)
    /// WORKDIR that may have to create its directory.
    case workdir(path: String)
}

/// Whether a step's result comes from the cache.
public enum StepVerdict: Sendable, Hashable {
    /// Only the config changes.
    case metadata
    /// The cache has its result.
    case cached
    /// It will run, for this reason.
    case willRun(StepReason)
}

/// Why a step will run: the first input that differs from its last record, or why there is no record to use.
public enum StepReason: Sendable, Hashable, CustomStringConvertible {
    /// The build was started with `--no-cache`.
    case noCache
    /// Nothing like it was built before (or its record is gone).
    case noRecord
    /// An input changed since the step was last built (a sentence: "src/main.c changed", "ARG VERSION: 1.0 → 1.1").
    case changed(String)
    /// A step it builds on will run.
    case follows(step: Int, display: String)
    /// Its base image is not in the store: it is pulled first.
    case baseImageMissing(String)
    /// A stage it reads will run.
    case stageRuns(String)

    /// The sentence shown on the step's line, in the editor's tooltip and by `--dry-run`.
    public var description: String {
        switch self {
        case .noCache: return "--no-cache"
        case .noRecord: return "no cache record"
        case .changed(let what): return what
        case let .follows(step, display): return "it follows #\(step) \(display), which will run"
        case .baseImageMissing(let reference): return "the base image \(reference) is not in the store: it will be pulled"
        case .stageRuns(let label): return "the stage \(label) it reads will run"
        }
    }
}

/// A RUN's resolved inputs.
public struct RunInputs: Sendable {
    /// The program and arguments.
    public var command: [String]
    /// A heredoc script run by its interpreter line: where it is mounted and its text.
    public var script: (path: String, content: String)?
    /// `KEY=VALUE`, in order.
    public var environment: [String]
    /// USER, or nil for root.
    public var user: String?
    /// WORKDIR.
    public var workingDirectory: String
    /// `default`, `none` or `host` (entitled).
    public var network: String
    /// The `--mount`s.
    public var mounts: [MountSpec]
}

/// A RUN `--mount` as planned.
public struct MountSpec: Sendable {
    /// Where its content comes from.
    public enum Source: Sendable {
        /// A path of the build context.
        case context(components: [String])
        /// A path of a stage (Dockerfile index) or image.
        case tree(StageOrImage, components: [String], shown: String)
        /// A persistent cache folder.
        case cache(id: String, mode: UInt32, uid: UInt32, gid: UInt32)
        /// A tmpfs.
        case tmpfs(size: Int64?)
        /// A secret file.
        case secret(path: String, mode: UInt32, uid: UInt32, gid: UInt32)
        /// A file made for the step (a heredoc script).
        case file(content: String, mode: UInt32)
    }
    /// The source.
    public var source: Source
    /// The absolute target inside the sandbox.
    public var target: String
    /// Read-only.
    public var readOnly: Bool
    /// What the cache key holds for it.
    public var cacheText: String
}

/// A stage by Dockerfile index, or an image.
public enum StageOrImage: Sendable {
    /// An earlier stage.
    case stage(Int)
    /// An image (nil while it is not in the store).
    case image(reference: String, image: BaseImage?)
}

/// A COPY's or ADD's resolved inputs.
public struct CopyInputs: Sendable {
    /// ADD (archives extracted, URLs fetched) rather than COPY.
    public var isAdd: Bool
    /// `--from`: a stage or image (nil: the build context).
    public var from: StageOrImage?
    /// The expanded source patterns (as written, for `--from`).
    public var sources: [String]
    /// Context paths matched by the sources (the context only).
    public var contextMatches: [[String]]
    /// URLs (ADD) with their `--checksum`.
    public var urls: [String]
    /// `--checksum`.
    public var checksum: String?
    /// Heredoc sources: name and content.
    public var heredocs: [(name: String, content: String)]
    /// The destination as written (expanded).
    public var destinationText: String
    /// The absolute destination.
    public var destination: String
    /// `--chown`, expanded.
    public var chown: String?
    /// `--chmod` bits.
    public var chmod: UInt32?
    /// `--parents`.
    public var parents: Bool
    /// `--unpack` (ADD; nil is the default).
    public var unpack: Bool?
    /// `--exclude` patterns.
    public var excludes: [String]
}

/// What a step's key was made of, in the order a person should hear about a difference: the instruction, its
/// sources and variables, then what it builds on. Kept per step "slot" (Dockerfile, stage, instruction) so that the
/// next plan can say which input changed.
public struct StepInputs: Sendable, Codable, Hashable {
    /// The step's cache key.
    public var key: Digest
    /// Labelled inputs: `instruction`, `file PATH`, `arg NAME`, `env NAME`, `base`, `mount TARGET`, `parent`, ….
    public var items: [Item]

    /// One labelled input.
    public struct Item: Sendable, Codable, Hashable {
        /// What it is.
        public var label: String
        /// Its value (a digest for file contents).
        public var value: String
    }

    /// Makes inputs.
    public init(key: Digest, items: [Item]) {
        self.key = key
        self.items = items
    }

    /// The first difference from `old` as a sentence, ignoring `parent` (nil when only the parent differs, or nothing).
    public func difference(from old: StepInputs) -> String? {
        let before = Dictionary(old.items.map { ($0.label, $0.value) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(items.map { ($0.label, $0.value) }, uniquingKeysWith: { a, _ in a })
        for item in items where item.label != "parent" {
            guard let previous = before[item.label] else { return Self.added(item.label, item.value) }
            if previous != item.value { return Self.changed(item.label, from: previous, to: item.value) }
        }
        for item in old.items where item.label != "parent" && now[item.label] == nil { return Self.removed(item.label, item.value) }
        return nil
    }

    private static func subject(_ label: String) -> (kind: String, name: String) {
        guard let space = label.firstIndex(of: " ") else { return (label, "") }
        return (String(label[..<space]), String(label[label.index(after: space)...]))
    }

    private static func shorten(_ value: String) -> String { value.count > 60 ? String(value.prefix(57)) + "..." : value }

    private static func changed(_ label: String, from old: String, to new: String) -> String {
        let (kind, name) = subject(label)
        switch kind {
        case "file": return "\(name) changed"
        case "arg": return "ARG \(name): \(shorten(old)) → \(shorten(new))"
        case "env": return "ENV \(name): \(shorten(old)) → \(shorten(new))"
        case "base": return "the base image \(name) now has another digest"
        case "stage": return "the stage \(name) it reads changed"
        case "instruction": return "the instruction changed (was: \(shorten(old)))"
        default: return "\(label) changed: \(shorten(old)) → \(shorten(new))"
        }
    }

    private static func added(_ label: String, _ value: String) -> String {
        let (kind, name) = subject(label)
        switch kind {
        case "file": return "\(name) was added"
        case "arg": return "ARG \(name) is now \(shorten(value))"
        case "env": return "ENV \(name) is now \(shorten(value))"
        default: return "\(label) is new"
        }
    }

    private static func removed(_ label: String, _ value: String) -> String {
        let (kind, name) = subject(label)
        switch kind {
        case "file": return "\(name) was removed"
        case "arg": return "ARG \(name) is no longer set (was \(shorten(value)))"
        case "env": return "ENV \(name) is no longer set"
        default: return "\(label) is gone"
        }
    }
}
