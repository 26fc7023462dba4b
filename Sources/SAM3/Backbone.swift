// SAM 3's vision backbone (transformers `Sam3ViTModel`): patch embedding, position embeddings tiled
// from the pretraining grid, a layer norm, then pre-LN transformer layers with 2-D axial RoPE,
// windowed attention in most layers and global attention in `global_attn_indexes`.
import CLIP
public import Tensor

/// One `Sam3ViTLayer`: x += o_proj(attention(rope(q, k), v)) over windows (or the whole grid) of
/// layer_norm1(x); x += fc2(gelu(fc1(layer_norm2(x)))).
public struct SAM3ViTLayer: Sendable {
    public let layerNorm1: LayerNorm
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let oProj: Linear
    public let layerNorm2: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let heads: Int
    public let activation: Activation
    /// Window side in tokens; 0 for a global-attention layer.
    public let windowSize: Int
    /// RoPE over one window (windowed layers) or over the whole configured grid (global layers).
    public let rope: AxialRotaryEmbedding

    public var dim: Int { qProj.outFeatures }
    public var headDim: Int { dim / heads }

    init(loader: inout WeightLoader, prefix: String, config b: SAM3ViTConfig, windowSize: Int) throws {
        let d = b.hiddenSize
        layerNorm1 = try loader.layerNorm(prefix + ".layer_norm1", dim: d, eps: b.layerNormEps)
        qProj = try loader.linear(prefix + ".attention.q_proj", in: d, out: d)
        kProj = try loader.linear(prefix + ".attention.k_proj", in: d, out: d)
        vProj = try loader.linear(prefix + ".attention.v_proj", in: d, out: d)
        oProj = try loader.linear(prefix + ".attention.o_proj", in: d, out: d)
        layerNorm2 = try loader.layerNorm(prefix + ".layer_norm2", dim: d, eps: b.layerNormEps)
        fc1 = try loader.linear(prefix + ".mlp.fc1", in: d, out: b.intermediateSize)
        fc2 = try loader.linear(prefix + ".mlp.fc2", in: b.intermediateSize, out: d)
        heads = b.numAttentionHeads
        activation = b.hiddenAct
        self.windowSize = windowSize
        if windowSize > 0 {
            rope = AxialRotaryEmbedding(headDim: b.headDim, gridHeight: windowSize, gridWidth: windowSize,
                                        scale: 1, theta: b.ropeTheta)
        } else {
            // transformers: positions over the configured grid, scaled by window_size / grid width
            // (a Python float rounded to Float32 when it multiplies the Float32 positions).
            let g = b.gridSize
            rope = AxialRotaryEmbedding(headDim: b.headDim, gridHeight: g, gridWidth: g,
                                        scale: Float(Double(b.windowSize) / Double(g)), theta: b.ropeTheta)
        }
    }

    /// The largest arrays of a layer (the fused q | k | v rows and the MLP's hidden rows), kept
    /// from one layer to the next of a forward: a fresh array of tens of MB in each of 32 layers
    /// costs its page faults and zeroing every time (docs/benchmarks.md, "Where the vision
    /// encoder's time goes"). Every element is written before it is read.
    public final class Buffers {
        var qkv: [Float] = []
        var hidden: [Float] = []
        public init() {}

        /// Moves `array` out (sized `count`); `give` puts it back for the next layer.
        static func take(_ array: inout [Float], count: Int) -> [Float] {
            var out: [Float] = []
            swap(&out, &array)
            if out.count != count { out = [Float](repeating: 0, count: count) }
            return out
        }
    }

    /// Runs the layer in place on one image's tokens `x` [height * width, D] (row-major grid);
    /// attention is shared out in (sequence, head, query block) tasks among `workers`.
    /// `buffers`: arrays reused from the layer before (nil: fresh ones).
    public func apply(_ x: inout Tensor, height: Int, width: Int, workers: Int = 1, buffers: Buffers? = nil) {
        let buffers = buffers ?? Buffers()
        let d = dim, n = height * width
        precondition(x.shape == [n, d])
        let normed = layerNorm1(x)
        // Sequences attention runs over: windows of w x w (zero-padded grid) or the whole grid.
        let w = windowSize
        let sequences: Tensor, tokens: Int
        if w > 0 {
            sequences = Windows.partition(normed.reshaped([1, height, width, d]), window: w)
            tokens = w * w
        } else {
            sequences = normed
            tokens = n
        }
        let count = sequences.count / (tokens * d)
        precondition(rope.tokens == tokens, "RoPE grid of \(rope.tokens) tokens for sequences of \(tokens)")
        let rows = count * tokens
        var qkv = Buffers.take(&buffers.qkv, count: rows * 3 * d)
        defer { buffers.qkv = qkv }
        var attended = Tensor(shape: [rows, d])
        let each = Attention.scratchCount(tokens: tokens, headDim: headDim)
        var scratch = [Float](repeating: 0, count: max(1, workers) * each)
        let scale = 1 / Float(headDim).squareRoot()
        let blocks = max(1, (tokens + Attention.blockRows - 1) / Attention.blockRows)
        sequences.storage.withUnsafeBufferPointer { ps in
            qkv.withUnsafeMutableBufferPointer { pq in
                let input = ps.baseAddress!, fused = pq.baseAddress!
                qProj.apply(input: input, inputStride: d, rows: rows, output: fused, outputStride: 3 * d)
                kProj.apply(input: input, inputStride: d, rows: rows, output: fused + d, outputStride: 3 * d)
                vProj.apply(input: input, inputStride: d, rows: rows, output: fused + 2 * d, outputStride: 3 * d)
                for s in 0..<count {
                    let base = fused + s * tokens * 3 * d
                    rope.apply(base, stride: 3 * d, heads: heads)
                    rope.apply(base + d, stride: 3 * d, heads: heads)
                }
                attended.storage.withUnsafeMutableBufferPointer { pa in
                    scratch.withUnsafeMutableBufferPointer { sc in
                        let out = pa.baseAddress!, qkvBase = UnsafePointer(fused), hd = headDim
                        Parallel.forEach(tasks: count * heads * blocks, workers: workers) { task, w in
                            let s = task / (heads * blocks), h = (task / blocks) % heads
                            let base = qkvBase + s * tokens * 3 * d + h * hd
                            Attention.head(q: base, k: base + d, v: base + 2 * d, inputStride: 3 * d, tokens: tokens,
                                           headDim: hd, scale: scale, rows: Parallel.share(tokens, worker: task % blocks, of: blocks),
                                           causal: false, out: out + s * tokens * d + h * hd, outputStride: d,
                                           scratch: sc.baseAddress! + w * each)
                        }
                    }
                }
            }
        }
        var projected = oProj(attended)
        if w > 0 {
            projected = Windows.unpartition(projected.reshaped([count, w, w, d]), window: w, height: height, width: width)
                .reshaped([n, d])
        }
        x = x + projected
        // x += fc2(activation(fc1(layer_norm2(x)))): fc1 into the kept hidden rows, fc2 onto x.
        let normed2 = layerNorm2(x), inner = fc1.outFeatures
        var hidden = Buffers.take(&buffers.hidden, count: n * inner)
        defer { buffers.hidden = hidden }
        normed2.storage.withUnsafeBufferPointer { pn in
            hidden.withUnsafeMutableBufferPointer { ph in
                fc1.apply(input: pn.baseAddress!, inputStride: d, rows: n, output: ph.baseAddress!, outputStride: inner)
                Kernels.biasActivation(ph.baseAddress!, rows: n, cols: inner, stride: inner, bias: nil, activation: activation)
                x.storage.withUnsafeMutableBufferPointer { px in
                    fc2.apply(input: UnsafePointer(ph.baseAddress!), inputStride: inner, rows: n, output: px.baseAddress!, outputStride: d, accumulate: true)
                }
            }
        }
    }
}

/// Outputs of the backbone's stages for one batch, each [B, tokens, D].
public struct SAM3BackboneStages: Sendable {
    /// Patch embedding plus tiled position embeddings.
    public var embeddings: Tensor
    /// After `backbone.layer_norm`, the input of layer 0.
    public var preLayers: Tensor
    /// The output of each layer; the last is `last_hidden_state`.
    public var layers: [Tensor]
}

/// transformers `Sam3ViTModel`.
public final class SAM3ViTBackbone: Sendable {
    public let config: SAM3ViTConfig
    /// `embeddings.patch_embeddings.projection`: [D, C, P, P], stride P, no bias.
    public let patchEmbedding: Conv2d
    /// `embeddings.position_embeddings` [1, g0 * g0, D] as [g0 * g0, D], g0 the pretraining grid.
    public let positionEmbedding: Tensor
    public let layerNorm: LayerNorm
    public let layers: [SAM3ViTLayer]

    init(config b: SAM3ViTConfig, loader: inout WeightLoader, prefix: String) throws {
        config = b
        let d = b.hiddenSize, p = b.patchSize, g0 = b.pretrainGridSize
        patchEmbedding = Conv2d(weight: try loader.tensor(prefix + "embeddings.patch_embeddings.projection.weight",
                                                          shape: [d, b.numChannels, p, p]),
                                bias: nil, stride: p)
        positionEmbedding = try loader.tensor(prefix + "embeddings.position_embeddings", shape: [1, g0 * g0, d])
            .reshaped([g0 * g0, d])
        layerNorm = try loader.layerNorm(prefix + "layer_norm", dim: d, eps: b.layerNormEps)
        layers = try (0..<b.numHiddenLayers).map { i in
            try SAM3ViTLayer(loader: &loader, prefix: prefix + "layers.\(i)", config: b,
                             windowSize: b.globalAttnIndexes.contains(i) ? 0 : b.windowSize)
        }
    }

    /// Position embeddings for a grid of h x w patches: the pretraining table tiled (repeated, then
    /// cut at the bottom and right), token (y, x) gets table entry (y mod g0, x mod g0).
    public func positionEmbeddings(gridHeight h: Int, gridWidth w: Int) -> Tensor {
        let d = config.hiddenSize, g0 = config.pretrainGridSize
        var out = Tensor(shape: [h * w, d])
        for y in 0..<h {
            for x in 0..<w {
                let src = ((y % g0) * g0 + x % g0) * d
                out.storage.replaceSubrange((y * w + x) * d ..< (y * w + x + 1) * d, with: positionEmbedding.storage[src ..< src + d])
            }
        }
        return out
    }

    /// Checks pixels [B, C, image_size, image_size] (the global layers' RoPE is built for that grid,
    /// as in transformers).
    func check(_ pixels: Tensor) throws {
        let c = config.numChannels, s = config.imageSize
        guard pixels.rank == 4, pixels.shape[0] > 0, pixels.shape[1] == c, pixels.shape[2] == s, pixels.shape[3] == s else {
            throw SAM3Error.invalidInput("pixels must be [B, \(c), \(s), \(s)] with B >= 1, got \(pixels.shape)")
        }
    }

    /// `last_hidden_state` [B, g * g, D] for pixels [B, C, image_size, image_size].
    public func callAsFunction(_ pixels: Tensor, threads: Int? = nil) throws -> Tensor {
        try stages(pixels, keepAll: false, threads: threads).layers.last!
    }

    /// Every stage's output (embeddings, after the layer norm, each layer).
    public func stages(_ pixels: Tensor, threads: Int? = nil) throws -> SAM3BackboneStages {
        try stages(pixels, keepAll: true, threads: threads)
    }

    private func stages(_ pixels: Tensor, keepAll: Bool, threads: Int?) throws -> SAM3BackboneStages {
        try check(pixels)
        let b = pixels.shape[0], d = config.hiddenSize, g = config.gridSize, n = g * g
        let patches = patchEmbedding(pixels) // [B, D, g, g]
        let positions = positionEmbeddings(gridHeight: g, gridWidth: g)
        var embeddings = Tensor(shape: [b, n, d])
        for image in 0..<b {
            for t in 0..<n {
                for c in 0..<d {
                    embeddings.storage[(image * n + t) * d + c] = patches.storage[(image * d + c) * n + t] + positions.storage[t * d + c]
                }
            }
        }
        let normed = layerNorm(embeddings)
        let workers = max(1, threads ?? defaultThreads())
        var outputs = [[Float]](repeating: [], count: layers.count)
        let buffers = SAM3ViTLayer.Buffers()
        for image in 0..<b {
            var x = normed.slice(image..<image + 1).reshaped([n, d])
            for (i, layer) in layers.enumerated() {
                layer.apply(&x, height: g, width: g, workers: workers, buffers: buffers)
                if keepAll || i == layers.count - 1 { outputs[i] += x.storage }
            }
        }
        let layerOutputs = outputs.map { $0.isEmpty ? Tensor(shape: [0]) : Tensor(shape: [b, n, d], storage: $0) }
        return SAM3BackboneStages(embeddings: embeddings, preLayers: normed, layers: layerOutputs)
    }
}
