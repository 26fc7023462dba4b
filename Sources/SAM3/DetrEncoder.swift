// SAM 3's DETR encoder (transformers `Sam3DetrEncoder`): image tokens of one FPN level attend to
// themselves (position encodings on queries and keys) and to the prompt (text) tokens.
import CLIP
public import Tensor

/// One `Sam3DetrEncoderLayer` (pre-LN; layer norms with PyTorch's default eps 1e-5, not the config's):
/// x += self_attn(q = k = ln1(x) + pos, v = ln1(x)); x += cross_attn(ln2(x), prompt, prompt, mask);
/// x += fc2(relu(fc1(ln3(x)))).
public struct SAM3DetrEncoderLayer: Sendable {
    public let layerNorm1: LayerNorm
    public let selfAttention: SAM3Attention
    public let layerNorm2: LayerNorm
    public let crossAttention: SAM3Attention
    public let layerNorm3: LayerNorm
    public let fc1: Linear
    public let fc2: Linear

    /// transformers builds these layer norms as `nn.LayerNorm(hidden_size)`: eps 1e-5.
    public static let layerNormEps: Float = 1e-5

    init(loader: inout WeightLoader, prefix: String, config c: SAM3StackConfig) throws {
        let d = c.hiddenSize, eps = Self.layerNormEps
        layerNorm1 = try loader.layerNorm(prefix + ".layer_norm1", dim: d, eps: eps)
        selfAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".self_attn", dim: d, heads: c.numAttentionHeads)
        layerNorm2 = try loader.layerNorm(prefix + ".layer_norm2", dim: d, eps: eps)
        crossAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".cross_attn", dim: d, heads: c.numAttentionHeads)
        layerNorm3 = try loader.layerNorm(prefix + ".layer_norm3", dim: d, eps: eps)
        fc1 = try loader.linear(prefix + ".mlp.fc1", in: d, out: c.intermediateSize)
        fc2 = try loader.linear(prefix + ".mlp.fc2", in: c.intermediateSize, out: d)
    }

    /// One image's tokens x [N, D] with position encodings [N, D] and prompt tokens [L, D].
    public func apply(_ x: inout Tensor, position: Tensor, prompt: Tensor, promptMask: [Bool]?, workers: Int) {
        // Layer norms and residual adds shared among the workers (the same values as one pass).
        let h = layerNorm1(x, workers: workers)
        let withPosition = h.adding(position, workers: workers)
        x.add(selfAttention(query: withPosition, key: withPosition, value: h, workers: workers), workers: workers)
        x.add(crossAttention(query: layerNorm2(x, workers: workers), key: prompt, value: prompt, keyMask: promptMask, workers: workers),
              workers: workers)
        // fc2 onto x (its bias, then the product, accumulated): no [N, D] temporary and add pass.
        let hidden = fc1(layerNorm3(x, workers: workers), activation: .relu, workers: workers)
        let rows = hidden.shape[0]
        hidden.storage.withUnsafeBufferPointer { h in
            x.storage.withUnsafeMutableBufferPointer { out in
                fc2.apply(input: h.baseAddress!, inputStride: fc2.inFeatures, rows: rows, output: out.baseAddress!,
                          outputStride: fc2.outFeatures, accumulate: true, workers: workers)
            }
        }
    }
}

/// transformers `Sam3DetrEncoder` on one vision level (as `Sam3Model` calls it).
public struct SAM3DetrEncoder: Sendable {
    public let layers: [SAM3DetrEncoderLayer]
    public let hiddenSize: Int

    init(config: SAM3StackConfig, loader: inout WeightLoader) throws {
        hiddenSize = config.hiddenSize
        layers = try (0..<config.numLayers).map { try SAM3DetrEncoderLayer(loader: &loader, prefix: "detr_encoder.layers.\($0)", config: config) }
    }

    /// Vision features and their position encodings [B, D, H, W], prompt features [B, L, D] and
    /// their mask (true = real token; nil = all real) -> encoded image tokens [B, H * W, D].
    /// `layerCount` runs only the first layers (for staged tests).
    public func callAsFunction(vision: Tensor, position: Tensor, prompt: Tensor, promptMask: [[Bool]]? = nil,
                               layerCount: Int? = nil, threads: Int? = nil) throws -> Tensor {
        let d = hiddenSize
        guard vision.rank == 4, vision.shape[1] == d, position.shape == vision.shape else {
            throw SAM3Error.invalidInput("DETR encoder vision features \(vision.shape) / positions \(position.shape), need [B, \(d), H, W]")
        }
        let (b, n) = (vision.shape[0], vision.shape[2] * vision.shape[3])
        let workers = max(1, threads ?? defaultThreads())
        // [B, D, H, W] -> [B, H * W, D]: token rows.
        return try encode(tokens: vision.reshaped([b, d, n]).swappingLastAxes(workers: workers),
                          positions: position.reshaped([b, d, n]).swappingLastAxes(workers: workers),
                          prompt: prompt, promptMask: promptMask, layerCount: layerCount, workers: workers)
    }

    /// `callAsFunction` on image tokens and position encodings already in token rows [B, N, D]
    /// (`SAM3Model` shares the position rows with the decoder).
    func encode(tokens: Tensor, positions: Tensor, prompt: Tensor, promptMask: [[Bool]]?,
                layerCount: Int?, workers: Int) throws -> Tensor {
        let d = hiddenSize
        guard tokens.rank == 3, tokens.shape[2] == d, positions.shape == tokens.shape else {
            throw SAM3Error.invalidInput("DETR encoder tokens \(tokens.shape) / positions \(positions.shape), need [B, N, \(d)]")
        }
        let (b, n) = (tokens.shape[0], tokens.shape[1])
        guard prompt.rank == 3, prompt.shape[0] == b, prompt.shape[2] == d, prompt.shape[1] > 0 else {
            throw SAM3Error.invalidInput("DETR encoder prompt \(prompt.shape), need [\(b), L, \(d)]")
        }
        let l = prompt.shape[1]
        if let promptMask {
            guard promptMask.count == b, promptMask.allSatisfy({ $0.count == l && $0.contains(true) }) else {
                throw SAM3Error.invalidInput("prompt mask must be [\(b)][\(l)] with a real token in every row")
            }
        }
        let count = layerCount ?? layers.count
        guard (0...layers.count).contains(count) else { throw SAM3Error.invalidInput("layer count \(count) outside 0...\(layers.count)") }
        var out = [Float]()
        out.reserveCapacity(b * n * d)
        for image in 0..<b {
            var x = tokens.slice(image..<image + 1).reshaped([n, d])
            let pos = positions.slice(image..<image + 1).reshaped([n, d])
            let p = prompt.slice(image..<image + 1).reshaped([l, d])
            for layer in layers.prefix(count) {
                layer.apply(&x, position: pos, prompt: p, promptMask: promptMask?[image], workers: workers)
            }
            out += x.storage
        }
        return Tensor(shape: [b, n, d], storage: out)
    }
}
