// Timing for the benchmarks (`bench encoder`, `prompt`, `gemm`, `attention`): wall and CPU seconds.
import Foundation

/// Wall and CPU seconds of repeated calls, for the benchmarks.
public struct RunTimes: Sendable {
    /// Every run's wall seconds, in order.
    public let seconds: [Double]
    /// Every run's CPU seconds of the whole process (user + system), in order: on a shared
    /// machine, less sensitive to other processes than wall time.
    public let cpuSeconds: [Double]

    /// Calls `body` once to warm up, then `runs` times, timing each.
    public static func measure(runs: Int, _ body: () throws -> Void) rethrows -> RunTimes {
        try body()
        var seconds = [Double](), cpuSeconds = [Double]()
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
            try body()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            cpuSeconds.append(processCPUSeconds() - cpuStart)
        }
        return RunTimes(seconds: seconds, cpuSeconds: cpuSeconds)
    }

    /// The first state of `values`: every benchmark multiplies the same numbers from run to run.
    static let seed: UInt64 = 0x2545_F491_4F6C_DD1D

    /// `count` inputs uniform in [-0.5, 0.5) from a linear congruential generator at `state`
    /// (multiples of 2^-24: scaled by a power of two they stay exact).
    public static func values(_ count: Int, state: inout UInt64) -> [Float] {
        (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
    }

    /// The median (the mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// User + system CPU seconds of this process so far (`getrusage`).
public func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage) // glibc imports the `who` as an enum
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
