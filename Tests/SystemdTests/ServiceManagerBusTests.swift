import Foundation
import ResourceLimits
@testable import Systemd
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The D-Bus side of the user manager path. A real systemd user manager cannot run on the test machines (PID 1 is
/// not systemd), so these tests talk to a real dbus-daemon on which a small stand-in for systemd's Manager API
/// (Fixtures/systemd/fake-systemd1.py, GLib's GDBus) answers: what is real is sd-bus, the bus and the messages; the
/// systemd behaviour behind them is the stand-in's. Where a user manager runs, `idpbuild info` and the build use the
/// real one through `ServiceManager.connectUser()`.
final class FakeServiceManager: @unchecked Sendable {
    let folder: String
    let address: String
    let calls: String
    private let bus = Process()
    private let service = Process()

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/gi")
    }

    init() async throws {
        var template = Array("/tmp/idpbuild-bus-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw SystemdError.managerUnreachable(manager: "test", detail: "mkdtemp") }
        folder = String(cString: made)
        address = "unix:path=\(folder)/bus"
        calls = folder + "/calls.jsonl"
        _ = FileManager.default.createFile(atPath: calls, contents: nil)
        bus.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
        bus.arguments = ["--session", "--nofork", "--nopidfile", "--address=" + address]
        bus.standardOutput = FileHandle.nullDevice
        try bus.run()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/systemd/fake-systemd1.py").path
        try await Self.wait("the bus socket") { FileManager.default.fileExists(atPath: self.folder + "/bus") }
        service.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        service.arguments = [fixture, calls]
        // The environment is the child's only: the test process's own stays untouched.
        service.environment = ["DBUS_SESSION_BUS_ADDRESS": address, "PATH": "/usr/bin:/bin"]
        try service.run()
        try await Self.wait("the stand-in to own org.freedesktop.systemd1") { self.recorded().contains { $0["ready"] != nil } }
    }

    deinit {
        // SIGKILL: GLib's main loop in the stand-in does not act on SIGTERM while it waits.
        for process in [service, bus] where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The calls the stand-in received.
    func recorded() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: calls, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    static func wait(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(20)
        while !condition() {
            guard Date() < deadline else { throw SystemdError.managerUnreachable(manager: "test", detail: "timed out waiting for \(what)") }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
    }
}

@Suite(.serialized, .enabled(if: FakeServiceManager.available, "needs dbus-daemon and python3-gi (scripts/apt-packages)"))
struct ServiceManagerBusTests {
    @Test func aScopeStartsAroundTheWorkerWithEveryLimitAndDelegation() async throws {
        let fake = try await FakeServiceManager()
        let manager = try ServiceManager.connect(address: fake.address)
        let scope = ScopeGroup(name: "idpbuild-build-1-1", description: "idpbuild build seed",
                               limits: ResourceLimits(memoryBytes: 64 << 20, cpus: 0.5, pids: 20), manager: manager)
        #expect(scope.mechanism == .systemdScope(manager: "user") && scope.location == "idpbuild-build-1-1.scope")
        try scope.add(4242)
        let start = try #require(fake.recorded().first { $0["call"] as? String == "StartTransientUnit" })
        #expect(start["name"] as? String == "idpbuild-build-1-1.scope" && start["mode"] as? String == "fail" && start["aux"] as? Int == 0)
        let properties = try #require(start["properties"] as? [String: Any])
        #expect(properties["Delegate"] as? Bool == true)
        #expect(properties["PIDs"] as? [Int] == [4242])
        #expect(properties["MemoryMax"] as? Int == 64 << 20)
        #expect(properties["CPUQuotaPerSecUSec"] as? Int == 500_000)
        #expect(properties["TasksMax"] as? Int == 20)
        #expect(properties["Description"] as? String == "idpbuild build seed")
        #expect(try manager.unitProperty("idpbuild-build-1-1.scope", "ActiveState") == "active")
        #expect(try manager.unitProperty("idpbuild-build-1-1.scope", "ControlGroup").hasSuffix("/idpbuild-build-1-1.scope"))
        // No such cgroup here: no OOM kills are read.
        #expect(scope.outOfMemoryKills() == 0)
        scope.killAll()
        let kill = try #require(fake.recorded().first { $0["call"] as? String == "KillUnit" })
        #expect(kill["name"] as? String == "idpbuild-build-1-1.scope" && kill["whom"] as? String == "all" && kill["signal"] as? Int == Int(SIGKILL))
        scope.remove()  // the manager removes an empty scope itself
        do {
            try scope.add(4243)
            Issue.record("a second process was added to a started scope")
        } catch {
            #expect(error.description.contains("the scope already runs"))
        }
    }

    @Test func aLimitTheManagerRefusesIsNamed() async throws {
        let fake = try await FakeServiceManager()
        let manager = try ServiceManager.connect(address: fake.address)
        let scope = ScopeGroup(name: "refused", description: "", limits: ResourceLimits(memoryBytes: 7 << 20), manager: manager)
        do {
            try scope.add(1)
            Issue.record("the refusal was not reported")
        } catch {
            #expect(error.description == "the systemd manager refused StartTransientUnit for refused.scope: Invalid MemoryMax value for this scope (org.freedesktop.DBus.Error.InvalidArgs) (--memory 7 MiB)")
        }
        // A scope that never started has nothing to kill.
        scope.killAll()
        #expect(!fake.recorded().contains { $0["call"] as? String == "KillUnit" })
    }

    @Test func aUnitThatFailsAndAnUnknownUnitAreClearErrors() async throws {
        let fake = try await FakeServiceManager()
        let manager = try ServiceManager.connect(address: fake.address)
        #expect(throws: SystemdError.unitNotActive(unit: "it-fails.scope", state: "failed")) {
            try manager.startTransientScope(TransientScope(name: "it-fails.scope", description: "", pids: [1]), timeout: .seconds(2))
        }
        do {
            try manager.killUnit("never-started.scope")
            Issue.record("killing an unknown unit succeeded")
        } catch {
            #expect(error.description.contains("refused KillUnit for never-started.scope: Unit never-started.scope not loaded."))
        }
        do {
            _ = try manager.unitProperty("never-started.scope", "ActiveState")
            Issue.record("an unknown unit had a state")
        } catch {
            #expect(error.description.contains("refused Get ActiveState"))
        }
    }

    @Test func aBusWithoutSystemdOrNoBusAtAllIsUnreachable() async throws {
        let fake = try await FakeServiceManager()
        // Stop the stand-in: the bus stays, nobody owns org.freedesktop.systemd1.
        withExtendedLifetime(fake) {}
        #expect(throws: SystemdError.self) { try ServiceManager.connect(address: "unix:path=\(fake.folder)/nothing-here") }
        do {
            _ = try ServiceManager.connect(address: "unix:path=\(fake.folder)/nothing-here")
        } catch {
            #expect(error.description.contains("no systemd user manager is reachable over D-Bus (no bus at unix:path="))
        }
    }
}
