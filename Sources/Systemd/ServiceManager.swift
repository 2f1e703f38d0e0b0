import CSystemd
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What to ask the user manager for: a transient scope around running processes (systemd.resource-control(5)).
public struct TransientScope: Sendable, Hashable {
    /// The unit name, ending in `.scope`.
    public var name: String
    /// `Description=`.
    public var description: String
    /// The processes it starts with (`PIDs=`).
    public var pids: [UInt32]
    /// `MemoryMax=` in bytes.
    public var memoryMax: UInt64?
    /// `CPUQuotaPerSecUSec=`: CPU time per second of wall time, in microseconds (1.5 CPUs = 1,500,000).
    public var cpuQuotaPerSecond: UInt64?
    /// `TasksMax=`.
    public var tasksMax: UInt64?

    /// Makes a request; `Delegate=yes` is always set, so the processes may make their own sub-cgroups.
    public init(name: String, description: String, pids: [UInt32], memoryMax: UInt64? = nil, cpuQuotaPerSecond: UInt64? = nil,
                tasksMax: UInt64? = nil) {
        self.name = name
        self.description = description
        self.pids = pids
        self.memoryMax = memoryMax
        self.cpuQuotaPerSecond = cpuQuotaPerSecond
        self.tasksMax = tasksMax
    }
}

/// A systemd service manager over D-Bus (sd-bus): the user's (`systemctl --user`) or, for root, the system's.
/// Transient scopes, kill, unit state. One connection, used from one thread at a time (sd-bus is not thread-safe).
public final class ServiceManager: @unchecked Sendable {
    /// Which manager: `user` or `system` (or `test` for one on a given address).
    public let kind: String
    private let lock = NSLock()
    private let bus: OpaquePointer
    private static let destination = "org.freedesktop.systemd1"
    private static let managerPath = "/org/freedesktop/systemd1"
    private static let managerInterface = "org.freedesktop.systemd1.Manager"

    private init(bus: OpaquePointer, kind: String) {
        self.bus = bus
        self.kind = kind
    }

    deinit { sd_bus_flush_close_unref(bus) }

    /// Connects to the user manager (`sd_bus_open_user`: `DBUS_SESSION_BUS_ADDRESS`, or `$XDG_RUNTIME_DIR/bus`) and
    /// checks that it answers.
    public static func connectUser() throws(SystemdError) -> ServiceManager {
        var bus: OpaquePointer?
        let result = sd_bus_open_user(&bus)
        guard result >= 0, let bus else {
            let address = getenv("DBUS_SESSION_BUS_ADDRESS").map { String(cString: $0) }
                ?? getenv("XDG_RUNTIME_DIR").map { "unix:path=" + String(cString: $0) + "/bus" }
            throw .managerUnreachable(manager: "user", detail: address.map { "no session bus at \($0): " + SystemdError.text(-result) }
                                      ?? "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set")
        }
        return try checked(ServiceManager(bus: bus, kind: "user"))
    }

    /// Connects to the system manager (`sd_bus_open_system`; root may start scopes there) and checks that it answers.
    public static func connectSystem() throws(SystemdError) -> ServiceManager {
        var bus: OpaquePointer?
        let result = sd_bus_open_system(&bus)
        guard result >= 0, let bus else {
            throw .managerUnreachable(manager: "system", detail: "no system bus: " + SystemdError.text(-result))
        }
        return try checked(ServiceManager(bus: bus, kind: "system"))
    }

    /// Connects to the manager on the bus at `address` (a D-Bus address such as `unix:path=/run/user/1000/bus`).
    public static func connect(address: String, kind: String = "user") throws(SystemdError) -> ServiceManager {
        var bus: OpaquePointer?
        guard sd_bus_new(&bus) >= 0, let bus else { throw .managerUnreachable(manager: kind, detail: "sd_bus_new failed") }
        var result = sd_bus_set_address(bus, address)
        if result >= 0 { result = sd_bus_set_bus_client(bus, 1) }
        if result >= 0 { result = sd_bus_start(bus) }
        guard result >= 0 else {
            sd_bus_flush_close_unref(bus)
            throw .managerUnreachable(manager: kind, detail: "no bus at \(address): " + SystemdError.text(-result))
        }
        return try checked(ServiceManager(bus: bus, kind: kind))
    }

    /// Asking for a property proves a systemd manager (not just some bus) is there.
    private static func checked(_ manager: ServiceManager) throws(SystemdError) -> ServiceManager {
        do {
            _ = try manager.locked { () throws(SystemdError) in
                try manager.property(path: managerPath, interface: managerInterface, "Version", call: "connect")
            }
        } catch {
            throw .managerUnreachable(manager: manager.kind, detail: "the bus answers, but no systemd manager is on it (\(error))")
        }
        return manager
    }

    /// Starts a transient scope around `scope.pids` with its limits and waits (up to `timeout`) until it is active.
    public func startTransientScope(_ scope: TransientScope, timeout: Duration = .seconds(5)) throws(SystemdError) {
        try locked { () throws(SystemdError) in
            var message: OpaquePointer?
            try check(sd_bus_message_new_method_call(bus, &message, Self.destination, Self.managerPath, Self.managerInterface,
                                                     "StartTransientUnit"), "StartTransientUnit", scope.name)
            defer { sd_bus_message_unref(message) }
            // StartTransientUnit(s name, s mode, a(sv) properties, a(sa(sv)) auxiliary)
            try appendString(message, scope.name, unit: scope.name)
            try appendString(message, "fail", unit: scope.name)
            try container(message, "a", "(sv)", unit: scope.name) { () throws(SystemdError) in
                try property(message, "Description", "s", unit: scope.name) { () throws(SystemdError) in try appendString(message, scope.description, unit: scope.name) }
                try property(message, "Delegate", "b", unit: scope.name) { () throws(SystemdError) in
                    var yes: Int32 = 1
                    try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "b")), &yes), "StartTransientUnit", scope.name)
                }
                try property(message, "PIDs", "au", unit: scope.name) { () throws(SystemdError) in
                    try container(message, "a", "u", unit: scope.name) { () throws(SystemdError) in
                        for pid in scope.pids {
                            var value = pid
                            try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "u")), &value), "StartTransientUnit", scope.name)
                        }
                    }
                }
                for (name, value) in [("MemoryMax", scope.memoryMax), ("CPUQuotaPerSecUSec", scope.cpuQuotaPerSecond), ("TasksMax", scope.tasksMax)] {
                    guard var value else { continue }
                    try property(message, name, "t", unit: scope.name) { () throws(SystemdError) in
                        try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "t")), &value), "StartTransientUnit", scope.name)
                    }
                }
            }
            try container(message, "a", "(sa(sv))", unit: scope.name) {}
            try call(message, "StartTransientUnit", unit: scope.name)
        }
        let deadline = ContinuousClock.now + timeout
        var state = "unknown"
        while ContinuousClock.now < deadline {
            state = try unitProperty(scope.name, "ActiveState")
            if state == "active" { return }
            if state == "failed" { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        throw .unitNotActive(unit: scope.name, state: state)
    }

    /// Sends `signal` to every process of a unit (`KillUnit` with `all`).
    public func killUnit(_ name: String, signal: Int32 = SIGKILL) throws(SystemdError) {
        try locked { () throws(SystemdError) in
            var message: OpaquePointer?
            try check(sd_bus_message_new_method_call(bus, &message, Self.destination, Self.managerPath, Self.managerInterface, "KillUnit"),
                      "KillUnit", name)
            defer { sd_bus_message_unref(message) }
            try appendString(message, name, unit: name)
            try appendString(message, "all", unit: name)
            var number = signal
            try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "i")), &number), "KillUnit", name)
            try call(message, "KillUnit", unit: name)
        }
    }

    /// A string property of a unit (`ActiveState`, `ControlGroup`, …).
    public func unitProperty(_ unit: String, _ name: String) throws(SystemdError) -> String {
        var encoded: UnsafeMutablePointer<CChar>?
        try check(sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &encoded), "GetUnit", unit)
        defer { free(encoded) }
        let path = String(cString: encoded!)
        let interface = name == "ControlGroup" ? "org.freedesktop.systemd1.Scope" : "org.freedesktop.systemd1.Unit"
        return try locked { () throws(SystemdError) in try property(path: path, interface: interface, name, call: "Get \(name)") }
    }

    // MARK: sd-bus plumbing

    private func property(path: String, interface: String, _ name: String, call: String) throws(SystemdError) -> String {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var value: UnsafeMutablePointer<CChar>?
        let result = sd_bus_get_property_string(bus, Self.destination, path, interface, name, &error, &value)
        defer { free(value) }
        guard result >= 0, let value else { throw refusal(call, unit: path, error: error, result: result) }
        return String(cString: value)
    }

    private func call(_ message: OpaquePointer?, _ name: String, unit: String) throws(SystemdError) {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        let result = sd_bus_call(bus, message, 10_000_000, &error, &reply)
        defer { sd_bus_message_unref(reply) }
        guard result >= 0 else { throw refusal(name, unit: unit, error: error, result: result) }
    }

    private func refusal(_ call: String, unit: String, error: sd_bus_error, result: Int32) -> SystemdError {
        let name = error.name.map { String(cString: $0) } ?? "errno \(-result)"
        let message = error.message.map { String(cString: $0) } ?? SystemdError.text(-result)
        return .managerRefused(call: call, unit: unit, name: name, message: message)
    }

    private func check(_ result: Int32, _ call: String, _ unit: String) throws(SystemdError) {
        if result < 0 { throw .managerRefused(call: call, unit: unit, name: "errno \(-result)", message: SystemdError.text(-result)) }
    }

    private func appendString(_ message: OpaquePointer?, _ text: String, unit: String) throws(SystemdError) {
        let result = text.withCString { sd_bus_message_append_basic(message, CChar(UInt8(ascii: "s")), $0) }
        try check(result, "StartTransientUnit", unit)
    }

    private func locked<T>(_ body: () throws(SystemdError) -> T) throws(SystemdError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func container(_ message: OpaquePointer?, _ type: Character, _ contents: String, unit: String,
                           _ body: () throws(SystemdError) -> Void) throws(SystemdError) {
        try check(sd_bus_message_open_container(message, CChar(type.asciiValue!), contents), "StartTransientUnit", unit)
        try body()
        try check(sd_bus_message_close_container(message), "StartTransientUnit", unit)
    }

    /// One `(sv)` entry: the name, then the value in a variant of `signature`.
    private func property(_ message: OpaquePointer?, _ name: String, _ signature: String, unit: String,
                          _ value: () throws(SystemdError) -> Void) throws(SystemdError) {
        try container(message, "r", "sv", unit: unit) { () throws(SystemdError) in
            try appendString(message, name, unit: unit)
            try container(message, "v", signature, unit: unit, value)
        }
    }
}
