import ArgumentParser
import BuildLog
import BuildService
import Foundation
import ImageStore
import LanguageServerHost
import ResourceLimits
import Sandbox
import Systemd
#if canImport(Glibc)
import Glibc
#endif

/// `idpbuild info`: what a person checks first when a build misbehaves — which paths are in use on this machine.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show how idpbuild runs here: user namespaces, overlayfs, the store, build limits, systemd and the shared server.",
        discussion: """
            Each line names what idpbuild will use and why: the user namespace mapping (your /etc/subuid and \
            /etc/subgid ranges, newuidmap), overlayfs, the store folder, how --memory/--cpus/--pids-limit are \
            enforced (a systemd user scope, a cgroup idpbuild makes as root, or not at all), whether logs go to the \
            journal, and where the shared language server listens. Exit status: 0 (problems are reported, not fatal).
            """, aliases: ["doctor"])

    @ArgumentParser.Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Option(name: .customLong("root"), help: "Image store directory (default: $XDG_DATA_HOME/idpbuild or ~/.local/share/idpbuild).")
    var root: String?

    /// One checked item: a label, what is used, and whether it is fine.
    struct Item: Encodable {
        var key: String
        var label: String
        var value: String
        var ok: Bool
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var items: [Item] = []
        let uid = getuid(), gid = getgid()
        let name = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? String(uid)
        items.append(Item(key: "version", label: "idpbuild", value: IDPBuild.configuration.version + " on Linux " + kernelRelease(), ok: true))
        items.append(userNamespaces(name: name, uid: uid, gid: gid))
        items.append(overlay())
        items.append(runNetwork())
        items.append(store(environment: environment))
        items.append(Item(key: "cgroups", label: "cgroups", value: CgroupLayout.current().summary, ok: true))
        let mechanism = BuildLimits.mechanism()
        var limitsOK = true
        if case .unavailable = mechanism { limitsOK = false }
        items.append(Item(key: "limits", label: "build limits", value: mechanism.description, ok: limitsOK))
        items.append(serviceManager(environment: environment))
        items.append(logs(environment: environment))
        items.append(sharedServer(environment: environment))
        items.append(Item(key: "registry", label: "registry", value: "\(BuilderConfig(environment: environment).registry)/\(BuilderConfig(environment: environment).namespace)", ok: true))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            struct Entry: Encodable { var label: String, value: String, ok: Bool }
            var object: [String: Entry] = [:]
            for item in items { object[item.key] = Entry(label: item.label, value: item.value, ok: item.ok) }
            FileHandle.standardOutput.write(try encoder.encode(object) + Data("\n".utf8))
            return
        }
        let width = items.map(\.label.count).max() ?? 0
        for item in items {
            let padded = item.label.padding(toLength: width, withPad: " ", startingAt: 0)
            print("\(padded)  \(item.ok ? "" : "(!) ")\(item.value)")
        }
    }

    func kernelRelease() -> String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func userNamespaces(name: String, uid: uid_t, gid: gid_t) -> Item {
        let tools = ["newuidmap", "newgidmap"].map { tool -> String in
            let path = ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"].map { $0 + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
            return path.map { "\(tool) \($0)" } ?? "\(tool) missing (install Debian's uidmap)"
        }
        let maximum = (try? String(contentsOfFile: "/proc/sys/user/max_user_namespaces", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        var ranges = "no /etc/subuid and /etc/subgid ranges for \(name)"
        var ok = true
        if let (mapping, _) = try? SubordinateIDPolicy(allowSingleIDFallback: false).mapping(user: name, uid: uid, gid: gid) {
            let show = { (entries: [IDMapEntry]) in
                entries.dropFirst().map { "\($0.hostID)-\(UInt64($0.hostID) + UInt64($0.count) - 1)" }.joined(separator: ", ")
            }
            ranges = "subuid \(show(mapping.uids)), subgid \(show(mapping.gids))"
        } else if uid != 0 {
            ok = false
            ranges += " (builds fall back to a single-ID mapping: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(name)`)"
        }
        let mode = uid == 0 ? "root: builds need no user namespace" : "rootless: builds run as root of a user namespace"
        ok = ok && (uid == 0 || !tools.contains { $0.contains("missing") }) && maximum != "0"
        return Item(key: "userNamespaces", label: "user namespaces",
                    value: "\(mode); \(ranges); \(tools.joined(separator: ", ")); max_user_namespaces \(maximum)", ok: ok)
    }

    func overlay() -> Item {
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        let present = filesystems.split(separator: "\n").contains { $0.hasSuffix("\toverlay") }
        let parts = kernelRelease().split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        let rootlessCapable = parts.count >= 2 && (parts[0], parts[1]) >= (5, 11)
        if !present {
            return Item(key: "overlay", label: "overlayfs", value: "not available in this kernel: `modprobe overlay`", ok: false)
        }
        let rootless = rootlessCapable ? "rootless overlay supported (Linux 5.11+)" : "rootless overlay needs Linux 5.11 or newer"
        return Item(key: "overlay", label: "overlayfs", value: "available; \(rootless)", ok: rootlessCapable || getuid() == 0)
    }

    /// What a RUN's network is here: slirp4netns in a namespace of its own, or why that cannot start.
    func runNetwork() -> Item {
        switch Sandbox().privateNetworkStatus() {
        case .success(let path):
            let version = Self.firstLine(of: path, ["--version"]) ?? path
            return Item(key: "runNetwork", label: "RUN network",
                        value: "a namespace of its own with user-mode networking (\(version), host loopback blocked); " +
                               "--network=none; --network=host with --allow network.host", ok: true)
        case .failure(let error):
            return Item(key: "runNetwork", label: "RUN network", value: "unavailable: \(error)", ok: false)
        }
    }

    /// The first line a program prints, or nil when it cannot run.
    static func firstLine(of program: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    func store(environment: [String: String]) -> Item {
        let path = root ?? ImageStore.defaultRoot(environment: environment)
        var status = statvfs()
        guard FileManager.default.fileExists(atPath: path) else {
            return Item(key: "store", label: "store", value: "\(path) (not made yet; the first pull or build makes it)", ok: true)
        }
        let free = statvfs(path, &status) == 0 ? ResourceLimits.size(UInt64(status.f_bavail) * UInt64(status.f_frsize)) + " free" : "free space unknown"
        return Item(key: "store", label: "store", value: "\(path) (\(free))", ok: true)
    }

    func serviceManager(environment: [String: String]) -> Item {
        var parts: [String] = []
        parts.append(ServiceNotifier.isExpected(environment: environment) ? "started by a service manager (NOTIFY_SOCKET)" : "not started by a service manager")
        do {
            _ = try ServiceManager.connectUser()
            parts.append("user manager reachable over D-Bus")
        } catch {
            parts.append("user manager unreachable (\(error.description.components(separatedBy: ";").first ?? ""))")
        }
        if geteuid() == 0 {
            parts.append((try? ServiceManager.connectSystem()) != nil ? "system manager reachable" : "no system manager on D-Bus")
        }
        let pid1 = (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        parts.append("PID 1 is \(pid1)")
        return Item(key: "systemd", label: "systemd", value: parts.joined(separator: "; "), ok: true)
    }

    func logs(environment: [String: String]) -> Item {
        let destination = LogDestination.auto.resolved(environment: environment)
        let journal = Journal.isAvailable ? "journald is available (--log journald)" : "no journald socket here"
        return Item(key: "logs", label: "logs", value: "--log auto goes to \(destination.rawValue); \(journal)", ok: true)
    }

    func sharedServer(environment: [String: String]) -> Item {
        guard case .unix(let path)? = try? ListenAddress.defaultUnix(environment: environment) else {
            return Item(key: "languageServer", label: "shared server", value: "XDG_RUNTIME_DIR is not set: give idpbuild lsp --listen unix:PATH", ok: true)
        }
        let state: String
        if !FileManager.default.fileExists(atPath: path) {
            state = "not running"
        } else if let fd = try? SocketProbe.connect(path) {
            close(fd)
            state = "listening"
        } else {
            state = "a stale socket file (the next server replaces it)"
        }
        return Item(key: "languageServer", label: "shared server", value: "unix:\(path): \(state)", ok: true)
    }
}
