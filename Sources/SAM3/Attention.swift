// transformers `Sam3Attention`: multi-head attention with separate q, k, v, o projections,
// queries and keys from different sequences, an optional key padding mask.
import CLIP
public import Tensor

public struct SAM3Attention: Sendable {
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let oProj: Linear
    public let heads: Int
    /// q_proj and k_proj stacked ([2D, D]) for self-attention, whose queries and keys are the
    /// same rows: one product where there were two, at the layers' precision.
    public let queryKeyProj: Linear?

    public var dim: Int { qProj.outFeatures }
    public var headDim: Int { dim / heads }

    /// `selfAttention`: the layer's queries and keys will be the same rows (its q and k
    /// projections are then stacked into one product).
    init(loader: inout WeightLoader, prefix: String, dim: Int, heads: Int, selfAttention: Bool = false) throws {
        qProj = try loader.linear(prefix + ".q_proj", in: dim, out: dim)
        kProj = try loader.linear(prefix + ".k_proj", in: dim, out: dim)
        vProj = try loader.linear(prefix + ".v_proj", in: dim, out: dim)
        oProj = try loader.linear(prefix + ".o_proj", in: dim, out: dim)
        self.heads = heads
        queryKeyProj = selfAttention ? Linear(stacking: [qProj, kProj], precision: qProj.precision) : nil
    }

    /// Buffers of `apply` kept from call to call (a layer stack's worth of fresh arrays of
    /// several MB each costs their page faults and zeroing in every layer). Every element is
    /// written before it is read.
    public final class Buffers {
        let q = ScratchBuffer()        // [N, 3D]: q in the first column block (k and v too in self-attention)
        let kv = ScratchBuffer()       // [M, 3D]: k and v in the second and third column blocks
        let packed = ScratchBuffer()   // every head's keys and values packed
        let scratch = ScratchBuffer()  // each worker's block of scores
        let attended = ScratchBuffer() // [N, D], heads concatenated
        public init() {}
    }

    /// o_proj(softmax(q k^T / sqrt(head_dim) + bias) v) per head for query [N, D], key and value [M, D].
    /// Keys whose `keyMask` entry is false get no weight (transformers adds the dtype's minimum to
    /// their scores): they are left out, which is the same softmax. At least one key must be valid.
    /// `bias` is added to the scaled scores (a float attention mask); not with `keyMask`.
    /// The projections' passes over their outputs and the heads are shared among `workers`;
    /// `buffers` kept by the caller from call to call (nil: fresh ones).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyMask: [Bool]? = nil,
                               bias: SAM3AxialBias? = nil, workers: Int = 1, buffers: Buffers? = nil) -> Tensor {
        let d = dim, n = query.shape[0]
        precondition(query.rank == 2 && key.rank == 2 && value.shape == key.shape && query.shape[1] == d && key.shape[1] == d,
                     "attention of \(query.shape) over \(key.shape) / \(value.shape)")
        precondition(bias == nil || keyMask == nil, "attention with both a bias and a key mask")
        let keys = Self.realRows(key, mask: keyMask), values = Self.realRows(value, mask: keyMask) // `apply` checks one is left
        return Tensor(shape: [n, d]) { out in
            query.storage.withUnsafeBufferPointer { pq in
                keys.storage.withUnsafeBufferPointer { pk in
                    values.storage.withUnsafeBufferPointer { pv in
                        apply(query: pq.baseAddress!, queries: n, key: pk.baseAddress!, value: pv.baseAddress!, keys: keys.shape[0],
                              bias: bias, output: out, accumulate: false, buffers: buffers ?? Buffers(), workers: workers)
                    }
                }
            }
        }
    }

    /// `callAsFunction` on rows of D floats without a key mask: `queries` query rows, `keys` key
    /// and value rows (`key == query` with `queries == keys` in self-attention, whose q and k
    /// projections then run as one product), the result written to `output` (N rows of D) or,
    /// with `accumulate`, added onto it (a residual connection, no [N, D] temporary).
    public func apply(query: UnsafePointer<Float>, queries n: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
                      keys m: Int, bias: SAM3AxialBias? = nil, output: UnsafeMutablePointer<Float>, accumulate: Bool,
                      buffers: Buffers, workers: Int) {
        precondition(m > 0, "attention with every key masked")
        if let bias {
            precondition(bias.fits(heads: heads, queries: n, keys: m),
                         "attention bias \(bias.rows.shape) / \(bias.columns.shape) for \(heads) heads, \(n) x \(m)")
        }
        let d = dim, workers = max(1, workers), hd = headDim, scale = 1 / Float(hd).squareRoot()
        // q in an [N, 3D] buffer and k | v in an [M, 3D] one (one row stride for Attention.multiHead);
        // self-attention's k and v go into q's buffer. Each projection writes its column block, and
        // only those are read.
        let shared = queryKeyProj != nil && key == query && n == m
        buffers.q.reserve(n * 3 * d)
        if !shared { buffers.kv.reserve(m * 3 * d) }
        let q = buffers.q.pointer, kv = shared ? q : buffers.kv.pointer
        if shared, let queryKeyProj {
            queryKeyProj.apply(input: query, inputStride: d, rows: n, output: q, outputStride: 3 * d, workers: workers)
        } else {
            qProj.apply(input: query, inputStride: d, rows: n, output: q, outputStride: 3 * d, workers: workers)
            kProj.apply(input: key, inputStride: d, rows: m, output: kv + d, outputStride: 3 * d, workers: workers)
        }
        vProj.apply(input: value, inputStride: d, rows: m, output: kv + 2 * d, outputStride: 3 * d, workers: workers)
        buffers.attended.reserve(n * d)
        let attended = buffers.attended.pointer
        if let bias {
            let pack = Attention.packCount(keys: m, headDim: hd), each = n * m + pack
            buffers.scratch.reserve(min(workers, heads) * each)
            Self.biased(q: q, kv: kv, bias: bias, n: n, m: m, d: d, heads: heads, scale: scale, out: attended,
                        scratch: buffers.scratch.pointer, workers: workers)
        } else {
            let each = Attention.scratchCount(tokens: m)
            buffers.scratch.reserve(workers * each)
            buffers.packed.reserve(heads * Attention.packedCount(tokens: m, headDim: hd))
            let scratch = buffers.scratch.pointer
            Attention.multiHead(q: q, kv: kv, queries: n, tokens: m, heads: heads, headDim: hd, scale: scale,
                                packed: buffers.packed.pointer, scratch: (0..<workers).map { scratch + $0 * each },
                                out: attended, workers: workers)
        }
        oProj.apply(input: attended, inputStride: d, rows: n, output: output, outputStride: d, accumulate: accumulate, workers: workers)
    }

    /// Attention with an additive bias, one head per task: scores (CKernels), + bias, softmax, P V.
    /// `scratch`: min(workers, heads) x (n x m + `Attention.packCount`) floats.
    private static func biased(q: UnsafePointer<Float>, kv: UnsafePointer<Float>, bias: SAM3AxialBias, n: Int, m: Int, d: Int,
                               heads: Int, scale: Float, out: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>, workers: Int) {
        let hd = d / heads, pack = Attention.packCount(keys: m, headDim: hd), each = n * m + pack
        Parallel.forEach(tasks: heads, workers: workers) { h, w in
            let scores = scratch + w * each, packed = scores + n * m
            Attention.scores(q + h * hd, kv + d + h * hd, inputStride: 3 * d, rows: n, keys: m, headDim: hd,
                             scale: scale, out: scores, outputStride: m, pack: packed)
            bias.add(head: h, to: scores, queries: n)
            for r in 0..<n { Kernels.softmaxRow(scores + r * m, cols: m, valid: m) }
            Attention.values(scores, weightStride: m, kv + 2 * d + h * hd, inputStride: 3 * d, rows: n, keys: m,
                             headDim: hd, rowFactors: nil, out: out + h * hd, outputStride: d, pack: packed)
        }
    }

    /// The rows of a 2-D tensor whose `mask` entry is true (all of them when nil): the keys a
    /// padding mask leaves to attention (masked keys get no weight: the same softmax).
    static func realRows(_ x: Tensor, mask: [Bool]?) -> Tensor {
        guard let mask else { return x }
        precondition(mask.count == x.shape[0], "key mask of \(mask.count) for \(x.shape[0]) keys")
        let rows = mask.indices.filter { mask[$0] }
        if rows.count == x.shape[0] { return x }
        let d = x.shape[1]
        var out = [Float]()
        out.reserveCapacity(rows.count * d)
        for r in rows { out += x.storage[r * d ..< (r + 1) * d] }
        return Tensor(shape: [rows.count, d], storage: out)
    }
}

/// An attention bias over the keys of a height x width grid that is a sum of a row term and a
/// column term (the DETR decoder's box relative position bias): for head h, query row r past the
/// first `unbiasedQueries` (the presence token) and key i * width + j,
/// bias = rows[h, r', i] + columns[h, r', j] with r' = r - unbiasedQueries. Added to the scores
/// as it is computed: the [heads, queries, keys] tensor is never built.
public struct SAM3AxialBias: Sendable {
    /// [heads, biased queries, height] and [heads, biased queries, width].
    public let rows: Tensor
    public let columns: Tensor
    public let unbiasedQueries: Int

    public init(rows: Tensor, columns: Tensor, unbiasedQueries: Int) {
        precondition(rows.rank == 3 && columns.rank == 3 && rows.shape[0...1] == columns.shape[0...1] && unbiasedQueries >= 0,
                     "axial bias of rows \(rows.shape) and columns \(columns.shape)")
        self.rows = rows
        self.columns = columns
        self.unbiasedQueries = unbiasedQueries
    }

    var height: Int { rows.shape[2] }
    var width: Int { columns.shape[2] }

    func fits(heads: Int, queries: Int, keys: Int) -> Bool {
        rows.shape[0] == heads && rows.shape[1] + unbiasedQueries == queries && height * width == keys
    }

    /// Adds head `h`'s bias to `queries` rows of scores (row stride height x width), each value
    /// as (row term + column term), the order in which the bias tensor was built.
    func add(head h: Int, to scores: UnsafeMutablePointer<Float>, queries: Int) {
        let (hh, ww, biased) = (height, width, rows.shape[1])
        rows.storage.withUnsafeBufferPointer { py in
            columns.storage.withUnsafeBufferPointer { px in
                for r in 0..<biased {
                    let y = py.baseAddress! + (h * biased + r) * hh, x = px.baseAddress! + (h * biased + r) * ww
                    let row = scores + (r + unbiasedQueries) * hh * ww
                    for i in 0..<hh {
                        let line = row + i * ww, yi = y[i]
                        for j in 0..<ww { line[j] += yi + x[j] }
                    }
                }
            }
        }
    }
}
