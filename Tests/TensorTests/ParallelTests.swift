// Parallel's fork-join on the OpenMP runtime's threads (the ones oneDNN's products run on).
import Foundation
import Testing
@testable import Tensor

@Suite("Parallel workers")
struct ParallelTests {
    /// Counts under a lock what the workers report.
    final class Tally: @unchecked Sendable { // `values` is only touched under `lock`
        private let lock = NSLock()
        private var values: [Int] = []
        func add(_ value: Int) { lock.lock(); values.append(value); lock.unlock() }
        var sorted: [Int] { lock.lock(); defer { lock.unlock() }; return values.sorted() }
    }

    @Test("run calls every worker once; forEach every task once, on a worker below the count", arguments: [2, 3, 5])
    func everyWorkerAndTask(_ workers: Int) {
        let ran = Tally()
        Parallel.run(workers: workers) { ran.add($0) }
        #expect(ran.sorted == Array(0..<workers))
        let tasks = Tally(), seenWorkers = Tally()
        Parallel.forEach(tasks: 37, workers: workers) { task, worker in
            tasks.add(task)
            seenWorkers.add(worker)
        }
        #expect(tasks.sorted == Array(0..<37))
        #expect(seenWorkers.sorted.allSatisfy { (0..<workers).contains($0) })
    }

    @Test("with libgomp loaded (oneDNN's runtime), the workers are an OpenMP team; a run inside a run still calls every worker")
    func openMPTeam() throws {
        let team = try #require(OpenMP.team)
        let sizes = Tally(), inner = Tally()
        Parallel.run(workers: 2) { worker in
            sizes.add(Int(team.teamSize()))
            // Nested: the runtime gives this thread a team of one, which runs both workers.
            Parallel.run(workers: 2) { inner.add(worker * 10 + $0) }
        }
        #expect(sizes.sorted == [2, 2])
        #expect(inner.sorted == [0, 1, 10, 11])
    }
}
