// Fork-join over a fixed number of workers: the OpenMP runtime's threads where it is loaded (the
// threads oneDNN's products run on), Dispatch's otherwise.
import Dispatch
import Foundation

public enum Parallel {
    /// Runs `body(worker)` for worker in 0..<workers, concurrently, and returns when all are done.
    /// On an OpenMP team of up to `workers` threads (`OpenMP.team`), thread t of a team of n
    /// running workers t, t + n, ... (one thread runs them all inside another region); on
    /// Dispatch where OpenMP is not loaded.
    public static func run(workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 { body(0); return }
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedBody(body: escaping) // the body's captures are the caller's to keep race-free
            if let team = OpenMP.team {
                team.run(threads: workers) { thread, size in
                    for worker in stride(from: thread, to: workers, by: max(1, size)) { box.body(worker) }
                }
            } else {
                DispatchQueue.concurrentPerform(iterations: workers) { box.body($0) }
            }
        }
    }

    /// Rows per chunk that `rowChunks` aims at: large enough that a chunk's matrix products
    /// amortise packing the weights, small enough that a 1025-token image splits four ways.
    public static let chunkRows = 256

    /// How many chunks row-wise work on `rows` rows (layer norms, projections, MLPs) splits into:
    /// a function of the row count alone, never of the worker count, so every chunk runs the
    /// same single-threaded matrix products on 1 thread or 64, and results are the same bytes
    /// on any number of threads (docs/guarantees.md). Chunk `i` is `share(rows, worker: i, of:)`.
    public static func rowChunks(_ rows: Int) -> Int { max(1, rows / chunkRows) }

    /// The part of `0..<count` that worker `worker` of `workers` owns (contiguous, balanced).
    public static func share(_ count: Int, worker: Int, of workers: Int) -> Range<Int> {
        (count * worker / workers) ..< (count * (worker + 1) / workers)
    }
}

private struct UncheckedBody: @unchecked Sendable {
    let body: (Int) -> Void
}

extension Parallel {
    /// Runs `body(task, worker)` for every task in 0..<tasks on `workers` workers that take the
    /// next task as they finish one, so a core slowed by other processes gets fewer tasks.
    public static func forEach(tasks: Int, workers: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        if workers <= 1 || tasks <= 1 {
            for task in 0..<tasks { body(task, 0) }
            return
        }
        let counter = TaskCounter()
        run(workers: min(workers, tasks)) { worker in
            while true {
                let task = counter.next()
                if task >= tasks { return }
                body(task, worker)
            }
        }
    }
}

extension Parallel {
    /// Runs `body(rows)` for the row chunks of `rowChunks(count)` (bounds fixed by `count` alone),
    /// shared among `workers`: row-wise work (layer norms, activations) split the same way on any
    /// number of threads.
    public static func forEachChunk(rows count: Int, workers: Int, _ body: (Range<Int>) -> Void) {
        let chunks = rowChunks(count)
        forEach(tasks: chunks, workers: workers) { chunk, _ in
            let rows = share(count, worker: chunk, of: chunks)
            if !rows.isEmpty { body(rows) }
        }
    }
}

/// A shared task counter behind a lock (a few hundred takes per layer: the lock is no cost).
private final class TaskCounter: @unchecked Sendable { // `value` is only touched under `lock`
    private var value = 0
    private let lock = NSLock()

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}
