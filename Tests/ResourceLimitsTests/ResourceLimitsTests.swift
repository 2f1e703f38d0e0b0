import Foundation
import ResourceLimits
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LimitParsingTests {
    @Test func memorySizesReadAsDockerReadsThem() throws {
        #expect(try ResourceLimits.parseMemory("512m") == 512 << 20)
        #expect(try ResourceLimits.parseMemory("2G") == 2 << 30)
        #expect(try ResourceLimits.parseMemory("256MiB") == 256 << 20)
        #expect(try ResourceLimits.parseMemory("1.5g") == 3 << 29)
        #expect(try ResourceLimits.parseMemory("8388608") == 8 << 20)
        #expect(try ResourceLimits.parseMemory("10240k") == 10 << 20)
        #expect(try ResourceLimits.parseMemory("64mb") == 64 << 20)
    }

    @Test func badMemorySizesSayWhatIsExpected() {
        for bad in ["", "m", "lots", "-5m", "+5m", "1e9", "5x", "0"] {
            #expect(throws: ResourceLimitsError.self) { try ResourceLimits.parseMemory(bad) }
        }
        do {
            _ = try ResourceLimits.parseMemory("1m")
            Issue.record("1m was accepted")
        } catch {
            #expect(error.description == "--memory 1m: is below the minimum of 6m: the build worker alone needs more")
        }
        do {
            _ = try ResourceLimits.parseMemory("half")
        } catch {
            #expect(error.description.contains("expected a size such as 512m"))
        }
        #expect(throws: ResourceLimitsError.self) { try ResourceLimits.parseMemory("99999999t") }
    }

    @Test func cpusAndPidsHaveSaneRanges() throws {
        #expect(try ResourceLimits.parseCPUs("1.5") == 1.5)
        #expect(try ResourceLimits.parseCPUs(" 2 ") == 2)
        #expect(try ResourceLimits.parseCPUs("0.01") == 0.01)
        for bad in ["0", "0.001", "-1", "two", "1e3", "5000"] {
            #expect(throws: ResourceLimitsError.self) { try ResourceLimits.parseCPUs(bad) }
        }
        #expect(try ResourceLimits.parsePids("256") == 256)
        for bad in ["0", "-1", "many", "1.5"] {
            #expect(throws: ResourceLimitsError.self) { try ResourceLimits.parsePids(bad) }
        }
        let limits = try ResourceLimits.parse(memory: "64m", cpus: "0.5", pids: "20")
        #expect(limits == ResourceLimits(memoryBytes: 64 << 20, cpus: 0.5, pids: 20))
        #expect(try ResourceLimits.parse(memory: nil, cpus: nil, pids: nil).isEmpty)
        #expect(!limits.isEmpty)
    }

    @Test func summariesAreForPeople() {
        #expect(ResourceLimits(memoryBytes: 64 << 20, cpus: 0.5, pids: 20).summary == "memory 64 MiB, 0.5 CPUs, 20 processes")
        #expect(ResourceLimits(memoryBytes: 3 << 29, cpus: 1, pids: 1).summary == "memory 1.5 GiB, 1 CPU, 1 process")
        #expect(ResourceLimits().summary == "no limits")
        #expect(ResourceLimits.size(1000) == "1000 bytes")
        #expect(ResourceLimits(cpus: 1.25).cpuQuota(period: 100_000) == 125_000)
        #expect(ResourceLimits().cpuQuota(period: 100_000) == nil)
    }

    @Test func limitsTravelAsJSON() throws {
        let limits = ResourceLimits(memoryBytes: 64 << 20, pids: 3)
        let decoded = try JSONDecoder().decode(ResourceLimits.self, from: JSONEncoder().encode(limits))
        #expect(decoded == limits)
    }
}

@Suite struct CgroupLayoutTests {
    static let hybridMountinfo = """
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    50 23 0:40 / /with\\040space rw - ext4 /dev/sda rw
    """
    static let hybridCgroup = """
    9:name=systemd:/
    8:pids:/
    4:memory:/process_api/abc
    1:cpu:/
    0::/
    """

    @Test func aHybridMachineUsesItsV1Controllers() {
        let layout = CgroupLayout.parse(mountinfo: Self.hybridMountinfo, cgroup: Self.hybridCgroup)
        #expect(layout.hierarchies.count == 5)
        let memory = try! #require(layout.v1Hierarchy(for: "memory"))
        #expect(layout.directory(in: memory) == "/sys/fs/cgroup/memory/process_api/abc")
        #expect(layout.directory(in: layout.v1Hierarchy(for: "cpu")!) == "/sys/fs/cgroup/cpu")
        #expect(layout.unified?.mountPoint == "/sys/fs/cgroup/unified")
        #expect(layout.directory(in: layout.unified!) == "/sys/fs/cgroup/unified")
        #expect(layout.membership["systemd"] == nil)
        let (placement, missing) = layout.placement(for: ResourceLimits(memoryBytes: 64 << 20, cpus: 1, pids: 5))
        #expect(missing.isEmpty)
        #expect(placement["memory"]?.version == 1 && placement["pids"]?.mountPoint == "/sys/fs/cgroup/pids")
    }

    @Test func aCgroupNamespaceShowsItsRootAtTheMountPoint() {
        let layout = CgroupLayout.parse(
            mountinfo: "30 20 0:26 /docker/abc /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
            cgroup: "0::/docker/abc/build\n")
        #expect(layout.directory(in: layout.unified!) == "/sys/fs/cgroup/build")
        let outside = CgroupLayout.parse(mountinfo: "30 20 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", cgroup: "0::/other\n")
        #expect(outside.directory(in: outside.unified!) == nil)
        let atRoot = CgroupLayout.parse(mountinfo: "30 20 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", cgroup: "0::/\n")
        #expect(atRoot.directory(in: atRoot.unified!) == "/sys/fs/cgroup")
    }

    @Test func aControllerMountedNowhereIsMissing() {
        let layout = CgroupLayout.parse(mountinfo: "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", cgroup: "4:memory:/\n")
        let (placement, missing) = layout.placement(for: ResourceLimits(memoryBytes: 64 << 20, pids: 3))
        #expect(placement.keys.sorted() == ["memory"])
        #expect(missing == ["pids"])
        #expect(layout.summary == "v1 (memory)")
        #expect(CgroupLayout.parse(mountinfo: "", cgroup: "").summary == "no cgroup hierarchy mounted")
        #expect(CgroupLayout.controllers(for: ResourceLimits(cpus: 2)) == ["cpu"])
    }

    @Test func thisMachinesLayoutIsReadable() {
        let layout = CgroupLayout.current()
        #expect(!layout.hierarchies.isEmpty, "no cgroup hierarchy found in /proc/self/mountinfo")
        #expect(!layout.summary.isEmpty)
    }
}

/// Real cgroups, made by the code under test on this machine's hierarchies; root only (scripts/test runs as root).
@Suite(.serialized, .enabled(if: geteuid() == 0, "making cgroups needs root"))
struct CgroupGroupTests {
    static let counter = Atomic()
    final class Atomic: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }

    static func name() -> String { "idpbuild-test-\(getpid())-\(counter.next())" }

    /// Starts `sh -c script` held at `read` until released, so it joins the group before it does anything.
    static func heldShell(_ script: String) throws -> (Process, FileHandle) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "read go; " + script]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, input.fileHandleForWriting)
    }

    static func waitForExit(_ process: Process, seconds: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            guard Date() < deadline else {
                process.terminate()
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    @Test func limitsAreWrittenAndAProcessPastTheMemoryLimitIsKilled() async throws {
        let limits = ResourceLimits(memoryBytes: 32 << 20, cpus: 0.5, pids: 16)
        let group = try CgroupGroup(name: Self.name(), limits: limits)
        defer { group.remove() }
        for directory in group.directories {
            #expect(FileManager.default.fileExists(atPath: directory))
            let read = { (file: String) in (try? String(contentsOfFile: directory + "/" + file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let value = read("memory.limit_in_bytes") { #expect(value == String(32 << 20)) }
            if let value = read("memory.max") { #expect(value == String(32 << 20)) }
            if let value = read("cpu.cfs_quota_us") { #expect(value == "50000") }
            if let value = read("cpu.max") { #expect(value == "50000 100000") }
            if let value = read("pids.max") { #expect(value == "16") }
        }
        #expect(group.location.contains("idpbuild-test-"))
        if case .cgroup(let versions) = group.mechanism { #expect(!versions.isEmpty) } else { Issue.record("mechanism \(group.mechanism)") }
        #expect(group.outOfMemoryKills() == 0)
        // python3 keeps what it allocates: 200 MiB of touched memory against a 32 MiB limit.
        let (process, go) = try Self.heldShell("exec python3 -c 'b = bytearray(200 << 20); print(len(b))'")
        try group.add(process.processIdentifier)
        #expect(group.processes() == [process.processIdentifier])
        go.write(Data("\n".utf8))
        try await Self.waitForExit(process)
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        #expect(group.outOfMemoryKills() == 1)
        group.remove()
        for directory in group.directories { #expect(!FileManager.default.fileExists(atPath: directory)) }
    }

    @Test func thePidsLimitStopsForks() async throws {
        let group = try CgroupGroup(name: Self.name(), limits: ResourceLimits(pids: 4))
        defer { group.remove() }
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("pids-\(UUID().uuidString)").path
        defer { unlink(marker) }
        let (process, go) = try Self.heldShell("n=0; for i in 1 2 3 4 5 6 7 8; do sleep 5 & n=$((n+1)); done 2>/dev/null; echo $n > \(marker); kill $(jobs -p) 2>/dev/null; wait")
        try group.add(process.processIdentifier)
        go.write(Data("\n".utf8))
        try await Self.waitForExit(process)
        let started = Int((try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        // The shell itself counts: at most 3 children could start (fork fails with EAGAIN after that).
        #expect(started < 8, "all 8 background processes started under --pids-limit 4")
    }

    @Test func killAllEndsEveryProcessAndRemoveLeavesNothing() async throws {
        let group = try CgroupGroup(name: Self.name(), limits: ResourceLimits(memoryBytes: 64 << 20))
        let (process, go) = try Self.heldShell("sleep 294 & sleep 294")
        try group.add(process.processIdentifier)
        go.write(Data("\n".utf8))
        let deadline = Date().addingTimeInterval(10)
        while group.processes().count < 3 && Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(group.processes().count == 3)
        group.killAll()
        try await Self.waitForExit(process)
        #expect(group.processes().isEmpty)
        group.remove()
        for directory in group.directories { #expect(!FileManager.default.fileExists(atPath: directory)) }
    }

    @Test func aLimitTheKernelRefusesIsNamed() {
        // Below the kernel's 1 ms CFS quota: parsing would refuse it, so it is built directly to reach the kernel.
        do {
            let group = try CgroupGroup(name: Self.name(), limits: ResourceLimits(cpus: 0.001))
            group.remove()
            Issue.record("the kernel accepted a 100 µs CPU quota")
        } catch {
            guard case .kernelRefused(let option, let value, let file, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(option == "--cpus" && value == "0.001" || option == "--cpus")
            #expect(file.hasSuffix("cpu.cfs_quota_us") || file.hasSuffix("cpu.max"))
            #expect(error.description.contains("the kernel refused the limit --cpus"))
            #expect(error.description.contains("at least 0.01 CPUs"))
        }
        // Nothing is left behind by the failed attempt.
        let layout = CgroupLayout.current()
        if let cpu = layout.v1Hierarchy(for: "cpu") ?? layout.unified, let parent = layout.directory(in: cpu) {
            let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix("idpbuild-test-\(getpid())-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func placingAProcessThatDoesNotExistFailsWithItsPid() throws {
        let group = try CgroupGroup(name: Self.name(), limits: ResourceLimits(pids: 10))
        defer { group.remove() }
        #expect(throws: ResourceLimitsError.self) { try group.add(999_999_999) }
        do { try group.add(999_999_999) } catch { #expect(error.description.contains("pid 999999999")) }
    }

    @Test func aControllerThatIsNotMountedIsAClearError() {
        let layout = CgroupLayout.parse(mountinfo: "", cgroup: "")
        do {
            _ = try CgroupGroup(name: Self.name(), limits: ResourceLimits(memoryBytes: 64 << 20), layout: layout)
            Issue.record("a group without hierarchies was made")
        } catch {
            #expect(error.description.contains("the memory controller is available in no cgroup hierarchy"))
        }
    }
}
