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
        selfAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".self_attn", dim: d, heads: c.numAttentionHeads,
                                          selfAttention: true)
        layerNorm2 = try loader.layerNorm(prefix + ".layer_norm2", dim: d, eps: eps)
        crossAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".cross_attn", dim: d, heads: c.numAttentionHeads)
        layerNorm3 = try loader.layerNorm(prefix + ".layer_norm3", dim: d, eps: eps)
        fc1 = try loader.linear(prefix + ".mlp.fc1", in: d, out: c.intermediateSize)
        fc2 = try loader.linear(prefix + ".mlp.fc2", in: c.intermediateSize, out: d)
    }

    /// A layer's working rows, kept from one layer to the next (fresh arrays of 5-40 MB in every
    /// layer cost their page faults and zeroing each time). Every element is written before it is read.
    public final class Buffers {
        let normed = ScratchBuffer()       // [N, D]: ln1(x), then ln2(x), then ln3(x)
        let withPosition = ScratchBuffer() // [N, D]: ln1(x) + pos, the self-attention's queries and keys
        let hidden = ScratchBuffer()       // [N, I]: relu(fc1(ln3(x)))
        let attention = SAM3Attention.Buffers()
        public init() {}
    }

    /// One image's tokens x [N, D] with position encodings [N, D] and its real prompt tokens
    /// [L, D] (those the padding mask keeps: `SAM3Attention.realRows`, taken once for every
    /// layer). Layer norms, adds and the projections' passes are shared among the workers; each
    /// attention and the MLP's fc2 add onto x (residual connections).
    public func apply(_ x: inout Tensor, position: Tensor, prompt text: Tensor, workers: Int, buffers: Buffers = Buffers()) {
        let d = x.shape[1], n = x.shape[0], inner = fc1.outFeatures
        precondition(x.shape == [n, d] && position.shape == x.shape && text.rank == 2 && text.shape[1] == d && text.shape[0] > 0,
                     "DETR encoder layer on \(x.shape), positions \(position.shape), prompt \(text.shape)")
        buffers.normed.reserve(n * d)
        buffers.withPosition.reserve(n * d)
        buffers.hidden.reserve(n * inner)
        let normed = buffers.normed.pointer, withPosition = buffers.withPosition.pointer, hidden = buffers.hidden.pointer
        x.storage.withUnsafeMutableBufferPointer { px in
            position.storage.withUnsafeBufferPointer { pp in
                text.storage.withUnsafeBufferPointer { pt in
                    let x = px.baseAddress!, pos = pp.baseAddress!
                    // x += self_attn(q = k = ln1(x) + pos, v = ln1(x))
                    layerNorm1.apply(input: x, inputStride: d, rows: n, output: normed, outputStride: d, workers: workers)
                    Parallel.forEachChunk(rows: n, workers: workers) { rows in
                        let start = rows.lowerBound * d, count = rows.count * d
                        for i in start ..< start + count { withPosition[i] = normed[i] + pos[i] }
                    }
                    selfAttention.apply(query: withPosition, queries: n, key: withPosition, value: normed, keys: n,
                                        output: x, accumulate: true, buffers: buffers.attention, workers: workers)
                    // x += cross_attn(ln2(x), prompt, prompt)
                    layerNorm2.apply(input: x, inputStride: d, rows: n, output: normed, outputStride: d, workers: workers)
                    crossAttention.apply(query: normed, queries: n, key: pt.baseAddress!, value: pt.baseAddress!, keys: text.shape[0],
                                         output: x, accumulate: true, buffers: buffers.attention, workers: workers)
                    // x += fc2(relu(fc1(ln3(x))))
                    layerNorm3.apply(input: x, inputStride: d, rows: n, output: normed, outputStride: d, workers: workers)
                    fc1.apply(input: normed, inputStride: d, rows: n, output: hidden, outputStride: inner, activation: .relu,
                              workers: workers)
                    fc2.apply(input: hidden, inputStride: inner, rows: n, output: x, outputStride: d, accumulate: true,
                              workers: workers)
                }
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
        let buffers = SAM3DetrEncoderLayer.Buffers()
        for image in 0..<b {
            var x = tokens.slice(image..<image + 1).reshaped([n, d])
            let pos = positions.slice(image..<image + 1).reshaped([n, d])
            let text = SAM3Attention.realRows(prompt.slice(image..<image + 1).reshaped([l, d]), mask: promptMask?[image])
            for layer in layers.prefix(count) {
                layer.apply(&x, position: pos, prompt: text, workers: workers, buffers: buffers)
            }
            out += x.storage
        }
        return Tensor(shape: [b, n, d], storage: out)
    }
}
