public import Foundation

/// Checks at run time that a C handle is used by one thread at a time, as GRDB checks its
/// database connections: GDAL datasets, OGR layers and OSR objects are not thread-safe, so the
/// types that own them are `Sendable` only in the sense that they may move between tasks, never
/// be used by two at once. A second thread entering while the first is inside stops the process
/// with a message naming the object: a programming error, caught where it happens instead of as
/// corrupted output. Nested use on one thread (a method calling another) is fine.
public final class ExclusiveUse: @unchecked Sendable {  // `owner` and `depth` are only touched under `lock`
    private let lock = NSLock()
    private var owner: pthread_t?
    private var depth = 0
    private let what: () -> String

    /// - Parameter what: names the object in the message ("the raster 'x.tif'").
    public init(_ what: @escaping @autoclosure () -> String) { self.what = what }

    public func run<T>(_ body: () throws -> T) rethrows -> T {
        let me = pthread_self()
        lock.lock()
        if let o = owner, pthread_equal(o, me) == 0 {
            lock.unlock()
            preconditionFailure("\(what()) is used by two threads at once; give each task its own")
        }
        owner = me
        depth += 1
        lock.unlock()
        defer {
            lock.lock()
            depth -= 1
            if depth == 0 { owner = nil }
            lock.unlock()
        }
        return try body()
    }
}
