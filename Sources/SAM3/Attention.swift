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
    /// `bias` [heads, N, M] is added to the scaled scores (a float attention mask); not with `keyMask`.
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyMask: [Bool]? = nil,
                               bias: Tensor? = nil, workers: Int = 1) -> Tensor {
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
            precondition(keyMask == nil && bias.shape == [heads, n, key.shape[0]], "attention bias \(bias.shape) for \(heads) heads, \(n) x \(key.shape[0])")
        }
        let m = keep.count
        // q in a [N, 3D] buffer and k | v in an [M, 3D] one: one row stride for Attention.head.
        var q = [Float](repeating: 0, count: n * 3 * d), kv = [Float](repeating: 0, count: m * 3 * d)
        let keys = keep.count == key.shape[0] ? key : gather(key, keep)
        let values = keep.count == value.shape[0] ? value : gather(value, keep)
        var attended = Tensor(shape: [n, d])
        let hd = headDim, scale = 1 / Float(hd).squareRoot()
        var scratch = [Float](repeating: 0, count: max(1, workers) * Attention.scratchCount(tokens: m))
        let packedEach = Attention.packedCount(tokens: m, headDim: hd)
        var packed = [Float](repeating: 0, count: bias == nil ? heads * packedEach : 0)
        query.storage.withUnsafeBufferPointer { pq in
            keys.storage.withUnsafeBufferPointer { pk in
                values.storage.withUnsafeBufferPointer { pv in
                    q.withUnsafeMutableBufferPointer { bq in
                        kv.withUnsafeMutableBufferPointer { bkv in
                            qProj.apply(input: pq.baseAddress!, inputStride: d, rows: n, output: bq.baseAddress!, outputStride: 3 * d)
                            kProj.apply(input: pk.baseAddress!, inputStride: d, rows: m, output: bkv.baseAddress! + d, outputStride: 3 * d)
                            vProj.apply(input: pv.baseAddress!, inputStride: d, rows: m, output: bkv.baseAddress! + 2 * d, outputStride: 3 * d)
                            let qb = UnsafePointer(bq.baseAddress!), kvb = UnsafePointer(bkv.baseAddress!)
                            attended.storage.withUnsafeMutableBufferPointer { pa in
                                if let bias {
                                    Self.biased(q: qb, kv: kvb, bias: bias, n: n, m: m, d: d, heads: heads, scale: scale,
                                                out: pa.baseAddress!, workers: workers)
                                    return
                                }
                                scratch.withUnsafeMutableBufferPointer { sc in
                                    packed.withUnsafeMutableBufferPointer { pk in
                                        let each = Attention.scratchCount(tokens: m)
                                        Attention.multiHead(q: qb, kv: kvb, queries: n, tokens: m, heads: heads, headDim: hd, scale: scale,
                                                            packed: pk.baseAddress!,
                                                            scratch: (0..<max(1, workers)).map { sc.baseAddress! + $0 * each },
                                                            out: pa.baseAddress!, workers: workers)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return oProj(attended)
    }

    /// Attention with an additive bias, one head per task: scores (CKernels), + bias, softmax, P V.
    private static func biased(q: UnsafePointer<Float>, kv: UnsafePointer<Float>, bias: Tensor, n: Int, m: Int, d: Int,
                               heads: Int, scale: Float, out: UnsafeMutablePointer<Float>, workers: Int) {
        let hd = d / heads, pack = Attention.packCount(keys: m, headDim: hd), each = n * m + pack
        var scratch = [Float](repeating: 0, count: max(1, min(workers, heads)) * each)
        bias.storage.withUnsafeBufferPointer { pb in
            scratch.withUnsafeMutableBufferPointer { sc in
                Parallel.forEach(tasks: heads, workers: workers) { h, w in
                    let scores = sc.baseAddress! + w * each, packed = scores + n * m
                    Attention.scores(q + h * hd, kv + d + h * hd, inputStride: 3 * d, rows: n, keys: m, headDim: hd,
                                     scale: scale, out: scores, outputStride: m, pack: packed)
                    Kernels.add(pb.baseAddress! + h * n * m, into: scores, count: n * m)
                    for r in 0..<n { Kernels.softmaxRow(scores + r * m, cols: m, valid: m) }
                    Attention.values(scores, weightStride: m, kv + 2 * d + h * hd, inputStride: 3 * d, rows: n, keys: m,
                                     headDim: hd, rowFactors: nil, out: out + h * hd, outputStride: d, pack: packed)
                }
            }
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
