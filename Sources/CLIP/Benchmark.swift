// `bench encoder`: times the image encoder the way `segment` runs it.
import Foundation
public import Tensor

/// The JSON of `landscribe bench encoder` (docs/bench.md).
public struct EncoderBenchmark: Codable, Sendable {
    public let size: Int
    public let batch: Int
    public let runs: Int
    /// Median wall time of one forward over the whole batch.
    public let medianSeconds: Double
    public let secondsPerImage: Double
    public let gflopsPerSecond: Double
    public let threads: Int
    /// Every run's seconds, in order (not part of the CLI contract).
    public let seconds: [Double]
    /// Every run's CPU seconds of the whole process (user + system), in order: on a shared
    /// machine, less sensitive to other processes than wall time.
    public let cpuSeconds: [Double]
    /// The median of `cpuSeconds` over the batch.
    public let cpuSecondsPerImage: Double
    /// The instruction set of the C kernels (exponentials, activations, attention products):
    /// "avx512", "avx2+fma" or "baseline" (`LANDSCRIBE_KERNELS` pins it).
    public let kernels: String
    /// The library of the matrix products, its version and kernels, e.g.
    /// "onednn 2.6.3 (avx512_core_amx)" or "openblas 0.3.21 (SkylakeX)" (`LANDSCRIBE_BACKEND` pins it).
    public let backend: String
    /// The matrix products' input precision: "f32" or "bf16" (`--precision`).
    public let precision: String

    public init(size: Int, batch: Int, runs: Int, medianSeconds: Double, secondsPerImage: Double, gflopsPerSecond: Double,
                threads: Int, seconds: [Double], cpuSeconds: [Double], cpuSecondsPerImage: Double, kernels: String, backend: String,
                precision: String) {
        self.size = size; self.batch = batch; self.runs = runs; self.medianSeconds = medianSeconds
        self.secondsPerImage = secondsPerImage; self.gflopsPerSecond = gflopsPerSecond; self.threads = threads
        self.seconds = seconds; self.cpuSeconds = cpuSeconds; self.cpuSecondsPerImage = cpuSecondsPerImage
        self.kernels = kernels; self.backend = backend; self.precision = precision
    }

    /// Times `forward` (one call on the whole batch) after one warm-up, `runs` times; `flops`
    /// is the work of one call.
    public static func measure(size: Int, batch: Int, runs: Int, threads: Int, flops: Double, precision: MatrixPrecision,
                               _ forward: () throws -> Void) rethrows -> EncoderBenchmark {
        let times = try RunTimes.measure(runs: runs, forward)
        let median = RunTimes.median(times.seconds)
        return EncoderBenchmark(size: size, batch: batch, runs: runs, medianSeconds: median,
                                secondsPerImage: median / Double(batch), gflopsPerSecond: flops / median / 1e9,
                                threads: threads, seconds: times.seconds, cpuSeconds: times.cpuSeconds,
                                cpuSecondsPerImage: RunTimes.median(times.cpuSeconds) / Double(batch), kernels: Kernels.instructionSet,
                                backend: MatrixBackend.current.description, precision: precision.rawValue)
    }

    /// `count` deterministic pseudo-random values in -2 ... 2 (normalised pixels for a benchmark).
    public static func randomPixels(_ count: Int) -> [Float] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return RunTimes.values(count, state: &state).map { $0 * 4 }
    }

    enum CodingKeys: String, CodingKey {
        case size, batch, runs, threads, seconds, kernels, backend, precision
        case medianSeconds = "median_seconds", secondsPerImage = "seconds_per_image"
        case gflopsPerSecond = "gflops_per_second"
        case cpuSeconds = "cpu_seconds", cpuSecondsPerImage = "cpu_seconds_per_image"
    }
}

extension CLIPVisionEncoder {
    /// Floating-point operations of one image-encoder forward (all layers, patch embedding and
    /// attention included, elementwise work not) for an input of `height` x `width` pixels.
    public func flops(height: Int, width: Int) -> Double {
        let t = Double(tokens(height: height, width: width))
        let d = Double(config.hiddenSize), i = Double(config.intermediateSize)
        let p = Double(config.patchSize), c = Double(config.numChannels)
        let perLayer = 2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d + 4 * t * d * i
        return 2 * (t - 1) * c * p * p * d + Double(layers.count) * perLayer
    }
}

extension CLIPModel {
    /// Times `imageFeatures` on `batch` random normalized images of `size` x `size` after one
    /// warm-up, over `runs` runs, with `threads` workers (default: all cores).
    public func benchmarkImageEncoder(size: Int, batch: Int = 1, runs: Int = 3, threads: Int? = nil) throws -> EncoderBenchmark {
        guard size > 0, batch > 0, runs > 0 else { throw CLIPError.invalidInput("size, batch and runs must be positive") }
        let workers = max(1, threads ?? defaultThreads())
        let count = batch * config.visionConfig.numChannels * size * size
        let pixels = Tensor(shape: [batch, config.visionConfig.numChannels, size, size], storage: EncoderBenchmark.randomPixels(count))
        return try EncoderBenchmark.measure(size: size, batch: batch, runs: runs, threads: workers,
                                            flops: vision.flops(height: size, width: size) * Double(batch), precision: precision) {
            _ = try imageFeatures(pixels: pixels, threads: workers)
        }
    }
}
