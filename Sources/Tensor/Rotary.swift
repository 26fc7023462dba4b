// 2-D axial rotary position embedding of SAM 3's vision transformer (transformers
// `Sam3ViTRotaryEmbedding` + `apply_rotary_pos_emb_2d`).
import Foundation

/// Axial RoPE over a grid of `gridHeight` x `gridWidth` tokens (row-major, y outer).
///
/// Layout of one head of `headDim` values (a multiple of 4), in pairs (2i, 2i+1) rotated as
/// complex numbers: `x'[2i] = x[2i] cos a_i - x[2i+1] sin a_i`, `x'[2i+1] = x[2i+1] cos a_i + x[2i] sin a_i`.
/// With q = headDim / 4 frequencies `f_j = 1 / theta^(2j / (headDim/2))` (j < q), pair i < q turns by
/// `x_pos * f_i` and pair q + j by `y_pos * f_j`: the column (width) position comes first.
/// Positions are `column * scale` and `row * scale` in Float32; SAM 3 uses scale 1 in windowed
/// layers (positions within the window) and `window / gridWidth` in global layers.
public struct AxialRotaryEmbedding: Sendable {
    public let headDim: Int
    public let gridHeight: Int
    public let gridWidth: Int
    /// cos and sin of each token's angles, [tokens, headDim / 2] (one per pair).
    public let cos: [Float]
    public let sin: [Float]

    public var tokens: Int { gridHeight * gridWidth }

    public init(headDim: Int, gridHeight: Int, gridWidth: Int, scale: Float = 1, theta: Float = 10_000) {
        precondition(headDim > 0 && headDim % 4 == 0, "axial RoPE needs a head dimension divisible by 4, got \(headDim)")
        precondition(gridHeight > 0 && gridWidth > 0, "axial RoPE grid \(gridHeight) x \(gridWidth)")
        self.headDim = headDim
        self.gridHeight = gridHeight
        self.gridWidth = gridWidth
        let quarter = headDim / 4, half = headDim / 2
        // Float32 throughout, as transformers: inv_freq = 1 / theta ** (arange(0, half, 2) / half).
        let frequencies = (0..<quarter).map { j in 1 / Foundation.pow(theta, Float(2 * j) / Float(half)) }
        var c = [Float](repeating: 0, count: gridHeight * gridWidth * half), s = c
        for y in 0..<gridHeight {
            for x in 0..<gridWidth {
                let base = (y * gridWidth + x) * half
                let px = Float(x) * scale, py = Float(y) * scale
                for j in 0..<quarter {
                    let ax = px * frequencies[j], ay = py * frequencies[j]
                    c[base + j] = Foundation.cos(ax); s[base + j] = Foundation.sin(ax)
                    c[base + quarter + j] = Foundation.cos(ay); s[base + quarter + j] = Foundation.sin(ay)
                }
            }
        }
        cos = c
        sin = s
    }

    /// Rotates, in place, `heads` heads of `headDim` values in each of `tokens` rows of `x`
    /// (row stride `stride`; head h at columns h*headDim ..< (h+1)*headDim). Row r gets the
    /// angles of grid token r.
    public func apply(_ x: UnsafeMutablePointer<Float>, stride: Int, heads: Int) {
        apply(x, stride: stride, heads: heads, rows: 0..<tokens)
    }

    /// As `apply(_:stride:heads:)` for grid tokens `rows` only (row r of `x` is token r).
    public func apply(_ x: UnsafeMutablePointer<Float>, stride: Int, heads: Int, rows: Range<Int>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= tokens, "RoPE rows \(rows) of \(tokens) tokens")
        let half = headDim / 2
        cos.withUnsafeBufferPointer { pc in
            sin.withUnsafeBufferPointer { ps in
                for t in rows {
                    let c = pc.baseAddress! + t * half, s = ps.baseAddress! + t * half
                    for h in 0..<heads {
                        let v = x + t * stride + h * headDim
                        for i in 0..<half {
                            let a = v[2 * i], b = v[2 * i + 1]
                            v[2 * i] = a * c[i] - b * s[i]
                            v[2 * i + 1] = b * c[i] + a * s[i]
                        }
                    }
                }
            }
        }
    }

    /// The rotation of a [tokens, heads * headDim] tensor.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[0] == tokens && x.shape[1] % headDim == 0,
                     "axial RoPE expects [\(tokens), heads * \(headDim)], got \(x.shape)")
        var out = x
        out.storage.withUnsafeMutableBufferPointer { apply($0.baseAddress!, stride: x.shape[1], heads: x.shape[1] / headDim) }
        return out
    }
}
