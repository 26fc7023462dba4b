// `bench gemm`: one matrix product, timed, on the backend `BLAS.gemm` uses.
import Foundation

/// The JSON of `landscribe bench gemm` (docs/benchmarks.md).
public struct GemmBenchmark: Codable, Sendable {
    public let m: Int
    public let n: Int
    public let k: Int
    public let threads: Int
    public let runs: Int
    /// Median wall time of one product.
    public let medianSeconds: Double
    /// 2 m n k over the median.
    public let gflopsPerSecond: Double
    /// Every run's seconds, in order.
    public let seconds: [Double]
    /// Every run's CPU seconds of the whole process (user + system), in order: on a shared
    /// machine, less sensitive to other processes than wall time. OpenMP threads that spin-wait
    /// after a product count too.
    public let cpuSeconds: [Double]
    /// `MatrixBackend.current.description`, e.g. "onednn 2.6.3 (avx512_core_amx)".
    public let backend: String
    /// The inputs' precision: "f32" (sgemm) or "bf16" (`BLAS.gemmPacked`, f32 accumulation).
    public let precision: String

    enum CodingKeys: String, CodingKey {
        case m, n, k, threads, runs, seconds, backend, precision
        case cpuSeconds = "cpu_seconds"
        case medianSeconds = "median_seconds", gflopsPerSecond = "gflops_per_second"
    }
}

extension BLAS {
    /// Times `C[m, n] = A[m, k] B[n, k]^T` (B as a PyTorch `[out, in]` weight, the way `Linear`
    /// multiplies) on `threads` threads: one warm-up, then `runs` runs, on random values. With
    /// bf16 the weight is prepared (rounded, reordered) in the warm-up, as a model's is once.
    public static func benchmark(m: Int, n: Int, k: Int, threads: Int, runs: Int, precision: MatrixPrecision = .f32) -> GemmBenchmark {
        precondition(m > 0 && n > 0 && k > 0 && threads > 0 && runs > 0)
        var state = RunTimes.seed
        let a = RunTimes.values(m * k, state: &state), b = RunTimes.values(n * k, state: &state)
        let linear = Linear(weight: Tensor(shape: [n, k], storage: b), bias: nil, precision: precision)
        var c = [Float](repeating: 0, count: m * n)
        var times = RunTimes(seconds: [], cpuSeconds: [])
        withThreads(threads) {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        times = RunTimes.measure(runs: runs) {
                            if let weights = linear.packed {
                                gemmPacked(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, weights: weights,
                                           accumulate: false, c: pc.baseAddress!, ldc: n)
                            } else {
                                gemm(transposeB: true, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                                     b: pb.baseAddress!, ldb: k, c: pc.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
            }
        }
        let median = RunTimes.median(times.seconds)
        return GemmBenchmark(m: m, n: n, k: k, threads: threads, runs: runs, medianSeconds: median,
                             gflopsPerSecond: 2 * Double(m) * Double(n) * Double(k) / median / 1e9,
                             seconds: times.seconds, cpuSeconds: times.cpuSeconds, backend: MatrixBackend.current.description,
                             precision: precision.rawValue)
    }
}
