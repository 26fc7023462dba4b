// `bench attention`: every head of one sequence through the C attention kernels, timed.
import Foundation

/// The JSON of `landscribe bench attention` (docs/bench.md).
public struct AttentionBenchmark: Codable, Sendable {
    public let tokens: Int
    public let headDim: Int
    public let heads: Int
    public let threads: Int
    public let runs: Int
    /// Median wall time of one attention over every head (keys and values packed included).
    public let medianSeconds: Double
    /// The two products' 4 x heads x tokens^2 x headDim floating-point operations over the
    /// median (the exponentials not counted).
    public let gflopsPerSecond: Double
    public let seconds: [Double]
    public let cpuSeconds: [Double]
    /// The C kernels' instruction set (`Kernels.instructionSet`; LANDSCRIBE_KERNELS pins it).
    public let kernels: String

    enum CodingKeys: String, CodingKey {
        case tokens, heads, threads, runs, seconds, kernels
        case headDim = "head_dim", cpuSeconds = "cpu_seconds"
        case medianSeconds = "median_seconds", gflopsPerSecond = "gflops_per_second"
    }
}

extension Attention {
    /// Times `multiHead` over `tokens` queries and keys of `heads` heads of `headDim` values (the
    /// self-attention of a SAM 3 DETR encoder layer is 5184 tokens, 8 heads of 32; a global ViT
    /// layer 5184 tokens, 16 heads of 64) on `workers` threads: one warm-up, then `runs` runs.
    public static func benchmark(tokens: Int, headDim: Int, heads: Int, workers: Int, runs: Int) -> AttentionBenchmark {
        precondition(tokens > 0 && headDim > 0 && heads > 0 && workers > 0 && runs > 0)
        var state = RunTimes.seed
        let qkv = RunTimes.values(tokens * 3 * heads * headDim, state: &state)
        var packed = [Float](repeating: 0, count: heads * packedCount(tokens: tokens, headDim: headDim))
        var scratch = [Float](repeating: 0, count: workers * scratchCount(tokens: tokens))
        var out = [Float](repeating: 0, count: tokens * heads * headDim)
        let times = qkv.withUnsafeBufferPointer { q in
            packed.withUnsafeMutableBufferPointer { p in
                scratch.withUnsafeMutableBufferPointer { s in
                    out.withUnsafeMutableBufferPointer { o in
                        RunTimes.measure(runs: runs) {
                            multiHead(q: q.baseAddress!, kv: q.baseAddress!, queries: tokens, tokens: tokens, heads: heads,
                                      headDim: headDim, scale: 1 / Float(headDim).squareRoot(), packed: p.baseAddress!,
                                      scratch: (0..<workers).map { s.baseAddress! + $0 * scratchCount(tokens: tokens) },
                                      out: o.baseAddress!, workers: workers)
                        }
                    }
                }
            }
        }
        let median = RunTimes.median(times.seconds)
        let flops = 4 * Double(heads) * Double(tokens) * Double(tokens) * Double(headDim)
        return AttentionBenchmark(tokens: tokens, headDim: headDim, heads: heads, threads: workers, runs: runs,
                                  medianSeconds: median, gflopsPerSecond: flops / median / 1e9, seconds: times.seconds,
                                  cpuSeconds: times.cpuSeconds, kernels: Kernels.instructionSet)
    }
}
