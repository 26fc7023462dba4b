// Fork-join over a fixed number of workers.
import Dispatch

public enum Parallel {
    /// Runs `body(worker)` for worker in 0..<workers, concurrently, and returns when all are done.
    public static func run(workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 { body(0); return }
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedBody(body: escaping) // the body's captures are the caller's to keep race-free
            DispatchQueue.concurrentPerform(iterations: workers) { box.body($0) }
        }
    }

    /// The part of `0..<count` that worker `worker` of `workers` owns (contiguous, balanced).
    public static func share(_ count: Int, worker: Int, of workers: Int) -> Range<Int> {
        (count * worker / workers) ..< (count * (worker + 1) / workers)
    }
}

private struct UncheckedBody: @unchecked Sendable {
    let body: (Int) -> Void
}
