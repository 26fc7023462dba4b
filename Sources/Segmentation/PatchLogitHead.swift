import CLIP
import Tensor

/// docs/METHOD.md section 3 steps 6-7 for one image: CLIP's last layer replaced by SegEarth-OV's
/// q-q + k-k + v-v attention (no residual, no MLP), `post_layernorm`, the visual projection, and
/// each patch token's logit against the text queries with the class-token bias.
/// Runs in a `Lane` of buffers reused from tile to tile: a tile allocates nothing here.
struct PatchLogitHead: Sendable {
    let layer: EncoderLayer
    let postLayerNorm: LayerNorm
    let projection: Linear
    /// Unit text queries [K, n]: cut to the `dec` channels and normalised again when `channels`
    /// is set (n = the kept channels), else [K, projection_dim].
    let queries: Tensor
    let clsLambda: Float
    /// METHOD.md section 10: the `dec` channels, and the exemplar cache with the class of each query.
    let channels: ChannelSelection?
    let cache: ExemplarCache?
    let queryClass: [Int]

    init(model: CLIPModel, queries: Tensor, clsLambda: Float, channels: ChannelSelection? = nil,
         cache: ExemplarCache? = nil, queryClass: [Int] = []) {
        layer = model.vision.layers[model.vision.layers.count - 1]
        postLayerNorm = model.vision.postLayerNorm
        projection = model.visualProjection
        self.queries = channels.map { $0.cut(queries) } ?? queries
        self.clsLambda = clsLambda
        self.channels = channels; self.cache = cache; self.queryClass = queryClass
        precondition(cache == nil || (queryClass.count == queries.shape[0] && cache!.keys.shape[1] == width))
    }

    /// The width of the vectors compared: the kept channels under `dec`, else projection_dim.
    var width: Int { channels?.channels.count ?? projection.outFeatures }

    /// The activations of one image's head pass.
    final class Lane {
        let normed = ScratchBuffer()    // [T, D]: layer_norm1, later out_proj and post_layernorm in place
        let qkv = ScratchBuffer()       // [T, 3D]: q | k | v
        let attended = ScratchBuffer()  // [T, D]: heads concatenated
        let unit = ScratchBuffer()      // [T, P]: unit patch embeddings
        let scores = ScratchBuffer()    // [T, K]: cosine similarity with each query
        let cache = ScratchBuffer()     // [T, E] + classes: the exemplar cache's cosines
    }

    /// Floats of attention scratch one worker needs: two blocks of scores and the packed operand.
    func scratchCount(tokens: Int) -> Int {
        2 * Attention.blockRows * tokens + Attention.packCount(keys: tokens, headDim: layer.headDim)
    }

    func reserve(_ lane: Lane, tokens t: Int) {
        let d = layer.dim
        lane.normed.reserve(t * d)
        lane.qkv.reserve(t * 3 * d)
        lane.attended.reserve(t * d)
        lane.unit.reserve(t * projection.outFeatures)
        lane.scores.reserve(t * queries.shape[0])
        if let cache { lane.cache.reserve(cache.scratchCount(tokens: t, classCount: (queryClass.max() ?? -1) + 1)) }
    }

    /// Patch logits [T - 1, K] into `out` for the hidden state `x` [T, D] entering the last layer,
    /// on `scratch.count` workers (one scratch buffer, `scratchCount`, each; BLAS single-threaded):
    /// row-wise work in row chunks fixed by the token count (`Parallel.rowChunks`), the attention
    /// in (head, query block) tasks, so the result is the same on any number of workers.
    func logits(lastLayerInput x: UnsafePointer<Float>, tokens t: Int, lane: Lane,
                scratch: [UnsafeMutablePointer<Float>], out: UnsafeMutablePointer<Float>) {
        let kq = queries.shape[0], p = width
        unitTokens(lastLayerInput: x, tokens: t, lane: lane, scratch: scratch)
        let (unit, scores) = (lane.unit.pointer, lane.scores.pointer)
        let chunks = Parallel.rowChunks(t)
        queries.storage.withUnsafeBufferPointer { q in
            let q0 = q.baseAddress!
            Parallel.forEach(tasks: chunks, workers: scratch.count) { chunk, _ in
                let rows = Parallel.share(t, worker: chunk, of: chunks)
                BLAS.gemm(transposeB: true, m: rows.count, n: kq, k: p, a: unit + rows.lowerBound * p, lda: p, b: q0, ldb: p,
                          c: scores + rows.lowerBound * kq, ldc: kq)
            }
        }
        for i in 1..<t {
            for c in 0..<kq { out[(i - 1) * kq + c] = scores[i * kq + c] + clsLambda * scores[c] }
        }
        cache?.add(unit: unit, tokens: t, queryClass: queryClass, scratch: lane.cache.pointer, out: out)
    }

    /// Steps 3.6-3.7 up to the unit tokens: `lane.unit` [T, width] (class token first), cut to
    /// the `dec` channels and normalised again when they are set. Row chunks as in `logits`.
    func unitTokens(lastLayerInput x: UnsafePointer<Float>, tokens t: Int, lane: Lane, scratch: [UnsafeMutablePointer<Float>]) {
        let d = layer.dim, p = projection.outFeatures
        let (normed, qkv, attended) = (lane.normed.pointer, lane.qkv.pointer, lane.attended.pointer)
        let unit = lane.unit.pointer
        let chunks = Parallel.rowChunks(t), workers = scratch.count
        Parallel.forEach(tasks: chunks, workers: workers) { chunk, _ in
            let rows = Parallel.share(t, worker: chunk, of: chunks), (r0, n) = (rows.lowerBound, rows.count)
            layer.layerNorm1.apply(input: x + r0 * d, inputStride: d, rows: n, output: normed + r0 * d, outputStride: d)
            for (index, linear) in [layer.qProj, layer.kProj, layer.vProj].enumerated() {
                linear.apply(input: normed + r0 * d, inputStride: d, rows: n, output: qkv + r0 * 3 * d + index * d, outputStride: 3 * d)
            }
        }
        selfSimilarityAttention(qkv: qkv, tokens: t, scratch: scratch, out: attended)
        Parallel.forEach(tasks: chunks, workers: workers) { chunk, _ in
            let rows = Parallel.share(t, worker: chunk, of: chunks), (r0, n) = (rows.lowerBound, rows.count)
            let y = normed + r0 * d
            layer.outProj.apply(input: attended + r0 * d, inputStride: d, rows: n, output: y, outputStride: d)
            postLayerNorm.apply(input: y, inputStride: d, rows: n, output: y, outputStride: d)
            projection.apply(input: y, inputStride: d, rows: n, output: unit + r0 * p, outputStride: p)
            for r in rows { ChannelSelection.normalizeRow(unit + r * p, count: p) }
        }
        channels?.cut(inPlace: unit, rows: t)  // compacts rows in place: one pass, in order
    }

    /// SegEarth-OV's attention, per head: (softmax(s q q^T) + softmax(s k k^T) + softmax(s v v^T)) v,
    /// on the strided head columns of the fused q|k|v buffer, each head written into its columns
    /// of `out` [T, D]. (head, block of query rows) tasks, so a block's three score maps stay in
    /// cache between the products, the softmaxes, the sum and P V.
    func selfSimilarityAttention(qkv: UnsafeMutablePointer<Float>, tokens t: Int,
                                 scratch: [UnsafeMutablePointer<Float>], out: UnsafeMutablePointer<Float>) {
        let d = layer.dim, hd = layer.headDim, heads = layer.heads, scale = layer.scale
        let blocks = (t + Attention.blockRows - 1) / Attention.blockRows
        Parallel.forEach(tasks: heads * blocks, workers: scratch.count) { task, worker in
            let head = task / blocks, rows = Parallel.share(t, worker: task % blocks, of: blocks)
            let m = rows.count
            let sum = scratch[worker], part = sum + Attention.blockRows * t, packed = part + Attention.blockRows * t
            for index in 0..<3 {
                let cols = qkv + index * d + head * hd, target = index == 0 ? sum : part
                Attention.scores(cols + rows.lowerBound * 3 * d, cols, inputStride: 3 * d, rows: m, keys: t, headDim: hd,
                                 scale: scale, out: target, outputStride: t, pack: packed)
                for r in 0..<m { Kernels.softmaxRow(target + r * t, cols: t, valid: t) }
                if index > 0 { for i in 0..<(m * t) { sum[i] += part[i] } }
            }
            Attention.values(sum, weightStride: t, qkv + 2 * d + head * hd, inputStride: 3 * d, rows: m, keys: t,
                             headDim: hd, rowFactors: nil, out: out + rows.lowerBound * d + head * hd,
                             outputStride: d, pack: packed)
        }
    }
}
