// One test at a time sets the process-wide BLAS thread count.
import Foundation
@testable import Tensor

/// Swift Testing runs tests concurrently, and `BLAS.withThreads` sets a process-wide count. Tests
/// that set it, and tests whose exact values need it to stay put while they run (an OpenBLAS
/// product differs in its last bits between 1 and n threads), take turns through `pinned`.
enum ThreadCountPin {
    private static let lock = NSLock()

    /// `body` with matrix products on `count` threads (the current count when nil), and no other
    /// `pinned` body running meanwhile.
    static func pinned<R>(_ count: Int? = nil, _ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try BLAS.withThreads(count ?? BLAS.threads, body)
    }
}
