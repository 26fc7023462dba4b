// The encoder benchmark: a quick check on the tiny model always, a real run when
// LANDSCRIBE_BENCH_MODEL names a model folder (release builds; see docs/benchmarks.md).
import Foundation
import Testing
import CLIP

@Suite("encoder benchmark")
struct BenchmarkTests {
    @Test("fields on the tiny model")
    func tiny() throws {
        let result = try Fixtures.model().benchmarkImageEncoder(size: 64, batch: 2, runs: 3, threads: 1)
        #expect(result.size == 64 && result.batch == 2 && result.runs == 3 && result.threads == 1)
        #expect(result.seconds.count == 3 && result.medianSeconds > 0)
        #expect(abs(result.secondsPerImage * 2 - result.medianSeconds) < 1e-12)
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        for key in ["size", "batch", "runs", "median_seconds", "seconds_per_image", "gflops_per_second", "threads"] {
            #expect(json.contains("\"\(key)\""))
        }
    }

    @Test("real model", .enabled(if: ProcessInfo.processInfo.environment["LANDSCRIBE_BENCH_MODEL"] != nil))
    func real() throws {
        let env = ProcessInfo.processInfo.environment
        let model = try CLIPModel.load(directory: env["LANDSCRIBE_BENCH_MODEL"]!)
        let size = Int(env["LANDSCRIBE_BENCH_SIZE"] ?? "") ?? 512
        let runs = Int(env["LANDSCRIBE_BENCH_RUNS"] ?? "") ?? 3
        let threads = env["LANDSCRIBE_BENCH_THREADS"].flatMap { Int($0) }
        for batch in (env["LANDSCRIBE_BENCH_BATCHES"] ?? "1,4").split(separator: ",").compactMap({ Int($0) }) {
            let result = try model.benchmarkImageEncoder(size: size, batch: batch, runs: runs, threads: threads)
            print("BENCH " + String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
        }
    }
}
