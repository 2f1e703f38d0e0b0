// RUN's network: a namespace of its own with user-mode networking (slirp4netns) by default, the host's on request,
// none. Real slirp4netns from Debian; as an unprivileged user it needs /dev/net/tun mode 0666, which ordinary
// distributions ship and scripts/test-rootless sets on this machine (where it is 0600) before these tests run.
import Foundation
import Sandbox
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on the host's 127.0.0.1 that counts the connections it accepts.
final class LoopbackListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Connections accepted so far (each is closed at once).
    func accepted() -> Int {
        var count = 0
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return count }
            close(client)
            count += 1
        }
    }

    deinit { close(fd) }
}

/// slirp4netns processes whose target PID (their next-to-last argument) no longer exists: leaked by a run.
func orphanedSlirp4netns() -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
        guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard arguments.first?.hasSuffix("slirp4netns") == true, arguments.count >= 2,
              let target = Int32(arguments[arguments.count - 2]) else { return nil }
        return kill(target, 0) == 0 || errno == EPERM ? nil : pid
    }
}

@Suite(.serialized) struct SandboxNetworkTests {
    @Test func theDefaultIsAPrivateNamespaceThatReachesOutButNotTheHostsLoopback() async throws {
        let fixture = try Fixture("netprivate")
        let listener = try LoopbackListener()
        let script = """
            ip -o link | cut -d: -f2 | tr -d ' '; echo ---
            cat /etc/resolv.conf | grep nameserver; echo ---
            nc -w 2 127.0.0.1 \(listener.port) -e true && echo loopback-open || echo loopback-refused
            nc -w 2 10.0.2.2 \(listener.port) -e true && echo gateway-open || echo gateway-refused
            wget -q -O - http://deb.debian.org/debian/dists/bookworm/Release | head -n 1
            """
        let result = try await fixture.run(["sh", "-c", script])
        #expect(result.termination == .exited(0), "\(result.output)")
        let lines = result.stdout
        #expect(lines.prefix(while: { $0 != "---" }).sorted() == ["lo", "tap0"])
        #expect(lines.contains("nameserver 10.0.2.3"))
        #expect(lines.contains("loopback-refused"))
        #expect(lines.contains("gateway-refused"))
        #expect(listener.accepted() == 0, "a RUN reached a service on the host's loopback")
        // Debian's mirror, through slirp4netns's NAT and DNS.
        #expect(lines.contains { $0.hasPrefix("Origin: Debian") }, "\(result.output)")
        #expect(fixture.stateIsEmpty)
        // slirp4netns is told to go when the command ends and is reaped on its own time.
        #expect(eventually(within: 5) { orphanedSlirp4netns().isEmpty })
    }

    @Test func theHostNetworkIsTheHostsWhenAsked() async throws {
        let fixture = try Fixture("nethost")
        let listener = try LoopbackListener()
        let result = try await fixture.run(["sh", "-c", "ip -o link | wc -l; nc -w 2 127.0.0.1 \(listener.port) -e true && echo open"]) {
            $0.network = .host
        }
        let hostLinks = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net").count) ?? 0
        #expect(Int(result.stdout.first?.trimmingCharacters(in: .whitespaces) ?? "") == hostLinks)
        #expect(result.stdout.contains("open"))
        #expect(listener.accepted() == 1)
    }

    @Test func aMissingSlirp4netnsIsAClearErrorAndNothingRuns() async throws {
        let fixture = try Fixture("netmissing")
        let sandbox = Sandbox(temporaryDirectory: fixture.state, slirp4netns: fixture.scratch.path + "/no-slirp4netns")
        await #expect { _ = try await sandbox.runCollecting(SandboxConfiguration(layers: [fixture.rootfs], command: ["touch", "/ran"])) } throws: { error in
            guard case .userModeNetwork? = error as? SandboxError else { return false }
            return "\(error)".contains("apt-get install slirp4netns") && "\(error)".contains("--network=none")
        }
        if case .failure(let problem) = sandbox.privateNetworkStatus() {
            #expect(problem.description.contains("no-slirp4netns is not an executable"))
        } else {
            Issue.record("privateNetworkStatus() should name the missing executable")
        }
        #expect(fixture.stateIsEmpty)
    }

    /// Runs only where /dev/net/tun is closed to this user (scripts/test-rootless runs it before opening it).
    @Test(.enabled(if: geteuid() != 0 && access("/dev/net/tun", R_OK | W_OK) != 0, "needs an unprivileged user without /dev/net/tun access"))
    func noAccessToTheTunDeviceIsAClearErrorNotTheHostNetwork() async throws {
        let fixture = try Fixture("nettun")
        await #expect { _ = try await fixture.run(["touch", "/ran"]) } throws: { error in
            guard case .userModeNetwork(let detail)? = error as? SandboxError else { return false }
            return detail.contains("/dev/net/tun") && "\(error)".contains("chmod 0666 /dev/net/tun")
        }
        #expect(fixture.stateIsEmpty)
        #expect(eventually(within: 5) { orphanedSlirp4netns().isEmpty })
    }

    @Test func aRunStartsWithDockersUmaskWhateverTheCallersIs() throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        let fixture = try Fixture("umask")
        for callerUmask in ["0000", "0002", "0077"] {
            let output = try run("/bin/sh", ["-c", "umask \(callerUmask); exec '\(idpbuildBinary)' run --network none --rootfs '\(fixture.rootfs)' -- " +
                                             "sh -c 'umask; echo x > /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d'"])
            #expect(output.status == 0, "\(output.stderr)")
            #expect(output.stdout.split(separator: "\n") == ["0022", "644", "755"], "caller umask \(callerUmask)")
        }
    }
}
