// SAM 3's heads after the DETR decoder: the dot-product scoring of queries against the prompt
// (transformers `Sam3DotProductScoring`) and the mask decoder (`Sam3MaskDecoder` with its pixel
// decoder and mask embedder).
import Foundation
import CLIP
public import Tensor

/// transformers `Sam3DotProductScoring`: text = ln(text + text_mlp(text)) (eps 1e-5), mean over real
/// tokens, `text_proj`; logits = clamp(query_proj(q) . text / sqrt(D), -12, 12).
public struct SAM3DotProductScoring: Sendable {
    public let textMLP: SAM3DecoderMLP
    public let textMLPOutNorm: LayerNorm
    public let textProj: Linear
    public let queryProj: Linear

    init(config: SAM3Config, loader: inout WeightLoader) throws {
        let d = config.detrDecoderConfig.hiddenSize, p = "dot_product_scoring."
        textMLP = try SAM3DecoderMLP(loader: &loader, prefix: p + "text_mlp", input: d,
                                     hidden: config.detrDecoderConfig.intermediateSize, output: d, layers: 2)
        textMLPOutNorm = try loader.layerNorm(p + "text_mlp_out_norm", dim: d, eps: 1e-5)
        textProj = try loader.linear(p + "text_proj", in: d, out: d)
        queryProj = try loader.linear(p + "query_proj", in: d, out: d)
    }

    /// Query states [Q, D] of one image and its prompt [L, D] with mask (nil: all real) -> logits [Q].
    public func logits(queries: Tensor, prompt: Tensor, promptMask: [Bool]?) -> [Float] {
        let d = prompt.shape[1], l = prompt.shape[0]
        let text = textMLPOutNorm(prompt + textMLP(prompt))
        var pooled = [Float](repeating: 0, count: d)
        var valid = 0
        for t in 0..<l where promptMask?[t] ?? true {
            valid += 1
            for c in 0..<d { pooled[c] += text.storage[t * d + c] }
        }
        let count = Float(max(valid, 1))
        let projected = textProj(Tensor(shape: [1, d], storage: pooled.map { $0 / count }))
        let scores = BLAS.matmul(queryProj(queries), projected, transposeB: true) // [Q, 1]
        let scale = Float(1 / Double(d).squareRoot())
        return scores.storage.map { min(max($0 * scale, -12), 12) }
    }
}

/// transformers `Sam3MaskDecoder`.
public struct SAM3MaskDecoder: Sendable {
    public let convLayers: [Conv2d]
    /// GroupNorm(8, D) weights and biases, one per stage.
    public let norms: [(weight: Tensor, bias: Tensor)]
    public let maskEmbedder: [Linear]
    public let instanceProjection: Conv2d
    public let semanticProjection: Conv2d
    public let promptCrossAttention: SAM3Attention
    public let promptCrossAttentionNorm: LayerNorm

    init(config c: SAM3MaskDecoderConfig, loader: inout WeightLoader) throws {
        let d = c.hiddenSize, p = "mask_decoder."
        convLayers = try (0..<c.numUpsamplingStages).map { s in
            Conv2d(weight: try loader.tensor(p + "pixel_decoder.conv_layers.\(s).weight", shape: [d, d, 3, 3]),
                   bias: try loader.tensor(p + "pixel_decoder.conv_layers.\(s).bias", shape: [d]), padding: 1)
        }
        norms = try (0..<c.numUpsamplingStages).map { s in
            (try loader.tensor(p + "pixel_decoder.norms.\(s).weight", shape: [d]),
             try loader.tensor(p + "pixel_decoder.norms.\(s).bias", shape: [d]))
        }
        maskEmbedder = try (0..<3).map { try loader.linear(p + "mask_embedder.layers.\($0)", in: d, out: d) }
        instanceProjection = Conv2d(weight: try loader.tensor(p + "instance_projection.weight", shape: [d, d, 1, 1]),
                                    bias: try loader.tensor(p + "instance_projection.bias", shape: [d]))
        semanticProjection = Conv2d(weight: try loader.tensor(p + "semantic_projection.weight", shape: [1, d, 1, 1]),
                                    bias: try loader.tensor(p + "semantic_projection.bias", shape: [1]))
        promptCrossAttention = try SAM3Attention(loader: &loader, prefix: p + "prompt_cross_attn", dim: d, heads: c.numAttentionHeads)
        promptCrossAttentionNorm = try loader.layerNorm(p + "prompt_cross_attn_norm", dim: d, eps: 1e-5)
    }

    /// For one image: the last decoder layer's query states [Q, D], the FPN levels used by the model
    /// ([1, D, h, w], finest first; the last is replaced by the encoder output), the encoder output
    /// [H * W, D] and the prompt [L, D] with its mask. Returns instance mask logits [Q, h0, w0] and the
    /// semantic logits [1, h0, w0] at the finest level.
    public func callAsFunction(queries: Tensor, levels: [Tensor], encoded: Tensor, prompt: Tensor, promptMask: [Bool]?,
                               workers: Int) -> (masks: Tensor, semantic: Tensor) {
        precondition(levels.count >= 1 && levels.count - 1 <= convLayers.count, "mask decoder with \(levels.count) levels")
        let d = encoded.shape[1]
        let attended = promptCrossAttention(query: promptCrossAttentionNorm(encoded), key: prompt, value: prompt,
                                            keyMask: promptMask, workers: workers)
        let x = encoded.adding(attended, workers: workers) // [H * W, D]
        let last = levels[levels.count - 1]
        let (h, w) = (last.shape[2], last.shape[3])
        let spatial = x.swappingLastAxes(workers: workers).reshaped([1, d, h, w]) // [H * W, D] -> [1, D, h, w]
        // Pixel decoder: from the coarsest (the encoder output) to the finest level.
        var previous = spatial
        for (stage, level) in levels.dropLast().reversed().enumerated() {
            previous = previous.resizedNearest(height: level.shape[2], width: level.shape[3], adding: level, workers: workers)
            previous = convLayers[stage](previous)
            previous.groupNormalize(groups: 8, weight: norms[stage].weight, bias: norms[stage].bias, eps: 1e-5,
                                    thenReLU: true, workers: workers)
        }
        var embedded = queries
        for (i, layer) in maskEmbedder.enumerated() {
            embedded = i + 1 < maskEmbedder.count ? layer(embedded, activation: .relu) : layer(embedded)
        }
        let (h0, w0) = (previous.shape[2], previous.shape[3])
        let masks = Self.masks(embedded: embedded, projection: instanceProjection, pixels: previous.reshaped([d, h0 * w0]), workers: workers)
        let semantic = semanticProjection(previous).reshaped([1, h0, w0])
        return (masks.reshaped([queries.shape[0], h0, w0]), semantic)
    }

    /// transformers' masks = einsum(embedded [Q, D], instance_projection(pixels) [D, P]), computed
    /// as (embedded W) pixels + embedded b: the same product in real arithmetic, without the
    /// projection's D x D x P multiply-adds (11 GFLOP at 288 x 288) and its [D, P] output.
    static func masks(embedded: Tensor, projection: Conv2d, pixels: Tensor, workers: Int) -> Tensor {
        let (q, d, positions) = (embedded.shape[0], pixels.shape[0], pixels.shape[1])
        let folded = BLAS.matmul(embedded, projection.weight.reshaped([d, d])) // [Q, D]
        let offsets = projection.bias.map { BLAS.matmul(embedded, $0.reshaped([d, 1])).storage } ?? [Float](repeating: 0, count: q)
        return folded.storage.withUnsafeBufferPointer { a in
            pixels.storage.withUnsafeBufferPointer { b in
                Tensor(shape: [q, positions]) { out in
                    Parallel.forEach(tasks: q, workers: workers) { row, _ in
                        (out + row * positions).update(repeating: offsets[row], count: positions)
                    }
                    BLAS.gemm(m: q, n: positions, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: positions,
                              beta: 1, c: out, ldc: positions)
                }
            }
        }
    }
}
