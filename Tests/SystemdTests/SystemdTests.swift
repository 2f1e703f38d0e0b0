import Foundation
import ResourceLimits
@testable import Systemd
import Testing
#if canImport(Glibc)
import Glibc
#endif

// In-process tests of the libsystemd wrapper. The paths that need a peer (NOTIFY_SOCKET, socket activation, the
// journal's socket) read the environment or fixed paths, which a test process must not change (suites run in
// parallel threads): Tests/ServiceTests drive them through `idpbuild` child processes against real peers.
// The user manager cannot run here (PID 1 is not systemd, no session bus): its tests pin the unreachable case and
// the request built for it.

@Suite struct NotifyTests {
    @Test func statesBecomeOneAssignmentPerLine() {
        let text = ServiceNotifier.message([.ready, .status("2 builds running\nand more"), .mainPID(42)])
        #expect(text == "READY=1\nSTATUS=2 builds running and more\nMAINPID=42")
        #expect(ServiceNotifier.message([.stopping, .watchdog]) == "STOPPING=1\nWATCHDOG=1")
    }

    @Test func aManagerIsExpectedOnlyWithANotifySocket() {
        #expect(ServiceNotifier.isExpected(environment: ["NOTIFY_SOCKET": "/run/user/1000/systemd/notify"]))
        #expect(!ServiceNotifier.isExpected(environment: ["NOTIFY_SOCKET": ""]))
        #expect(!ServiceNotifier.isExpected(environment: [:]))
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] == nil, "the test runs under a service manager"))
    func withoutANotifySocketNotifyingIsANoOp() throws {
        #expect(try ServiceNotifier().notify([.ready, .status("idle")]) == false)
        #expect(ServiceNotifier.watchdogPeriod() == nil || ProcessInfo.processInfo.environment["WATCHDOG_USEC"] != nil)
    }

    @Test func pingsComeTwicePerWatchdogPeriod() {
        #expect(ServiceNotifier.pingInterval(for: .seconds(30)) == .seconds(15))
    }
}

@Suite struct SocketActivationTests {
    @Test func descriptorsForAnotherProcessAreIgnoredWithAReason() {
        #expect(SocketActivation.ignoredReason(environment: [:], pid: 10) == nil)
        #expect(SocketActivation.ignoredReason(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "10"], pid: 10) == nil)
        let other = SocketActivation.ignoredReason(environment: ["LISTEN_FDS": "2", "LISTEN_PID": "11"], pid: 10)
        #expect(other?.contains("LISTEN_PID is 11, not this process (10)") == true)
        #expect(other?.contains("2 passed descriptor(s)") == true)
        #expect(SocketActivation.ignoredReason(environment: ["LISTEN_FDS": "1"], pid: 10)?.contains("without LISTEN_PID") == true)
        #expect(SocketActivation.ignoredReason(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "me"], pid: 10)?.contains("not a process id") == true)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["LISTEN_FDS"] == nil, "the test runner was socket-activated"))
    func nothingPassedMeansNoSockets() throws {
        #expect(try SocketActivation.takeSockets().isEmpty)
    }
}

@Suite struct JournalTests {
    @Test func entriesSendMessagePriorityThenFieldsInOrder() throws {
        var entry = JournalEntry(message: "#3 hello", priority: .warning)
        try entry.add("IDPBUILD_STEP", "3")
        try entry.add("CODE_FILE", "/src/Dockerfile")
        try entry.add("IDPBUILD_STEP", "4")
        #expect(entry.assignments == ["MESSAGE=#3 hello", "PRIORITY=4", "IDPBUILD_STEP=3", "CODE_FILE=/src/Dockerfile", "IDPBUILD_STEP=4"])
        #expect(entry["IDPBUILD_STEP"] == "3")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["MESSAGE"] == "#3 hello")
        #expect(entry["MISSING"] == nil)
    }

    @Test func fieldNamesJournaldWouldDropAreRefused() {
        var entry = JournalEntry(message: "x")
        for bad in ["lower", "_SOURCE_REALTIME_TIMESTAMP", "1ABC", "", String(repeating: "A", count: 65), "WITH-DASH", "ÄB"] {
            #expect(throws: SystemdError.invalidFieldName(bad)) { try entry.add(bad, "v") }
        }
        #expect(JournalEntry.isValidFieldName("IDPBUILD_BUILD_ID"))
        #expect(JournalEntry.isValidFieldName(String(repeating: "A", count: 64)))
        #expect(SystemdError.invalidFieldName("lower").description.contains("A-Z, 0-9 and _"))
    }

    @Test func journalStreamMatchesOnlyTheSameFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-stream-\(UUID().uuidString)").path
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        var status = stat()
        try #require(fstat(fd, &status) == 0)
        let matching = "\(status.st_dev):\(status.st_ino)"
        #expect(Journal.isConnected(descriptor: fd, environment: ["JOURNAL_STREAM": matching]))
        #expect(!Journal.isConnected(descriptor: fd, environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino + 1)"]))
        #expect(!Journal.isConnected(descriptor: fd, environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!Journal.isConnected(descriptor: fd, environment: [:]))
        #expect(!Journal.isConnected(descriptor: -1, environment: ["JOURNAL_STREAM": matching]))
    }

    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket"), "journald runs here"))
    func withoutJournaldEntriesAreDroppedAndTheJournalSaysItIsUnavailable() throws {
        // libsystemd's documented behaviour: no socket, no error (the entry is dropped); callers check isAvailable.
        #expect(!Journal.isAvailable)
        try Journal().send(JournalEntry(message: "nobody listens"))
        #expect(SystemdError.journalUnavailable(errno: ECONNREFUSED).description.contains("--log stderr"))
    }
}

@Suite struct ServiceManagerTests {
    static var noSessionBus: Bool {
        let environment = ProcessInfo.processInfo.environment
        let runtime = environment["XDG_RUNTIME_DIR"].map { $0 + "/bus" }
        return environment["DBUS_SESSION_BUS_ADDRESS"] == nil && !(runtime.map(FileManager.default.fileExists(atPath:)) ?? false)
    }

    @Test(.enabled(if: noSessionBus, "a session bus exists here"))
    func withoutASessionBusTheManagerIsUnreachableWithAReason() {
        do {
            _ = try ServiceManager.connectUser()
            Issue.record("connected to a user manager without a session bus")
        } catch {
            guard case .managerUnreachable = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(error.description.contains("no systemd user manager is reachable over D-Bus"))
            #expect(error.description.contains("run as root"))
        }
    }

    @Test func theScopeRequestCarriesEveryLimit() {
        let limits = ResourceLimits(memoryBytes: 256 << 20, cpus: 1.5, pids: 100)
        let request = ScopeGroup.request(name: "idpbuild-build-7", description: "idpbuild build seed", limits: limits, pid: 4242)
        #expect(request.name == "idpbuild-build-7.scope")
        #expect(request.pids == [4242])
        #expect(request.memoryMax == 256 << 20)
        #expect(request.cpuQuotaPerSecond == 1_500_000)
        #expect(request.tasksMax == 100)
        let partial = ScopeGroup.request(name: "x.scope", description: "", limits: ResourceLimits(pids: 5), pid: 1)
        #expect(partial.name == "x.scope" && partial.memoryMax == nil && partial.cpuQuotaPerSecond == nil && partial.tasksMax == 5)
    }

    @Test func aRefusalNamesTheLimitItIsAbout() {
        let limits = ResourceLimits(memoryBytes: 64 << 20, cpus: 0.5, pids: 10)
        let refusal = { (message: String) in
            SystemdError.managerRefused(call: "StartTransientUnit", unit: "x.scope", name: "org.freedesktop.DBus.Error.InvalidArgs", message: message)
        }
        #expect(ScopeGroup.hint(refusal("Invalid MemoryMax value"), limits: limits) == " (--memory 64 MiB)")
        #expect(ScopeGroup.hint(refusal("CPUQuotaPerSecUSec out of range"), limits: limits) == " (--cpus 0.5)")
        #expect(ScopeGroup.hint(refusal("TasksMax too large"), limits: limits) == " (--pids-limit 10)")
        #expect(ScopeGroup.hint(refusal("Access denied"), limits: limits) == "")
        #expect(refusal("Access denied").description == "the systemd manager refused StartTransientUnit for x.scope: Access denied (org.freedesktop.DBus.Error.InvalidArgs)")
        #expect(SystemdError.managerUnreachable(manager: "system", detail: "no system bus").description.contains("the engine makes a cgroup itself"))
        #expect(SystemdError.unitNotActive(unit: "x.scope", state: "failed").description.contains("systemctl --user status x.scope"))
        #expect(SystemdError.notifyFailed(socket: "/run/n", errno: ECONNREFUSED).description.contains("NotifyAccess="))
        #expect(SystemdError.listenFDsInvalid(errno: EBADF).description.contains(".socket unit"))
    }
}
