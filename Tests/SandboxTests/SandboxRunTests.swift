// These tests start real sandboxes (namespaces, overlayfs, pivot_root) over a busybox root filesystem built
// from Debian's busybox-static. They run as root in `swift test`, and as an unprivileged user with subuid
// ranges through scripts/test-rootless.
import Foundation
import LayerDiff
import Sandbox
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A busybox rootfs, a private temporary directory for the sandbox's state (which must be empty after every
/// run), and a runner.
final class Fixture {
    let scratch: ScratchDirectory
    let rootfs: String
    let state: String
    let sandbox: Sandbox

    init(_ label: String, policy: SubordinateIDPolicy = SubordinateIDPolicy()) throws {
        scratch = try ScratchDirectory(label)
        rootfs = try scratch.subdirectory("rootfs")
        try makeBusyboxRootfs(in: rootfs)
        state = try scratch.subdirectory("state")
        sandbox = Sandbox(temporaryDirectory: state, subordinateIDs: policy)
    }

    func run(_ command: [String], upper: String? = nil, configure: (inout SandboxConfiguration) -> Void = { _ in })
        async throws -> SandboxResult {
        var configuration = SandboxConfiguration(layers: [rootfs], upperDirectory: upper, command: command)
        configure(&configuration)
        return try await sandbox.runCollecting(configuration)
    }

    /// The sandbox left nothing in its state directory.
    var stateIsEmpty: Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: state)) ?? ["?"]).isEmpty
    }

    /// The mapping the sandbox used, as LayerDiff wants it (identity for root).
    var ownerMapping: OwnerMapping {
        let mapping = (try? UserNamespace.mapping().0) ?? .identity
        return OwnerMapping(uids: mapping.uids.map { .init(containerID: $0.containerID, hostID: $0.hostID, count: $0.count) },
                            gids: mapping.gids.map { .init(containerID: $0.containerID, hostID: $0.hostID, count: $0.count) })
    }
}

/// True when the caller has subordinate ranges or is root (the tests that need more than one ID).
let hasSeveralIDs: Bool = {
    guard let mapping = try? UserNamespace.mapping().0 else { return false }
    return !mapping.isSingleID
}()

@Suite(.serialized) struct SandboxRunTests {
    @Test func containerRootIsUIDZero() async throws {
        let fixture = try Fixture("uid")
        let result = try await fixture.run(["id", "-u"])
        #expect(result.termination == .exited(0))
        #expect(result.stdout == ["0"])
        #expect(fixture.stateIsEmpty)
    }

    @Test func pidNamespaceShowsOnlyTheSandboxProcesses() async throws {
        let fixture = try Fixture("pid")
        let result = try await fixture.run(["sh", "-c", "echo $$; echo $PPID; ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/1/status | grep PPid"])
        #expect(result.termination == .exited(0))
        let lines = result.stdout
        #expect(lines.count == 4)
        // The shell is PID 2, a child of the sandbox's PID 1; PID 1's parent is outside (shown as 0).
        #expect(lines.first == "2")
        #expect(lines.dropFirst().first == "1")
        let visible = Int(lines[2].trimmingCharacters(in: .whitespaces)) ?? 99
        #expect(visible <= 6, "host processes visible: \(visible)")
        #expect(lines.last?.hasSuffix("0") == true)
    }

    @Test func chownedFileKeepsItsOwnerInTheLayer() async throws {
        try #require(hasSeveralIDs, "needs subordinate ID ranges (or root)")
        let fixture = try Fixture("chown")
        let upper = try fixture.scratch.subdirectory("upper")
        // World-readable, so that an unprivileged test can diff from outside the user namespace with the
        // mapping; RunCommandTests covers a private file diffed inside the namespace.
        let result = try await fixture.run(["sh", "-c", "echo data > /f && chown 1234:4321 /f && chmod 644 /f"], upper: upper)
        #expect(result.termination == .exited(0), "\(result.output)")
        let layerPath = fixture.scratch.path + "/layer.tar.gz"
        let layer = try LayerDiff(ownerMapping: fixture.ownerMapping).write(upperDirectory: upper, to: layerPath)
        let entries = try readTar(layerPath)
        let file = try #require(entries.first { $0.path == "f" })
        #expect(file.uid == 1234)
        #expect(file.gid == 4321)
        #expect(file.mode & 0o7777 == 0o644)
        #expect(file.data == Array("data\n".utf8))
        #expect(!layer.isEmpty)
        // Nothing else changed: /etc was only touched for the /etc/hosts mount point.
        #expect(entries.map(\.path) == ["f"])
    }

    @Test func deletingALowerFileYieldsAWhiteout() async throws {
        let fixture = try Fixture("whiteout")
        let upper = try fixture.scratch.subdirectory("upper")
        let result = try await fixture.run(["sh", "-c", "rm /bin/ls && rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/new"], upper: upper)
        #expect(result.termination == .exited(0), "\(result.output)")
        let layerPath = fixture.scratch.path + "/layer.tar.gz"
        _ = try LayerDiff(ownerMapping: fixture.ownerMapping).write(upperDirectory: upper, to: layerPath)
        let paths = try readTar(layerPath).map(\.path)
        #expect(paths.contains("bin/.wh.ls"))
        #expect(paths.contains("usr/sbin/.wh..wh..opq"))
        #expect(paths.contains("usr/sbin/new"))
        // The lower layer itself is untouched.
        #expect(FileManager.default.fileExists(atPath: fixture.rootfs + "/bin/ls"))
    }

    @Test func hostFilesystemOutsideTheMountsIsUntouched() async throws {
        let fixture = try Fixture("host")
        let before = try snapshot(fixture.rootfs)
        let mountsBefore = mountTable()
        let result = try await fixture.run(["sh", "-c", "rm -rf /bin /etc/passwd; echo x > /usr/new; touch /tmp/t; mkdir -p /a/b"])
        #expect(result.termination == .exited(0), "\(result.output)")
        #expect(try snapshot(fixture.rootfs) == before)
        #expect(fixture.stateIsEmpty, "left behind: \(fixture.scratch.contents())")
        #expect(mountTable() == mountsBefore)
        #expect(!mountTable().contains(fixture.scratch.path))
    }

    @Test func networkNoneHasOnlyLoopbackAndNoRoute() async throws {
        let fixture = try Fixture("netnone")
        let result = try await fixture.run(["sh", "-c", "ip -o link | cut -d: -f2; echo routes; tail -n +2 /proc/net/route | wc -l; ip route get 1.1.1.1 2>&1; echo done"]) {
            $0.network = .none
        }
        #expect(result.termination == .exited(0), "\(result.output)")
        let lines = result.stdout.map { $0.trimmingCharacters(in: .whitespaces) }
        let split = try #require(lines.firstIndex(of: "routes"))
        #expect(Array(lines[..<split]) == ["lo"])
        #expect(lines[split + 1] == "0")
        #expect(result.output.contains { $0.text.contains("unreachable") })
        let flags = try await fixture.run(["ip", "link", "show", "lo"]) { $0.network = .none }
        #expect(flags.stdout.first?.contains("UP") == true)
    }

    @Test func cancelKillsTheWholeProcessTree() async throws {
        let fixture = try Fixture("cancel")
        let token = String(700_000 + Int(getpid() % 100_000))
        let configuration = SandboxConfiguration(
            layers: [fixture.rootfs],
            command: ["sh", "-c", "sleep \(token) & (sleep \(token) &) ; echo started; wait"])
        let sandbox = fixture.sandbox
        let task = Task { () -> Bool in
            for try await event in sandbox.run(configuration) {
                if case .output(let line) = event, line.text == "started" {
                    #expect(eventually { hostProcesses(containing: "sleep \(token)").count == 2 })
                    withUnsafeCurrentTask { $0?.cancel() }
                }
                if case .finished = event { return true }
            }
            return false
        }
        // A cancelled consumer sees the stream end without a `.finished` event.
        #expect(try await task.value == false)
        #expect(eventually { hostProcesses(containing: "sleep \(token)").isEmpty })
        #expect(eventually { fixture.stateIsEmpty })
    }

    @Test func timeoutKillsTheTreeAndSaysSo() async throws {
        let fixture = try Fixture("timeout")
        let token = String(800_000 + Int(getpid() % 100_000))
        await #expect(throws: SandboxError.timedOut(seconds: 0.5)) {
            _ = try await fixture.run(["sh", "-c", "sleep \(token) & sleep \(token)"]) { $0.timeout = 0.5 }
        }
        #expect(eventually { hostProcesses(containing: "sleep \(token)").isEmpty })
        #expect(fixture.stateIsEmpty)
    }

    @Test func commandNotFoundExits127LikeAShell() async throws {
        let fixture = try Fixture("notfound")
        let result = try await fixture.run(["no-such-program", "arg"])
        #expect(result.termination == .exited(127))
        #expect(result.stderr == ["idpbuild: no-such-program: command not found"])
    }

    @Test func exitStatusAndSignalAreReported() async throws {
        let fixture = try Fixture("status")
        #expect(try await fixture.run(["sh", "-c", "exit 3"]).termination == .exited(3))
        let killed = try await fixture.run(["sh", "-c", "kill -TERM $$"]).termination
        #expect(killed == .signaled(SIGTERM))
        #expect(killed.exitCode == 128 + SIGTERM)
    }

    @Test func outputStreamsLineByLineInOrder() async throws {
        let fixture = try Fixture("stream")
        let result = try await fixture.run(["sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf tail"])
        #expect(result.stdout == ["out1", "out2", "out3", "tail"])
        #expect(result.stderr == ["err1", "err2", "err3"])
    }

    @Test func environmentWorkingDirectoryAndHostname() async throws {
        let fixture = try Fixture("env")
        let result = try await fixture.run(["sh", "-c", "pwd; echo $GREETING; echo $PATH; hostname; grep -c builder /etc/hosts; echo $HOME"]) {
            $0.environment = ["GREETING=hello world"]
            $0.workingDirectory = "/work/dir"
            $0.hostname = "builder"
        }
        #expect(result.stdout == ["/work/dir", "hello world", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "builder", "1", "/root"])
    }

    @Test func resolvConfIsTheHostsOrSlirpsOrEmptyWithoutNetwork() async throws {
        let fixture = try Fixture("resolv")
        let host = try await fixture.run(["cat", "/etc/resolv.conf"]) { $0.network = .host }
        let expected = ((try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(host.stdout == (expected.last == "" ? Array(expected.dropLast()) : expected))
        let own = try await fixture.run(["cat", "/etc/resolv.conf"])
        #expect(own.stdout.first == "nameserver 10.0.2.3")
        #expect(own.stdout.dropFirst().allSatisfy { $0.hasPrefix("search ") || $0.hasPrefix("options ") })
        let none = try await fixture.run(["sh", "-c", "wc -c < /etc/resolv.conf; grep -c localhost /etc/hosts"]) { $0.network = .none }
        #expect(none.stdout.map { $0.trimmingCharacters(in: .whitespaces) } == ["0", "2"])
    }

    @Test func theCommandGoesFirstWhenMemoryRunsOut() async throws {
        let fixture = try Fixture("oom-score")
        let result = try await fixture.run(["cat", "/proc/self/oom_score_adj"]) { $0.network = .none }
        #expect(result.stdout == ["500"])
    }

    @Test func minimalDevAndProc() async throws {
        let fixture = try Fixture("dev")
        let result = try await fixture.run(["sh", "-c", "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; mount | grep -c ' /dev/shm '; test -d /proc/self && echo proc-ok"])
        #expect(result.termination == .exited(0), "\(result.output)")
        let devices = Set(result.stdout.first?.split(separator: " ").map(String.init) ?? [])
        #expect(devices.isSuperset(of: ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd"]))
        #expect(Array(result.stdout.dropFirst()) == ["4", "null-ok", "1", "proc-ok"])
    }

    @Test func capabilitiesAreDockersDefaultsAndNoNewPrivsIsSet() async throws {
        let fixture = try Fixture("caps")
        let result = try await fixture.run(["sh", "-c", "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status"])
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
        // AUDIT_WRITE SETFCAP = 0xa80425fb.
        #expect(result.stdout.contains { $0.hasPrefix("CapBnd:") && $0.hasSuffix("00000000a80425fb") })
        #expect(result.stdout.contains { $0.hasPrefix("CapEff:") && $0.hasSuffix("00000000a80425fb") })
        #expect(result.stdout.contains { $0.hasPrefix("NoNewPrivs:") && $0.hasSuffix("1") })
    }

    @Test func userByNameGetsItsIDsGroupsAndHome() async throws {
        try #require(hasSeveralIDs, "needs subordinate ID ranges (or root)")
        let fixture = try Fixture("user")
        let result = try await fixture.run(["sh", "-c", "id; echo $HOME; grep CapEff /proc/self/status"]) { $0.user = "app" }
        // busybox's id lists getgroups(): the supplementary groups from /etc/group membership.
        #expect(result.stdout.first == "uid=1000(app) gid=1000(app) groups=50(staff)")
        #expect(result.stdout.dropFirst().first == "/home/app")
        #expect(result.stdout.last?.hasSuffix("0000000000000000") == true)
        let numeric = try await fixture.run(["id"]) { $0.user = "4321:staff" }
        #expect(numeric.stdout == ["uid=4321 gid=50(staff)"])
    }

    @Test func unknownUserIsAClearError() async throws {
        let fixture = try Fixture("nouser")
        await #expect(throws: SandboxError.unknownUser(user: "ghost", passwd: fixture.rootfs + "/etc/passwd")) {
            _ = try await fixture.run(["true"]) { $0.user = "ghost" }
        }
        await #expect(throws: SandboxError.unknownGroup(group: "nogroup-here", groupFile: fixture.rootfs + "/etc/group")) {
            _ = try await fixture.run(["true"]) { $0.user = "app:nogroup-here" }
        }
        #expect(fixture.stateIsEmpty)
        let message = SandboxError.unknownUser(user: "ghost", passwd: "/x/etc/passwd").description
        #expect(message.contains("ghost") && message.contains("/etc/passwd") && message.contains("uid"))
    }

    @Test func missingRootfsIsAClearError() async throws {
        let fixture = try Fixture("norootfs")
        let missing = fixture.scratch.path + "/does-not-exist"
        await #expect(throws: SandboxError.missingRootfs(path: missing)) {
            _ = try await fixture.sandbox.runCollecting(SandboxConfiguration(layers: [missing], command: ["true"]))
        }
        await #expect(throws: SandboxError.emptyCommand) {
            _ = try await fixture.sandbox.runCollecting(SandboxConfiguration(layers: [fixture.rootfs], command: []))
        }
        #expect(fixture.stateIsEmpty)
    }

    @Test func layersStackInOrderAndScratchWorks() async throws {
        let fixture = try Fixture("layers")
        let top = try fixture.scratch.subdirectory("top")
        try "from top\n".write(toFile: top + "/etc-message", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: top + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0:top:/top-home:/bin/sh\n".write(toFile: top + "/etc/passwd", atomically: false, encoding: .utf8)
        let result = try await fixture.sandbox.runCollecting(SandboxConfiguration(
            layers: [fixture.rootfs, top], command: ["sh", "-c", "cat /etc-message; echo $HOME"]))
        #expect(result.stdout == ["from top", "/top-home"])
        let scratch = try await fixture.sandbox.runCollecting(SandboxConfiguration(layers: [], command: ["/bin/sh"]))
        #expect(scratch.termination == .exited(127))
    }

    @Test func manyLayersWithLongNamesStack() async throws {
        let fixture = try Fixture("many")
        // 120 layers named like the store's (64 hex digits): far more than one page of mount options.
        var layers = [fixture.rootfs]
        for index in 0..<120 {
            let name = String(repeating: String(format: "%02x", index % 256), count: 32)
            let layer = try fixture.scratch.subdirectory("layers/" + name)
            try "\(index)\n".write(toFile: layer + "/marker", atomically: false, encoding: .utf8)
            if index == 7 { try "seven\n".write(toFile: layer + "/seven", atomically: false, encoding: .utf8) }
            layers.append(layer)
        }
        let result = try await fixture.sandbox.runCollecting(SandboxConfiguration(layers: layers, command: ["sh", "-c", "cat /marker /seven"]))
        #expect(result.termination == .exited(0), "\(result.output)")
        #expect(result.stdout == ["119", "seven"])
        #expect(fixture.stateIsEmpty)
    }

    @Test func concurrentRunsDoNotInterfere() async throws {
        let fixture = try Fixture("parallel")
        let sandbox = fixture.sandbox, rootfs = fixture.rootfs
        let results = try await withThrowingTaskGroup(of: (Int, SandboxResult).self) { group in
            for index in 0..<6 {
                group.addTask {
                    (index, try await sandbox.runCollecting(SandboxConfiguration(
                        layers: [rootfs], command: ["sh", "-c", "echo \(index) > /mine; sleep 0.2; cat /mine; exit \(index)"])))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (index, result) in results {
            #expect(result.stdout == ["\(index)"])
            #expect(result.termination == .exited(Int32(index)))
        }
        #expect(fixture.stateIsEmpty)
    }

    @Test func upperDirectoryIsKeptAndReusable() async throws {
        let fixture = try Fixture("upper")
        let upper = fixture.scratch.path + "/upper-new"
        _ = try await fixture.run(["sh", "-c", "echo one > /state"], upper: upper)
        let second = try await fixture.run(["cat", "/state"], upper: upper)
        #expect(second.stdout == ["one"])
        #expect(fixture.scratch.contents().allSatisfy { !$0.hasPrefix(".idpbuild-work-") })
    }
}

/// Paths, types, sizes, modes and mtimes of a tree (what a sandbox must never change in a lower layer).
func snapshot(_ root: String) throws -> [String] {
    var result: [String] = []
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let path = enumerator?.nextObject() as? String {
        var st = stat()
        guard lstat(root + "/" + path, &st) == 0 else { continue }
        result.append("\(path) \(st.st_mode) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_uid)")
    }
    return result.sorted()
}
