import Foundation
import Sandbox
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct IDMappingTests {
    let scratch: ScratchDirectory

    init() throws { scratch = try ScratchDirectory("subid") }

    func files(_ subuid: String, _ subgid: String) throws -> (ScratchDirectory, SubordinateIDPolicy) {
        try subuid.write(toFile: scratch.path + "/subuid", atomically: false, encoding: .utf8)
        try subgid.write(toFile: scratch.path + "/subgid", atomically: false, encoding: .utf8)
        return (scratch, SubordinateIDPolicy(uidFile: scratch.path + "/subuid", gidFile: scratch.path + "/subgid"))
    }

    @Test func rangesByNameOrUIDFollowContainerRoot() throws {
        let (_, policy) = try files("other:1:5\nbuilder:100000:65536\n1500:300000:10\n", "builder:200000:1000\n")
        let (mapping, warning) = try policy.mapping(user: "builder", uid: 1500, gid: 1600)
        #expect(warning == nil)
        #expect(mapping.uids == [IDMapEntry(containerID: 0, hostID: 1500, count: 1),
                                 IDMapEntry(containerID: 1, hostID: 100000, count: 65536),
                                 IDMapEntry(containerID: 65537, hostID: 300000, count: 10)])
        #expect(mapping.gids == [IDMapEntry(containerID: 0, hostID: 1600, count: 1),
                                 IDMapEntry(containerID: 1, hostID: 200000, count: 1000)])
        #expect(!mapping.isSingleID)
        #expect(mapping.hostUID(0) == 1500)
        #expect(mapping.hostUID(1234) == 101233)
        #expect(mapping.containerUID(101233) == 1234)
        #expect(mapping.containerUID(300001) == 65538)
        #expect(mapping.containerUID(99) == nil)
        #expect(mapping.hostGID(1000) == 200999)
        #expect(mapping.hostGID(1001) == nil)
        #expect(mapping.containerGID(1600) == 0)
        #expect(IDMapping.identity.hostUID(77) == 77)
    }

    @Test func noRangeFallsBackToASingleIDWithAWarning() throws {
        let (_, policy) = try files("someone-else:100000:65536\n", "")
        let (mapping, warning) = try policy.mapping(user: "builder", uid: 1500, gid: 1600)
        #expect(mapping.isSingleID)
        #expect(mapping.uids == [IDMapEntry(containerID: 0, hostID: 1500, count: 1)])
        let text = try #require(warning)
        #expect(text.contains("single-ID mapping") && text.contains("usermod --add-subuids"))
    }

    @Test func noRangeIsAnErrorWhenTheFallbackIsRefused() throws {
        var (scratch, policy) = try files("", "")
        policy.allowSingleIDFallback = false
        #expect(throws: SandboxError.noSubordinateRange(user: "builder", file: scratch.path + "/subuid")) {
            _ = try policy.mapping(user: "builder", uid: 1500, gid: 1600)
        }
        let message = SandboxError.noSubordinateRange(user: "builder", file: "/etc/subuid").description
        #expect(message.contains("/etc/subuid") && message.contains("usermod --add-subuids"))
    }

    @Test(.enabled(if: geteuid() == 0)) func rootNeedsNoMapping() throws {
        let (mapping, warning) = try UserNamespace.mapping()
        #expect(mapping == .identity)
        #expect(warning == nil)
    }

    @Test func errorsSayWhatToInstallOrConfigure() {
        #expect(SandboxError.overlayUnsupported(errno: ENODEV, detail: "x").description.contains("modprobe overlay"))
        #expect(SandboxError.overlayUnsupported(errno: EPERM, detail: "x").description.contains("5.11"))
        let userns = SandboxError.userNamespacesRefused(errno: EPERM).description
        #expect(userns.contains("kernel.unprivileged_userns_clone") && userns.contains("user.max_user_namespaces"))
        #expect(SandboxError.missingTool(name: "newuidmap", package: "uidmap").description.contains("apt-get install uidmap"))
        #expect(SandboxError.idMappingFailed(tool: "newgidmap", detail: "no").description.contains("/etc/subgid"))
        #expect(SandboxError.timedOut(seconds: 2).description.contains("2.0 s"))
        #expect(SandboxError.invalidUser("a:").description.contains("UID:GID"))
        #expect(SandboxError.badUpperDirectory(path: "/u", errno: ENOTDIR).description.contains("/u"))
        #expect(SandboxError.namespaceFailed(what: "pid namespace", errno: EPERM).description.contains("pid namespace"))
        #expect(SandboxError.mountFailed(what: "/etc/hosts", errno: EACCES).description.contains("/etc/hosts"))
        #expect(SandboxError.supervisorFailed(detail: "d").description.contains("d"))
        #expect(SandboxError.system(call: "pipe", errno: EMFILE).description.contains("pipe"))
        #expect(SandboxError.emptyCommand.description.contains("--"))
        #expect(SandboxError.unknownGroup(group: "g", groupFile: nil).description.contains("no /etc/group"))
        #expect(SandboxError.unknownUser(user: "u", passwd: nil).description.contains("no /etc/passwd"))
    }

    @Test func malformedUserValuesAreRejected() throws {
        let resolver = UserResolver(layersTopFirst: [])
        #expect(throws: SandboxError.invalidUser(":5")) { try resolver.resolve(":5") }
        #expect(throws: SandboxError.invalidUser("5:")) { try resolver.resolve("5:") }
        #expect(try resolver.resolve("42").uid == 42)
        #expect(try resolver.resolve("42:7") == ResolvedUser(uid: 42, gid: 7, supplementaryGroups: [], home: "/"))
        #expect(throws: SandboxError.unknownUser(user: "someone", passwd: nil)) { try resolver.resolve("someone") }
    }

    @Test func aWhiteoutHidesALowerPasswd() throws {
        let scratch = try ScratchDirectory("whpasswd")
        let lower = try scratch.subdirectory("lower/etc")
        try "app:x:7:8::/h:/bin/sh\n".write(toFile: lower + "/passwd", atomically: false, encoding: .utf8)
        let upper = try scratch.subdirectory("upper/etc")
        try "".write(toFile: upper + "/.wh.passwd", atomically: false, encoding: .utf8)
        #expect(try UserResolver(layersTopFirst: [scratch.path + "/lower"]).resolve("app").uid == 7)
        #expect(throws: SandboxError.unknownUser(user: "app", passwd: nil)) {
            try UserResolver(layersTopFirst: [scratch.path + "/upper", scratch.path + "/lower"]).resolve("app")
        }
    }
}

/// Tests that only mean something for an unprivileged caller (scripts/test-rootless runs them).
@Suite(.serialized) struct RootlessTests {
    static let unprivileged = geteuid() != 0

    @Test(.enabled(if: unprivileged)) func singleIDFallbackRunsWithAWarning() async throws {
        let scratch = try ScratchDirectory("single")
        try "".write(toFile: scratch.path + "/empty", atomically: false, encoding: .utf8)
        let fixture = try Fixture("single", policy: SubordinateIDPolicy(uidFile: scratch.path + "/empty", gidFile: scratch.path + "/empty"))
        let result = try await fixture.run(["sh", "-c", "id -u; cat /proc/self/uid_map | wc -l; chown 1234 /tmp 2>&1; echo $?"])
        #expect(result.warnings.count == 1)
        #expect(result.warnings.first?.contains("single-ID mapping") == true)
        #expect(result.stdout.first == "0")
        #expect(result.stdout.dropFirst().first?.trimmingCharacters(in: .whitespaces) == "1")
        #expect(result.stdout.last == "1") // chown to an unmapped ID fails
        #expect(fixture.stateIsEmpty)
    }

    @Test(.enabled(if: unprivileged)) func aLayerOwnedByAnUnmappedIDIsWarnedAbout() async throws {
        // /usr/share/zoneinfo belongs to the real root, which no unprivileged mapping covers.
        let fixture = try Fixture("unmapped")
        let result = try await fixture.sandbox.runCollecting(SandboxConfiguration(layers: [fixture.rootfs, "/usr/share/zoneinfo"], command: ["true"]))
        #expect(result.warnings.contains { $0.contains("/usr/share/zoneinfo is owned by host uid 0") && $0.contains("unpack layers inside the user namespace") })
    }

    @Test(.enabled(if: unprivileged)) func refusingTheFallbackIsAClearError() async throws {
        let scratch = try ScratchDirectory("norange")
        try "".write(toFile: scratch.path + "/empty", atomically: false, encoding: .utf8)
        let policy = SubordinateIDPolicy(uidFile: scratch.path + "/empty", gidFile: scratch.path + "/empty", allowSingleIDFallback: false)
        let fixture = try Fixture("norange", policy: policy)
        await #expect(throws: SandboxError.self) { _ = try await fixture.run(["true"]) }
        #expect(fixture.stateIsEmpty)
    }

    @Test(.enabled(if: unprivileged)) func namespaceRootRemovesSubordinateIDTrees() async throws {
        try #require(hasSeveralIDs, "needs subordinate ID ranges")
        let fixture = try Fixture("unshare")
        let upper = try fixture.scratch.subdirectory("upper")
        _ = try await fixture.run(["sh", "-c", "mkdir -p /d/e && touch /d/e/f && chown -R 1234 /d && chmod 700 /d"], upper: upper)
        #expect(rmdir(upper + "/d") != 0) // the host user cannot remove it
        let termination = try UserNamespace.run(["rm", "-rf", upper + "/d"])
        #expect(termination == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: upper + "/d"))
    }
}
