import Foundation

/// A value behind a lock, for the little state threads and tasks share: every access goes through `withLock`.
public final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// Boxes `value`.
    public init(_ value: Value) { self.value = value }

    /// Runs `body` on the value while holding the lock, and returns what it returns.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
