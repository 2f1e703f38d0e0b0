import Foundation

/// The limits a build runs under: memory, CPUs and processes (`--memory`, `--cpus`, `--pids-limit`; the LSP settings
/// `memory`, `cpus`, `pidsLimit`). Each is optional; an empty value means no limits were asked for.
public struct ResourceLimits: Sendable, Codable, Hashable {
    /// The most memory the build's processes may use together, in bytes.
    public var memoryBytes: UInt64?
    /// How many CPUs' worth of time the build may use (1.5 = one and a half CPUs).
    public var cpus: Double?
    /// The most processes (tasks) the build may have at once.
    public var pids: Int?

    /// The smallest memory limit accepted: below it not even the build worker starts.
    public static let minimumMemory: UInt64 = 6 << 20
    /// The smallest CPU share accepted: the kernel's CFS quota minimum (1 ms per 100 ms period).
    public static let minimumCPUs = 0.01

    /// Makes limits; nil means "not limited".
    public init(memoryBytes: UInt64? = nil, cpus: Double? = nil, pids: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.pids = pids
    }

    /// Whether no limit is set.
    public var isEmpty: Bool { memoryBytes == nil && cpus == nil && pids == nil }

    /// Parses the command line's values (nil for options not given).
    public static func parse(memory: String?, cpus: String?, pids: String?) throws(ResourceLimitsError) -> ResourceLimits {
        var limits = ResourceLimits()
        if let memory { limits.memoryBytes = try parseMemory(memory) }
        if let cpus { limits.cpus = try parseCPUs(cpus) }
        if let pids { limits.pids = try parsePids(pids) }
        return limits
    }

    /// A memory size: bytes, or a number with `k`, `m`, `g` (powers of 1024, as Docker's `--memory`), optionally
    /// followed by `b`/`ib` (`512m`, `1.5g`, `256MiB`).
    public static func parseMemory(_ text: String) throws(ResourceLimitsError) -> UInt64 {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        var number = Substring(lowered)
        for suffix in ["ib", "b"] where number.hasSuffix(suffix) && number.count > suffix.count {
            number = number.dropLast(suffix.count)
            break
        }
        var multiplier: Double = 1
        if let last = number.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][String(last)] {
            multiplier = pow(1024, Double(power))
            number = number.dropLast()
        }
        guard let value = Double(number), value.isFinite, value > 0, !number.hasPrefix("+"), !number.contains("e") else {
            throw .invalidValue(option: "--memory", value: text, detail: "expected a size such as 512m, 2g or 1073741824 (bytes)")
        }
        let bytes = (value * multiplier).rounded(.down)
        guard bytes < Double(UInt64.max / 2) else {
            throw .invalidValue(option: "--memory", value: text, detail: "is larger than any machine's memory")
        }
        guard UInt64(bytes) >= minimumMemory else {
            throw .invalidValue(option: "--memory", value: text, detail: "is below the minimum of 6m: the build worker alone needs more")
        }
        return UInt64(bytes)
    }

    /// A CPU count: a positive decimal number, at least 0.01.
    public static func parseCPUs(_ text: String) throws(ResourceLimitsError) -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Double(trimmed), value.isFinite, !trimmed.lowercased().contains("e"), !trimmed.hasPrefix("+") else {
            throw .invalidValue(option: "--cpus", value: text, detail: "expected a number of CPUs such as 1.5")
        }
        guard value >= minimumCPUs else {
            throw .invalidValue(option: "--cpus", value: text, detail: "must be at least 0.01 (the kernel's smallest CPU quota)")
        }
        guard value <= 4096 else { throw .invalidValue(option: "--cpus", value: text, detail: "is more CPUs than any machine has") }
        return value
    }

    /// A process count: a whole number of at least 1.
    public static func parsePids(_ text: String) throws(ResourceLimitsError) -> Int {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 1, value <= 4_194_304 else {
            throw .invalidValue(option: "--pids-limit", value: text, detail: "expected a whole number of processes of at least 1, such as 256")
        }
        return value
    }

    /// The limits for people: `memory 256 MiB, 1.5 CPUs, 100 processes`.
    public var summary: String {
        var parts: [String] = []
        if let memoryBytes { parts.append("memory \(Self.size(memoryBytes))") }
        if let cpus { parts.append("\(Self.number(cpus)) CPU\(cpus == 1 ? "" : "s")") }
        if let pids { parts.append("\(pids) process\(pids == 1 ? "" : "es")") }
        return parts.isEmpty ? "no limits" : parts.joined(separator: ", ")
    }

    /// The CPU limit as a CFS quota per `period` microseconds.
    public func cpuQuota(period: Int) -> Int? {
        cpus.map { Int(($0 * Double(period)).rounded()) }
    }

    /// A byte count with a binary unit (`256 MiB`).
    public static func size(_ bytes: UInt64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : "\(number(value)) \(units[unit])"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }
}
