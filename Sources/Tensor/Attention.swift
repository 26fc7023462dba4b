// Multi-head attention as GEMMs on strided views of a fused [T, 3D] q|k|v buffer: no per-head copies.

/// Scaled dot-product attention for one head over a block of query rows.
public enum Attention {
    /// Query rows per block. Each block is two GEMMs that pack the head's keys and values again,
    /// so larger blocks pack less often: at 1025 tokens 256 rows run about 15% faster than 64
    /// (a block of scores, 1 MB, then lives in L3 rather than L2; that costs less).
    public static let blockRows = 256

    /// Scratch floats one call of `head` needs for `tokens` keys: a block of scores and the
    /// reciprocal row sums.
    public static func scratchCount(tokens: Int) -> Int { blockRows * tokens + blockRows }

    /// Attention of one head for query rows `rows`:
    /// `out[i, :] = softmax(scale * q_i K^T) V`, with `q`, `k`, `v` the head's columns in buffers of
    /// row stride `inputStride` (e.g. the q, k and v column blocks of a fused [T, 3D] buffer), and
    /// `out` the head's columns of a [T, D] buffer with row stride `outputStride`.
    /// With `causal`, query i attends to keys 0...i only. `scratch` holds `scratchCount(tokens:)` floats.
    public static func head(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                            inputStride: Int, tokens: Int, headDim: Int, scale: Float,
                            rows: Range<Int>, causal: Bool,
                            out: UnsafeMutablePointer<Float>, outputStride: Int,
                            scratch: UnsafeMutablePointer<Float>) {
        var start = rows.lowerBound
        while start < rows.upperBound {
            let m = min(blockRows, rows.upperBound - start)
            let keys = causal ? start + m : tokens // keys any row of the block can see
            BLAS.gemm(transposeB: true, m: m, n: keys, k: headDim, alpha: scale,
                      a: q + start * inputStride, lda: inputStride, b: k, ldb: inputStride,
                      c: scratch, ldc: keys)
            // Softmax numerators; each output row is divided by its sum after the P V product
            // (head_dim values a row rather than all the keys).
            let reciprocals = scratch + blockRows * tokens
            for i in 0..<m {
                let sum = Kernels.exponentiateRow(scratch + i * keys, cols: keys, valid: causal ? start + i + 1 : keys)
                reciprocals[i] = 1 / sum
            }
            BLAS.gemm(m: m, n: headDim, k: keys, a: scratch, lda: keys, b: v, ldb: inputStride,
                      c: out + start * outputStride, ldc: outputStride)
            for i in 0..<m {
                Kernels.scaleRow(out + (start + i) * outputStride, count: headDim, by: reciprocals[i])
            }
            start += m
        }
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
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        var out = self
        guard let cols = shape.last, cols > 0 else { return out }
        out.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<(count / cols) {
                Kernels.softmaxRow(p.baseAddress! + r * cols, cols: cols, valid: cols)
            }
        }
        return out
    }

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
}
