// Multi-head attention on strided views of a fused [T, 3D] q|k|v buffer: no per-head copies.
internal import CKernels

/// Scaled dot-product attention for one head over a block of query rows.
public enum Attention {
    /// Query rows per block: a block of scores (at 1025 tokens, 1 MB) lives in L2/L3 between the
    /// scores, the exponentials and the P V product. A multiple of every kernel set's tile rows
    /// (6 and 14), so that only a sequence's last block ends in a part-empty tile.
    public static let blockRows = 252

    /// Query rows of the active kernels' register tiles (`ck_kernel_table.tile_rows`).
    static var tileRows: Int { Kernels.active.tile_rows }

    /// Scratch floats one call of `head` needs for `tokens` keys: a block of scores and the
    /// reciprocal row sums (the keys and values come packed, `pack(k:v:...)`).
    public static func scratchCount(tokens: Int) -> Int {
        blockRows * tokens + blockRows
    }

    /// Floats one head's keys and values take packed (`pack`), for `tokens` keys of `headDim` values.
    public static func packedCount(tokens: Int, headDim: Int) -> Int { ck_attention_packed_head_floats(tokens, headDim) }

    /// The keys' part of `packedCount`, first in the packed buffer (the values follow).
    static func packedKeysCount(tokens: Int, headDim: Int) -> Int { ck_attention_packed_keys_floats(tokens, headDim) }

    /// Packs one head's `tokens` keys and values (rows of stride `inputStride`) into `packed`
    /// (`packedCount` floats): once per head and layer, for every block of query rows `head` runs.
    public static func pack(k: UnsafePointer<Float>, v: UnsafePointer<Float>, inputStride: Int, tokens: Int, headDim: Int,
                            into packed: UnsafeMutablePointer<Float>) {
        Kernels.active.attention_pack_head!(k, v, inputStride, tokens, headDim, packed,
                                            packed + packedKeysCount(tokens: tokens, headDim: headDim))
    }

    /// `pack` for every head of `sequences` sequences of `tokens` rows in a fused q | k | v
    /// buffer (rows of 3 x heads x headDim; k and v the second and third column blocks), one
    /// (sequence, head) per task among `workers`: head h of sequence s into
    /// `packed + (s * heads + h) * packedCount(tokens:headDim:)`.
    public static func packHeads(_ qkv: UnsafePointer<Float>, sequences: Int, tokens: Int, heads: Int, headDim: Int,
                                 into packed: UnsafeMutablePointer<Float>, workers: Int) {
        let d = heads * headDim, each = packedCount(tokens: tokens, headDim: headDim)
        Parallel.forEach(tasks: sequences * heads, workers: workers) { task, _ in
            let base = qkv + (task / heads) * tokens * 3 * d + (task % heads) * headDim
            pack(k: base + d, v: base + 2 * d, inputStride: 3 * d, tokens: tokens, headDim: headDim, into: packed + task * each)
        }
    }

    /// Every head of `sequences` sequences: sequence s has `queries` query rows in the first
    /// column block of `q + s * queries` rows of 3 x heads x headDim floats, and `tokens` keys
    /// and values in the second and third column blocks of `kv + s * tokens` such rows (`kv` may
    /// be `q`). Packs each (sequence, head)'s keys and values (`packHeads`, into `packed`:
    /// sequences x heads x `packedCount` floats), then runs `head` in (sequence, head, block of
    /// query rows) tasks among `workers`, worker w with `scratch[w]` (`scratchCount` floats);
    /// head h of sequence s goes to columns h x headDim ..< (h + 1) x headDim of rows
    /// `out + s * queries` (rows of heads x headDim). With `causal` (queries == tokens), query i
    /// attends to keys 0...i only. Each task's arithmetic depends on the shapes alone.
    public static func multiHead(q: UnsafePointer<Float>, kv: UnsafePointer<Float>, sequences: Int = 1, queries: Int,
                                 tokens: Int, heads: Int, headDim: Int, scale: Float, causal: Bool = false,
                                 packed: UnsafeMutablePointer<Float>, scratch: [UnsafeMutablePointer<Float>],
                                 out: UnsafeMutablePointer<Float>, workers: Int) {
        precondition(!causal || queries == tokens, "causal attention of \(queries) queries over \(tokens) keys")
        let d = heads * headDim, packedEach = packedCount(tokens: tokens, headDim: headDim)
        let blocks = max(1, (queries + blockRows - 1) / blockRows)
        packHeads(kv, sequences: sequences, tokens: tokens, heads: heads, headDim: headDim, into: packed, workers: workers)
        Parallel.forEach(tasks: sequences * heads * blocks, workers: workers) { task, worker in
            let s = task / (heads * blocks), h = (task / blocks) % heads
            head(q: q + s * queries * 3 * d + h * headDim, packed: packed + (task / blocks) * packedEach, inputStride: 3 * d,
                 tokens: tokens, headDim: headDim, scale: scale, rows: Parallel.share(queries, worker: task % blocks, of: blocks),
                 causal: causal, out: out + s * queries * d + h * headDim, outputStride: d, scratch: scratch[worker])
        }
    }

    /// Attention of one head for query rows `rows`:
    /// `out[i, :] = softmax(scale * q_i K^T) V`, with `q` the head's columns in a buffer of row
    /// stride `inputStride` (e.g. the q column block of a fused [T, 3D] buffer), K and V the
    /// head's `tokens` keys and values packed by `pack`, and `out` the head's columns of a [T, D]
    /// buffer with row stride `outputStride`. With `causal`, query i attends to keys 0...i only.
    /// `scratch` holds `scratchCount` floats.
    /// The two products run in CKernels (register tiles over the packed keys or values, the score
    /// block itself never packed), not BLAS: at head_dim 64 BLAS spends a third of P V repacking
    /// the scores.
    public static func head(q: UnsafePointer<Float>, packed: UnsafePointer<Float>, inputStride: Int, tokens: Int,
                            headDim: Int, scale: Float, rows: Range<Int>, causal: Bool,
                            out: UnsafeMutablePointer<Float>, outputStride: Int,
                            scratch: UnsafeMutablePointer<Float>) {
        let reciprocals = scratch + blockRows * tokens
        let table = Kernels.active
        // Rows per pass: a block of scores stays in a core's L2 cache (about 1 MB of it) between
        // the scores, the exponentials and the P V product; a multiple of the kernels' tile rows.
        let tile = tileRows, passRows = min(blockRows, max(tile, (1 << 18) / max(1, tokens) / tile * tile))
        var start = rows.lowerBound
        while start < rows.upperBound {
            let m = min(passRows, rows.upperBound - start)
            let keys = causal ? start + m : tokens // keys any row of the block can see
            table.attention_scores_packed!(q + start * inputStride, inputStride, packed, m, keys, headDim, scale,
                                           scratch, keys)
            // Softmax numerators; each output row is divided by its sum in the P V product
            // (head_dim values a row rather than all the keys).
            for i in 0..<m {
                let sum = Kernels.exponentiateRow(scratch + i * keys, cols: keys, valid: causal ? start + i + 1 : keys)
                reciprocals[i] = 1 / sum
            }
            table.attention_values_packed!(scratch, keys, packed + packedKeysCount(tokens: tokens, headDim: headDim), tokens,
                                           m, keys, headDim, reciprocals, out + start * outputStride, outputStride)
            start += m
        }
    }

    /// Floats of the `pack` buffer `scores` and `values` need for `keys` keys of `headDim` values.
    public static func packCount(keys: Int, headDim: Int) -> Int { ck_attention_pack_floats(keys, headDim) }

    /// `out[i, j] = scale * q_i . k_j` for `rows` query rows and `keys` keys of `headDim` values,
    /// q and k rows with stride `inputStride`.
    public static func scores(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, inputStride: Int,
                              rows: Int, keys: Int, headDim: Int, scale: Float,
                              out: UnsafeMutablePointer<Float>, outputStride: Int, pack: UnsafeMutablePointer<Float>) {
        Kernels.active.attention_scores!(q, inputStride, k, inputStride, rows, keys, headDim, scale, out, outputStride, pack)
    }

    /// `out[i, :] = rowFactors[i] * sum_j w[i, j] v_j` (factors 1 when nil) for `rows` rows of
    /// `keys` weights (stride `weightStride`) and value rows of `headDim` values (stride `inputStride`).
    public static func values(_ w: UnsafePointer<Float>, weightStride: Int, _ v: UnsafePointer<Float>, inputStride: Int,
                              rows: Int, keys: Int, headDim: Int, rowFactors: UnsafePointer<Float>?,
                              out: UnsafeMutablePointer<Float>, outputStride: Int, pack: UnsafeMutablePointer<Float>) {
        Kernels.active.attention_values!(w, weightStride, v, inputStride, rows, keys, headDim, rowFactors, out, outputStride, pack)
    }

    /// `softmax(scale * a b^T)` for 2-D `a` [M, d] and `b` [N, d]: attention weights [M, N].
    public static func weights(_ a: Tensor, _ b: Tensor, scale: Float) -> Tensor {
        var s = BLAS.matmul(a, b, transposeB: true, alpha: scale)
        let cols = s.shape[1]
        if s.count == 0 { return s }
        s.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<s.shape[0] {
                Kernels.softmaxRow(p.baseAddress! + r * cols, cols: cols, valid: cols)
            }
        }
        return s
    }
}

extension Tensor {
    /// Columns `range` of the last axis of a 2-D tensor.
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(rank == 2 && range.lowerBound >= 0 && range.upperBound <= shape[1])
        var out = [Float]()
        out.reserveCapacity(shape[0] * range.count)
        for r in 0..<shape[0] { out += storage[r * shape[1] + range.lowerBound ..< r * shape[1] + range.upperBound] }
        return Tensor(shape: [shape[0], range.count], storage: out)
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "shapes differ: \(lhs.shape) + \(rhs.shape)")
        return Tensor(shape: lhs.shape, storage: zip(lhs.storage, rhs.storage).map { $0 + $1 })
    }

    /// `self + other` (the same values as `+`), in chunks of the leading axis among `workers`.
    public func adding(_ other: Tensor, workers: Int) -> Tensor {
        precondition(shape == other.shape, "shapes differ: \(shape) + \(other.shape)")
        let rows = shape.first ?? 1, each = count / max(1, rows)
        return storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                Tensor(shape: shape) { out in
                    Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
                        for i in chunk.lowerBound * each ..< chunk.upperBound * each { out[i] = a[i] + b[i] }
                    }
                }
            }
        }
    }

    /// `self += other` elementwise (residual connections), in chunks of the leading axis among `workers`.
    public mutating func add(_ other: Tensor, workers: Int) {
        precondition(shape == other.shape, "shapes differ: \(shape) += \(other.shape)")
        if count == 0 { return }
        let rows = shape.first ?? 1, each = count / max(1, rows)
        other.storage.withUnsafeBufferPointer { b in
            storage.withUnsafeMutableBufferPointer { a in
                let (x, out) = (b.baseAddress!, a.baseAddress!)
                Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
                    Kernels.add(x + chunk.lowerBound * each, into: out + chunk.lowerBound * each, count: chunk.count * each)
                }
            }
        }
    }
}
