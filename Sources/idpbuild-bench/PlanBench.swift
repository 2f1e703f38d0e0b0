import ArgumentParser
import BuildPlanner
import DockerfileSyntax
import Foundation
import OCI

/// Plans a 1,000-instruction Dockerfile over a 2,000-file context with a warm metadata cache (the second and later
/// plans of an unchanged context, as an editor's inlay hints and a no-change rebuild see it); prints median times.
struct PlanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan a 1,000-instruction Dockerfile over a 2,000-file context, warm (target: ≤ 5 ms)."
    )

    @Option(help: "Instructions in the Dockerfile.")
    var instructions = 1_000

    @Option(help: "Files in the context (in folders of 50).")
    var files = 2_000

    @Option(help: "Timed runs after two warm-up plans.")
    var runs = 50

    func run() throws {
        let context = NSTemporaryDirectory() + "/idpbuild-plan-bench-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: context) }
        for index in 0..<files {
            let folder = context + "/src/d\(String(format: "%02d", index / 50))"
            if index % 50 == 0 { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try Data("file \(index)\n".utf8).write(to: URL(fileURLWithPath: folder + "/f\(String(format: "%04d", index)).txt"))
        }
        // The mix of official images' Dockerfiles, scaled up: one stage, a COPY of each source folder (the whole context),
        // RUNs, and metadata (an ENV every 50 instructions, a LABEL every 10).
        var lines = ["FROM alpine:3.19", "ARG VERSION=1.0"]
        var folder = 0
        while lines.count < instructions {
            if lines.count % 10 == 0 && folder < files / 50 {
                lines.append("COPY src/d\(String(format: "%02d", folder)) /src/d\(String(format: "%02d", folder))")
                folder += 1
            } else if lines.count % 50 == 1 {
                lines.append("ENV STEP_\(lines.count)=value-\(lines.count)")
            } else if lines.count % 10 == 3 {
                lines.append("LABEL step.\(lines.count)=\"$VERSION\"")
            } else {
                lines.append("RUN echo step \(lines.count) $VERSION")
            }
        }
        let text = lines.joined(separator: "\n") + "\n"
        let environment = BenchEnvironment()
        let options = BuildOptions(dockerfilePath: context + "/Dockerfile", contextDirectory: context, dockerfileContents: Data(text.utf8))
        let planner = Planner(environment: environment)
        let definition = BuildDefinition(Dockerfile(parsing: text))
        for _ in 0..<2 { _ = try planner.plan(definition, options: options) }
        var planTimes: [Double] = []
        var parseAndPlanTimes: [Double] = []
        var steps = 0
        for _ in 0..<runs {
            let start = Date()
            let plan = try planner.plan(definition, options: options)
            planTimes.append(Date().timeIntervalSince(start))
            steps = plan.totalSteps
            let again = Date()
            _ = try planner.plan(BuildDefinition(Dockerfile(parsing: text)), options: options)
            parseAndPlanTimes.append(Date().timeIntervalSince(again))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] * 1000 }
        print("plan of \(lines.count) instructions (\(steps) steps) over \(files) context files, warm metadata cache, \(runs) runs:")
        print(String(format: "  plan (parsed Dockerfile)   median %.2f ms  (target <= 5 ms) %@", median(planTimes), median(planTimes) <= 5 ? "MET" : "MISSED"))
        print(String(format: "  parse + check + plan       median %.2f ms", median(parseAndPlanTimes)))
    }
}

/// An in-memory store view: the base image, a record for every key (a no-change plan, as after a build), cache files in memory.
final class BenchEnvironment: PlanEnvironment, @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: [UInt8]] = [:]
    private let base: BaseImage = {
        var container = ContainerConfig()
        container.Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        let config = ImageConfig(architecture: Platform.current.architecture, os: "linux", config: container, rootfs: RootFS(diffIDs: []))
        return BaseImage(reference: "docker.io/library/alpine:3.19", digest: Digest.sha256(of: Array("alpine".utf8)), config: config, layers: [])
    }()

    func image(_ reference: String, platform: Platform) -> BaseImage? { reference == base.reference ? base : nil }
    func hasCacheRecord(_ key: Digest) -> Bool { true }
    func readCacheFile(_ name: String) -> [UInt8]? { lock.withLock { files[name] } }
    func writeCacheFile(_ name: String, _ bytes: [UInt8]) throws { lock.withLock { files[name] = bytes } }
}
