import BuildEngine
import BuildEvents
import BuildPlanner
import Foundation
import ImageStore
import OCI
import SandboxTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's buildah (`bud --runtime runc`, the hybrid cgroup layout rules out crun) builds the same fixtures; the
/// configs and file trees must agree. Runs as root, where buildah is installed.
@Suite(.serialized, .enabled(if: runningAsRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/buildah")
                                 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc"), "needs root, buildah and runc"))
struct BuildahComparisonTests {
    /// Paths buildah's runtime leaves behind that are not part of what the Dockerfile made.
    static let runtimeArtifacts: Set<String> = ["/run", "/run/.containerenv", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/proc", "/sys", "/dev"]

    func buildah(_ env: BuildEnvironment, _ arguments: [String]) throws -> String {
        let process = try TestSupport.run(["buildah", "--root", env.directory + "/buildah-root", "--runroot", env.directory + "/buildah-run",
                                           "--storage-driver", "vfs"] + arguments,
                                          environment: ProcessInfo.processInfo.environment.merging(["CONTAINERS_REGISTRIES_CONF": env.registriesConf]) { $1 })
        guard process.status == 0 else { throw TestFailure("buildah \(arguments.joined(separator: " ")) failed: \(process.stderr)") }
        return process.stdout
    }

    /// Builds with buildah and unpacks its result (through an OCI layout) into a folder.
    func buildahTree(_ env: BuildEnvironment, options: BuildOptions, name: String) throws -> (String, ImageConfig) {
        var arguments = ["bud", "--runtime", "runc", "--layers", "--tls-verify=false", "--format", "oci", "-t", name, "-f", options.dockerfilePath]
        for (key, value) in options.buildArguments { arguments += ["--build-arg", "\(key)=\(value)"] }
        _ = try buildah(env, arguments + [options.contextDirectory])
        let layout = env.directory + "/layout-" + name
        _ = try buildah(env, ["push", name, "oci:\(layout):\(name)"])
        let index = try JSONDecoder().decode(ImageIndex.self, from: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json")))
        let manifestDigest = try #require(index.manifests.first?.digest)
        func blob(_ digest: Digest) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest.encoded)) }
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: blob(manifestDigest))
        let config = try ImageConfig.decode(Array(blob(manifest.config.digest)))
        let tree = env.directory + "/buildah-tree-" + name
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for layer in manifest.layers { try LayerUnpacker.unpack(archive: layout + "/blobs/sha256/" + layer.digest.encoded, into: tree) }
        return (tree, config)
    }

    /// One line per entry: path, type and mode, owner, and the content's digest or the link's target (no times).
    static func listing(_ root: String) -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            let path = root + "/" + relative
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            var line = "\(String(st.st_mode, radix: 8)) \(st.st_uid):\(st.st_gid)"
            switch st.st_mode & S_IFMT {
            case S_IFREG: line += " " + ((try? TestImage.digestOfFile(path).description) ?? "?")
            case S_IFLNK: line += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")
            default: break
            }
            result["/" + relative] = line
        }
        return result
    }

    /// Builds `fixture` both ways and compares. `knownDifferences` names where buildah 1.28 departs from BuildKit, which
    /// we follow: "Cmd" (a shell-form CMD ignores SHELL), "ExposedPorts" (a port range is kept as one key), "WORKDIR"
    /// (its directory is not created until a step uses it); for those the test checks buildah's own behaviour instead.
    func compare(_ fixture: String, dockerfile: String = "Dockerfile", context: String? = nil, buildArguments: [String: String] = [:],
                 knownDifferences: Set<String> = []) async throws {
        let label = String(fixture.split(separator: "/").last ?? "fixture")
        let env = try await BuildEnvironment("buildah-\(label)")
        defer { env.stop() }
        let options = env.options(fixture, dockerfile: dockerfile, context: context, buildArguments: buildArguments)
        try await compare(env, options: options, label: label, knownDifferences: knownDifferences)
    }

    /// Builds `options` both ways in `env` and compares; `varying` names paths whose content legitimately differs
    /// between two builds (logs and caches with times in them): they must exist in both, their content is not compared.
    func compare(_ env: BuildEnvironment, options: BuildOptions, label: String, knownDifferences: Set<String> = [],
                 varying: Set<String> = []) async throws {
        _ = try await env.engine().build(options)
        let ours = try env.store.image("example.test/image:latest")
        let ourTree = try env.unpack("example.test/image:latest")
        let (theirTree, theirs) = try buildahTree(env, options: options, name: "cmp-\(label)")
        let a = ours.config.config ?? ContainerConfig()
        var b = theirs.config ?? ContainerConfig()
        b.Labels?["io.buildah.version"] = nil
        if b.Labels?.isEmpty == true { b.Labels = nil }
        if knownDifferences.contains("Cmd") {
            #expect(a.Cmd?.prefix(2) == ["/bin/sh", "-ec"] && b.Cmd?.prefix(2) == ["/bin/sh", "-c"] && a.Cmd?.last == b.Cmd?.last)
        } else {
            #expect(a.Cmd == b.Cmd, "Cmd")
        }
        #expect(a.Entrypoint == b.Entrypoint, "Entrypoint")
        #expect(a.Env == b.Env, "Env")
        #expect((a.WorkingDir ?? "") == (b.WorkingDir ?? ""), "WorkingDir")
        #expect((a.User ?? "") == (b.User ?? ""), "User")
        if knownDifferences.contains("ExposedPorts") {
            #expect(a.ExposedPorts?["9000/tcp"] != nil && a.ExposedPorts?["9001/tcp"] != nil && b.ExposedPorts?["9000-9001/tcp"] != nil)
        } else {
            #expect(a.ExposedPorts == b.ExposedPorts, "ExposedPorts")
        }
        #expect(a.Volumes == b.Volumes, "Volumes")
        #expect(a.StopSignal == b.StopSignal, "StopSignal")
        #expect(a.Labels == b.Labels, "Labels")
        #expect(ours.config.rootfs.diffIDs.count >= 1 && theirs.rootfs.diffIDs.count >= 1)
        var mine = Self.listing(ourTree).filter { !Self.runtimeArtifacts.contains($0.key) }
        if knownDifferences.contains("WORKDIR"), let workdir = a.WorkingDir {
            var path = workdir
            while path != "/" && !path.isEmpty {
                #expect(mine.removeValue(forKey: path) != nil, "WORKDIR made \(path)")
                path = (path as NSString).deletingLastPathComponent
            }
        }
        let other = Self.listing(theirTree).filter { !Self.runtimeArtifacts.contains($0.key) }
        let onlyMine = mine.keys.filter { other[$0] == nil }.sorted()
        let onlyTheirs = other.keys.filter { mine[$0] == nil }.sorted()
        let differing = mine.keys.filter { other[$0] != nil && other[$0] != mine[$0] && !varying.contains($0) }.sorted()
        #expect(onlyMine.isEmpty, "only in idpbuild's image: \(onlyMine)")
        #expect(onlyTheirs.isEmpty, "only in buildah's image: \(onlyTheirs)")
        #expect(differing.isEmpty, "differing: \(differing.map { "\($0): \(mine[$0]!) vs \(other[$0]!)" })")
    }

    @Test func seedMatchesBuildah() async throws { try await compare("/" + fixturesDirectory.dropFirst() + "/seed") }

    @Test func metadataMatchesBuildah() async throws { try await compare("metadata", knownDifferences: ["Cmd", "ExposedPorts", "WORKDIR"]) }

    @Test func multiStageMatchesBuildah() async throws { try await compare("multistage") }

    @Test func copyAndAddMatchBuildah() async throws {
        // buildah 1.28 runs RUN heredocs differently from BuildKit (whose behaviour we follow): compare a heredoc-free copy.
        let env = try await BuildEnvironment("files-copy")
        defer { env.stop() }
        let folder = fixturesDirectory + "/build/files"
        let text = try String(contentsOfFile: folder + "/Dockerfile", encoding: .utf8)
        let withoutHeredocs = text.components(separatedBy: "COPY <<EOF")[0] + "COPY . /all/\n"
        let path = env.directory + "/Dockerfile.files"
        try withoutHeredocs.write(toFile: path, atomically: true, encoding: .utf8)
        try await compare(folder, dockerfile: path, context: "context")
    }
}
