// Buffers reused from call to call, and one task at a time inside a set of them.
import Foundation

/// A growable Float buffer: `reserve` reallocates only to grow, so steady-state calls allocate
/// nothing. Its contents are undefined after a `reserve` that grows it.
public final class ScratchBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init() {
        capacity = 0
        pointer = .allocate(capacity: 1)
    }

    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        capacity = count
    }

    deinit { pointer.deallocate() }
}

/// A workspace (a set of scratch buffers) that tasks share by taking turns: `with` hands it to
/// one caller at a time.
public final class Exclusive<Value>: @unchecked Sendable { // every access to `value` goes through `lock`
    private let lock = NSLock()
    private let value: Value

    public init(_ value: Value) { self.value = value }

    public func with<R>(_ body: (Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(value)
    }
}
