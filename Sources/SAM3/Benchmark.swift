// `bench encoder` for SAM 3: the vision backbone and FPN neck (what `predict` runs once per image).
public import CLIP
public import Tensor
import Foundation

extension SAM3VisionConfig {
    /// Floating-point operations of the ViT backbone on one image at `image_size` (patch
    /// embedding, q/k/v/o projections, MLPs, attention scores and weighted sums: global layers
    /// over all g x g tokens, windowed layers over ceil(g / window)^2 windows of window^2 tokens,
    /// padding included; elementwise work not counted).
    public var backboneFlops: Double {
        let b = backboneConfig
        let g = Double(b.gridSize), t = g * g
        let d = Double(b.hiddenSize), i = Double(b.intermediateSize)
        let p = Double(b.patchSize), c = Double(b.numChannels)
        var total = 2 * t * c * p * p * d
        for layer in 0..<b.numHiddenLayers {
            total += 2 * t * d * 3 * d + 2 * t * d * d + 4 * t * d * i
            if b.globalAttnIndexes.contains(layer) || b.windowSize <= 0 {
                total += 4 * t * t * d
            } else {
                let w = Double(b.windowSize), windows = (g / w).rounded(.up)
                total += 4 * windows * windows * w * w * w * w * d
            }
        }
        return total
    }

    /// Floating-point operations of the FPN neck on one image: per scale factor the transposed
    /// convolutions (4: D -> D/2 -> D/4, 2: D -> D/2), the 1x1 projection to fpn_hidden_size and
    /// the 3x3 convolution, at each one's output size (max-pooling and GELU not counted).
    public var neckFlops: Double {
        let g = backboneConfig.gridSize, d = Double(backboneConfig.hiddenSize), f = Double(fpnHiddenSize)
        var total = 0.0
        for scale in scaleFactors {
            var side = scale == 0.5 ? g / 2 : g, channels = d
            let deconvs = scale == 4 ? 2 : scale == 2 ? 1 : 0
            for _ in 0..<deconvs {
                total += 2 * Double(side * side) * channels * (channels / 2) * 4
                side *= 2; channels /= 2
            }
            let area = Double(side * side)
            total += 2 * area * channels * f + 2 * area * f * f * 9
        }
        return total
    }
}

extension SAM3VisionEncoder {
    /// Times the backbone and neck on `batch` random normalised images at the model's input
    /// size after one warm-up, over `runs` runs; GFLOP/s count `backboneFlops + neckFlops`.
    public func benchmark(batch: Int = 1, runs: Int = 3, threads: Int? = nil) throws -> EncoderBenchmark {
        guard batch > 0, runs > 0 else { throw SAM3Error.invalidInput("batch and runs must be positive") }
        let workers = max(1, threads ?? defaultThreads())
        let n = config.backboneConfig.imageSize, c = config.backboneConfig.numChannels
        let pixels = Tensor(shape: [batch, c, n, n], storage: EncoderBenchmark.randomPixels(batch * c * n * n))
        return try EncoderBenchmark.measure(size: n, batch: batch, runs: runs, threads: workers,
                                            flops: (config.backboneFlops + config.neckFlops) * Double(batch),
                                            precision: backbone.layers.first?.qkvProj.precision ?? .f32) {
            _ = try self(pixels, threads: workers)
        }
    }
}

/// `bench prompt`: one text prompt on vision and text features computed once (the DETR encoder
/// and decoder, scoring and the mask decoder: what `segment` runs per class on each tile).
public struct PromptBenchmark: Codable, Sendable {
    public let text: String
    /// Real tokens of the prompt (start and end included), of the text encoder's context.
    public let tokens: Int
    public let imageSize: Int
    public let runs: Int
    public let medianSeconds: Double
    public let threads: Int
    public let seconds: [Double]
    public let cpuSeconds: [Double]
    public let kernels: String
    public let backend: String
    public let precision: String

    enum CodingKeys: String, CodingKey {
        case text, tokens, runs, threads, seconds, kernels, backend, precision
        case imageSize = "image_size", medianSeconds = "median_seconds", cpuSeconds = "cpu_seconds"
    }
}

extension SAM3Model {
    /// Times `segment(vision:text:mask:)` for `prompt` on the features of one random image after
    /// one warm-up, `runs` times; the vision and text features are computed once, untimed.
    public func benchmarkPrompt(_ prompt: SAM3Prompt, runs: Int = 3, threads: Int? = nil) throws -> PromptBenchmark {
        guard runs > 0 else { throw SAM3Error.invalidInput("runs must be positive") }
        let workers = max(1, threads ?? defaultThreads())
        let n = config.visionConfig.backboneConfig.imageSize, c = config.visionConfig.backboneConfig.numChannels
        let pixels = Tensor(shape: [1, c, n, n], storage: EncoderBenchmark.randomPixels(c * n * n))
        let features = try vision(pixels, threads: workers)
        let text = try self.text.features(ids: [prompt.ids], threads: workers)
        let times = try RunTimes.measure(runs: runs) {
            _ = try segment(vision: features, text: text, mask: [prompt.mask], threads: workers)
        }
        return PromptBenchmark(text: prompt.text, tokens: prompt.mask.filter { $0 }.count, imageSize: n, runs: runs,
                               medianSeconds: RunTimes.median(times.seconds), threads: workers, seconds: times.seconds,
                               cpuSeconds: times.cpuSeconds, kernels: Kernels.instructionSet,
                               backend: MatrixBackend.current.description, precision: precision.rawValue)
    }
}
