// The encoder benchmark's fields, on the tiny model. Real timings come from
// `landscribe bench encoder` in a release build (docs/benchmarks.md).
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
}
