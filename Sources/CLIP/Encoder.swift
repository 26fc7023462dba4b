// The pre-LN transformer layer shared by the vision and text encoders, and the buffers it runs in.
import Foundation
public import Tensor

/// One `CLIPEncoderLayer`: x += attn(layer_norm1(x)); x += mlp(layer_norm2(x)).
public struct EncoderLayer: Sendable {
    public let layerNorm1: LayerNorm
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let outProj: Linear
    public let layerNorm2: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let heads: Int
    public let activation: Activation

    public var dim: Int { qProj.outFeatures }
    public var headDim: Int { dim / heads }
    /// Attention scale, head_dim^-0.5.
    public var scale: Float { 1 / Float(headDim).squareRoot() }

    init(loader: inout WeightLoader, prefix: String, dim: Int, intermediate: Int, heads: Int,
         activation: Activation, eps: Float) throws {
        layerNorm1 = try loader.layerNorm(prefix + ".layer_norm1", dim: dim, eps: eps)
        qProj = try loader.linear(prefix + ".self_attn.q_proj", in: dim, out: dim)
        kProj = try loader.linear(prefix + ".self_attn.k_proj", in: dim, out: dim)
        vProj = try loader.linear(prefix + ".self_attn.v_proj", in: dim, out: dim)
        outProj = try loader.linear(prefix + ".self_attn.out_proj", in: dim, out: dim)
        layerNorm2 = try loader.layerNorm(prefix + ".layer_norm2", dim: dim, eps: eps)
        fc1 = try loader.linear(prefix + ".mlp.fc1", in: dim, out: intermediate)
        fc2 = try loader.linear(prefix + ".mlp.fc2", in: intermediate, out: dim)
        self.heads = heads
        self.activation = activation
    }
}

/// The per-sequence activations one layer stack runs in: one lane per sequence in flight.
final class Lane {
    let normed = ScratchBuffer()   // [N, D], layer-norm output
    let qkv = ScratchBuffer()      // [N, 3D], q | k | v
    let attended = ScratchBuffer() // [N, D], heads concatenated
    let mlp = ScratchBuffer()      // [N, I]
    let packed = ScratchBuffer()   // every (sequence, head)'s keys and values packed for attention

    func reserve(rows: Int, dim: Int, intermediate: Int) {
        normed.reserve(rows * dim)
        qkv.reserve(rows * 3 * dim)
        attended.reserve(rows * dim)
        mlp.reserve(rows * intermediate)
    }
}

/// Activations of one forward pass, reused across calls: steady-state inference allocates nothing.
final class Workspace {
    let hidden = ScratchBuffer()   // [B * T, D], the residual stream of every sequence
    let patches = ScratchBuffer()  // [B * h * w, C * P * P], im2col
    let positions = ScratchBuffer() // [T, D], position embeddings for the current grid
    var positionGrid: (Int, Int)? = nil
    var lanes: [Lane] = []     // per sequence in flight
    var scratch: [ScratchBuffer] = [] // one per worker, attention scores

    /// Room for `lanes` lanes of `rows` rows each and `workers` workers' attention scratch.
    func reserve(lanes count: Int, rows: Int, dim: Int, intermediate: Int, tokens: Int, headDim: Int, workers: Int) {
        while lanes.count < count { lanes.append(Lane()) }
        for lane in lanes.prefix(count) { lane.reserve(rows: rows, dim: dim, intermediate: intermediate) }
        while scratch.count < workers { scratch.append(ScratchBuffer()) }
        for buffer in scratch.prefix(workers) { buffer.reserve(Attention.scratchCount(tokens: tokens)) }
    }
}

/// The default number of workers: the cores this process may use.
public func defaultThreads() -> Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

/// Runs `layers` over `images` sequences of `tokens` rows held in `hidden`, in place, in the
/// buffers of `lane` (which must hold `images * tokens` rows) with `scratch` (one per worker).
/// Row-wise work (layer norms, projections, MLP) is split into row chunks whose bounds depend on
/// the row count alone (`Parallel.rowChunks`), attention into (image, head) tasks that pack the
/// head's keys and values once, then (image, head, query block) tasks;
/// workers take tasks as they finish and call single-threaded BLAS, so the arithmetic, and the
/// result, is the same on any number of workers. Three barriers per layer.
func runLayers(_ layers: ArraySlice<EncoderLayer>, hidden x: UnsafeMutablePointer<Float>, lane: Lane,
               scratch: [UnsafeMutablePointer<Float>], images: Int, tokens: Int, causal: Bool, workers: Int) {
    guard let first = layers.first else { return }
    let d = first.dim, rows = images * tokens
    let y = lane.normed.pointer, qkv = lane.qkv.pointer
    let attended = lane.attended.pointer, mlp = lane.mlp.pointer
    let packedEach = Attention.packedCount(tokens: tokens, headDim: first.headDim)
    lane.packed.reserve(images * first.heads * packedEach)
    let packed = lane.packed.pointer
    // Row-wise halves of a layer, on the rows of one worker.
    func attentionInput(_ layer: EncoderLayer, _ r0: Int, _ n: Int) {
        layer.layerNorm1.apply(input: x + r0 * d, inputStride: d, rows: n, output: y + r0 * d, outputStride: d)
        layer.qProj.apply(input: y + r0 * d, inputStride: d, rows: n, output: qkv + r0 * 3 * d, outputStride: 3 * d)
        layer.kProj.apply(input: y + r0 * d, inputStride: d, rows: n, output: qkv + r0 * 3 * d + d, outputStride: 3 * d)
        layer.vProj.apply(input: y + r0 * d, inputStride: d, rows: n, output: qkv + r0 * 3 * d + 2 * d, outputStride: 3 * d)
    }
    func attentionOutputAndMLP(_ layer: EncoderLayer, _ r0: Int, _ n: Int) {
        let inter = layer.fc1.outFeatures
        layer.outProj.apply(input: attended + r0 * d, inputStride: d, rows: n,
                            output: x + r0 * d, outputStride: d, accumulate: true)
        layer.layerNorm2.apply(input: x + r0 * d, inputStride: d, rows: n, output: y + r0 * d, outputStride: d)
        layer.fc1.apply(input: y + r0 * d, inputStride: d, rows: n, output: mlp + r0 * inter, outputStride: inter,
                        activation: layer.activation)
        layer.fc2.apply(input: mlp + r0 * inter, inputStride: inter, rows: n,
                        output: x + r0 * d, outputStride: d, accumulate: true)
    }
    // Row chunks fixed by the row count (the same products on any number of workers); few and
    // large, as each chunk's GEMMs pack the whole weight matrix again.
    let chunks = Parallel.rowChunks(rows)
    Parallel.forEach(tasks: chunks, workers: workers) { chunk, _ in
        let share = Parallel.share(rows, worker: chunk, of: chunks)
        if !share.isEmpty { attentionInput(first, share.lowerBound, share.count) }
    }
    for (index, layer) in zip(layers.indices, layers) {
        Attention.multiHead(q: qkv, kv: qkv, sequences: images, queries: tokens, tokens: tokens, heads: layer.heads,
                            headDim: layer.headDim, scale: layer.scale, causal: causal, packed: packed, scratch: scratch,
                            out: attended, workers: workers)
        // The same rows go on into the next layer's attention input: no barrier in between.
        let next = index + 1 < layers.endIndex ? layers[index + 1] : nil
        Parallel.forEach(tasks: chunks, workers: workers) { chunk, _ in
            let share = Parallel.share(rows, worker: chunk, of: chunks)
            guard !share.isEmpty else { return }
            attentionOutputAndMLP(layer, share.lowerBound, share.count)
            if let next { attentionInput(next, share.lowerBound, share.count) }
        }
    }
}
