// SAM 3's vision backbone (transformers `Sam3ViTModel`): patch embedding, position embeddings tiled
// from the pretraining grid, a layer norm, then pre-LN transformer layers with 2-D axial RoPE,
// windowed attention in most layers and global attention in `global_attn_indexes`.
import CLIP
public import Tensor

/// One `Sam3ViTLayer`: x += o_proj(attention(rope(q, k), v)) over windows (or the whole grid) of
/// layer_norm1(x); x += fc2(gelu(fc1(layer_norm2(x)))).
public struct SAM3ViTLayer: Sendable {
    public let layerNorm1: LayerNorm
    /// `q_proj`, `k_proj` and `v_proj` stacked [3D, D]: one product writes q | k | v.
    public let qkvProj: Linear
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

    public var dim: Int { oProj.outFeatures }
    public var headDim: Int { dim / heads }

    init(loader: inout WeightLoader, prefix: String, config b: SAM3ViTConfig, windowSize: Int) throws {
        let d = b.hiddenSize
        layerNorm1 = try loader.layerNorm(prefix + ".layer_norm1", dim: d, eps: b.layerNormEps)
        qkvProj = Linear(stacking: try ["q_proj", "k_proj", "v_proj"].map {
            try loader.linear(prefix + ".attention." + $0, in: d, out: d, precision: .f32)
        }, precision: loader.precision)
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

    /// A layer's activations, kept from one layer to the next of a forward (a fresh array of
    /// tens of MB in each of 32 layers costs its page faults and zeroing every time;
    /// docs/benchmarks.md, "Where the vision encoder's time goes"). Every element is written
    /// before it is read.
    public final class Buffers {
        let normed = ScratchBuffer()    // layer_norm1 rows in sequence (window) order; layer_norm2 rows
        let qkv = ScratchBuffer()       // [rows, 3D], q | k | v
        let packed = ScratchBuffer()    // every (sequence, head)'s keys and values packed for attention
        let scratch = ScratchBuffer()   // each worker's block of attention scores
        let attended = ScratchBuffer()  // [rows, D], heads concatenated
        let projected = ScratchBuffer() // [rows, D], o_proj of `attended`
        let hidden = ScratchBuffer()    // [tokens, I], the MLP's hidden rows
        public init() {}
    }

    /// Runs the layer in place on one image's tokens `x` [height * width, D] (row-major grid).
    /// The projections and the MLP are matrix products on `BLAS.threads` threads; the layer
    /// norms, RoPE, the attention (packing per (sequence, head), then (sequence, head, query
    /// block) tasks) and the elementwise work are shared among `workers`, each task's arithmetic
    /// fixed by the shapes alone. `buffers`: arrays reused from the layer before (nil: fresh ones).
    public func apply(_ x: inout Tensor, height: Int, width: Int, workers: Int = 1, buffers: Buffers? = nil) {
        let buffers = buffers ?? Buffers()
        let d = dim, n = height * width, hd = headDim, inner = fc1.outFeatures
        precondition(x.shape == [n, d])
        // Sequences attention runs over: windows of w x w (zero-padded grid) or the whole grid.
        let layout = Windows.Layout(height: height, width: width, window: windowSize)
        let tokens = layout.tokensPerSequence, count = layout.sequences, rows = count * tokens
        precondition(rope.tokens == tokens, "RoPE grid of \(rope.tokens) tokens for sequences of \(tokens)")
        let packedEach = Attention.packedCount(tokens: tokens, headDim: hd), scratchEach = Attention.scratchCount(tokens: tokens)
        buffers.normed.reserve(max(rows, n) * d)
        buffers.qkv.reserve(rows * 3 * d)
        buffers.packed.reserve(count * heads * packedEach)
        buffers.scratch.reserve(max(1, workers) * scratchEach)
        buffers.attended.reserve(rows * d)
        buffers.projected.reserve(rows * d)
        buffers.hidden.reserve(n * inner)
        let normed = buffers.normed.pointer, qkv = buffers.qkv.pointer, packed = buffers.packed.pointer
        let scratch = buffers.scratch.pointer, attended = buffers.attended.pointer
        let projected = buffers.projected.pointer, hidden = buffers.hidden.pointer
        let scale = 1 / Float(hd).squareRoot()
        x.storage.withUnsafeMutableBufferPointer { px in
            let x = px.baseAddress!
            // layer_norm1 straight into sequence order, the padding rows zero.
            Parallel.forEach(tasks: layout.runs, workers: workers) { run, _ in
                let r = layout.run(run)
                layerNorm1.apply(input: x + r.token * d, inputStride: d, rows: r.length,
                                 output: normed + r.row * d, outputStride: d)
                (normed + (r.row + r.length) * d).update(repeating: 0, count: r.padding * d)
            }
            qkvProj.apply(input: normed, inputStride: d, rows: rows, output: qkv, outputStride: 3 * d, workers: workers)
            Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
                // RoPE by the row's position in its sequence (chunks may span sequences).
                var r = chunk.lowerBound
                while r < chunk.upperBound {
                    let s = r / tokens, end = min(chunk.upperBound, (s + 1) * tokens)
                    let base = qkv + s * tokens * 3 * d
                    rope.apply(base, stride: 3 * d, heads: heads, rows: r - s * tokens ..< end - s * tokens)
                    rope.apply(base + d, stride: 3 * d, heads: heads, rows: r - s * tokens ..< end - s * tokens)
                    r = end
                }
            }
            Attention.multiHead(q: qkv, kv: qkv, sequences: count, queries: tokens, tokens: tokens, heads: heads, headDim: hd,
                                scale: scale, packed: packed, scratch: (0..<max(1, workers)).map { scratch + $0 * scratchEach },
                                out: attended, workers: workers)
            oProj.apply(input: attended, inputStride: d, rows: rows, output: projected, outputStride: d, workers: workers)
            // x += o_proj(...), each token from its row in sequence order.
            Parallel.forEach(tasks: layout.runs, workers: workers) { run, _ in
                let r = layout.run(run)
                Kernels.add(projected + r.row * d, into: x + r.token * d, count: r.length * d)
            }
            // x += fc2(activation(fc1(layer_norm2(x)))): fc1 into the hidden rows, fc2 onto x.
            layerNorm2.apply(input: x, inputStride: d, rows: n, output: normed, outputStride: d, workers: workers)
            fc1.apply(input: normed, inputStride: d, rows: n, output: hidden, outputStride: inner, workers: workers)
            Kernels.biasActivation(hidden, rows: n, cols: inner, stride: inner, bias: nil, activation: activation, workers: workers)
            fc2.apply(input: hidden, inputStride: inner, rows: n, output: x, outputStride: d, accumulate: true, workers: workers)
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
