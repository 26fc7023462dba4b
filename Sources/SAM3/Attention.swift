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

    public var dim: Int { qProj.outFeatures }
    public var headDim: Int { dim / heads }

    init(loader: inout WeightLoader, prefix: String, dim: Int, heads: Int) throws {
        qProj = try loader.linear(prefix + ".q_proj", in: dim, out: dim)
        kProj = try loader.linear(prefix + ".k_proj", in: dim, out: dim)
        vProj = try loader.linear(prefix + ".v_proj", in: dim, out: dim)
        oProj = try loader.linear(prefix + ".o_proj", in: dim, out: dim)
        self.heads = heads
    }

    /// o_proj(softmax(q k^T / sqrt(head_dim) + bias) v) per head for query [N, D], key and value [M, D].
    /// Keys whose `keyMask` entry is false get no weight (transformers adds the dtype's minimum to
    /// their scores): they are left out, which is the same softmax. At least one key must be valid.
    /// `bias` is added to the scaled scores (a float attention mask); not with `keyMask`.
    /// The projections' passes over their outputs and the heads are shared among `workers`.
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyMask: [Bool]? = nil,
                               bias: SAM3AxialBias? = nil, workers: Int = 1) -> Tensor {
        let d = dim, n = query.shape[0]
        precondition(query.rank == 2 && key.rank == 2 && value.shape == key.shape && query.shape[1] == d && key.shape[1] == d,
                     "attention of \(query.shape) over \(key.shape) / \(value.shape)")
        var keep = Array(0..<key.shape[0])
        if let keyMask {
            precondition(keyMask.count == key.shape[0], "key mask of \(keyMask.count) for \(key.shape[0]) keys")
            keep = keep.filter { keyMask[$0] }
        }
        precondition(!keep.isEmpty, "attention with every key masked")
        if let bias {
            precondition(keyMask == nil && bias.fits(heads: heads, queries: n, keys: key.shape[0]),
                         "attention bias \(bias.rows.shape) / \(bias.columns.shape) for \(heads) heads, \(n) x \(key.shape[0])")
        }
        let m = keep.count, workers = max(1, workers)
        let keys = keep.count == key.shape[0] ? key : gather(key, keep)
        let values = keep.count == value.shape[0] ? value : gather(value, keep)
        let hd = headDim, scale = 1 / Float(hd).squareRoot()
        // q in an [N, 3D] buffer and k | v in an [M, 3D] one (one row stride for Attention.multiHead),
        // left uninitialized: each projection writes its column block, and only those are read.
        let q = UnsafeMutablePointer<Float>.allocate(capacity: n * 3 * d), kv = UnsafeMutablePointer<Float>.allocate(capacity: m * 3 * d)
        defer { q.deallocate(); kv.deallocate() }
        query.storage.withUnsafeBufferPointer { pq in
            qProj.apply(input: pq.baseAddress!, inputStride: d, rows: n, output: q, outputStride: 3 * d, workers: workers)
        }
        keys.storage.withUnsafeBufferPointer { pk in
            kProj.apply(input: pk.baseAddress!, inputStride: d, rows: m, output: kv + d, outputStride: 3 * d, workers: workers)
        }
        values.storage.withUnsafeBufferPointer { pv in
            vProj.apply(input: pv.baseAddress!, inputStride: d, rows: m, output: kv + 2 * d, outputStride: 3 * d, workers: workers)
        }
        let attended = Tensor(shape: [n, d]) { out in
            if let bias {
                Self.biased(q: q, kv: kv, bias: bias, n: n, m: m, d: d, heads: heads, scale: scale, out: out, workers: workers)
                return
            }
            let each = Attention.scratchCount(tokens: m), packedEach = Attention.packedCount(tokens: m, headDim: hd)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * each)
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: heads * packedEach)
            defer { scratch.deallocate(); packed.deallocate() }
            Attention.multiHead(q: q, kv: kv, queries: n, tokens: m, heads: heads, headDim: hd, scale: scale, packed: packed,
                                scratch: (0..<workers).map { scratch + $0 * each }, out: out, workers: workers)
        }
        return oProj(attended, workers: workers)
    }

    /// Attention with an additive bias, one head per task: scores (CKernels), + bias, softmax, P V.
    private static func biased(q: UnsafePointer<Float>, kv: UnsafePointer<Float>, bias: SAM3AxialBias, n: Int, m: Int, d: Int,
                               heads: Int, scale: Float, out: UnsafeMutablePointer<Float>, workers: Int) {
        let hd = d / heads, pack = Attention.packCount(keys: m, headDim: hd), each = n * m + pack
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: min(workers, heads) * each)
        defer { scratch.deallocate() }
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

    private func gather(_ x: Tensor, _ rows: [Int]) -> Tensor {
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
