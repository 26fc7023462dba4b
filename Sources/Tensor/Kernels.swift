// Elementwise and row kernels (SIMD, no allocation): exp, erf, activations, layer norm, softmax.

/// Vector width of the kernels below.
typealias Vec = SIMD8<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Lane-wise max and min as compare + blend. (The standard library's `pointwiseMax`/`pointwiseMin`
/// and `clamped` on SIMD8<Float> are not inlined and run lane by lane with NaN checks.)
@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: a .< b) }
@inline(__always) func vmin(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .< a) }

/// exp(x), Cephes `expf` polynomial after Cody-Waite reduction; within 2 ulp for |x| < 87.
@inline(__always) func vexp(_ x: Vec) -> Vec {
    let x = vmin(vmax(x, Vec(repeating: -87.3)), Vec(repeating: 88.3))
    let magic = Vec(repeating: 12582912) // 1.5 * 2^23: adding it rounds to an integer
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    var r = x - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    var p = Vec(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1
    let bits = unsafeBitCast(t, to: SIMD8<UInt32>.self) &- unsafeBitCast(magic, to: SIMD8<UInt32>.self)
    let exponent = (bits &+ 127) &<< 23 // 2^n as a float bit pattern
    return p * unsafeBitCast(exponent, to: Vec.self)
}

/// erf(x), Abramowitz-Stegun 7.1.26 (absolute error below 1.5e-7).
@inline(__always) func verf(_ x: Vec) -> Vec {
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / (1 + 0.327_591_1 * ax)
    var p = Vec(repeating: 1.061_405_429)
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    let y = 1 - p * t * vexp(-ax * ax)
    return y.replacing(with: -y, where: x .< 0)
}

/// Activation functions of `hidden_act`.
public enum Activation: String, Sendable, Codable {
    /// x * sigmoid(1.702 x), OpenAI CLIP.
    case quickGELU = "quick_gelu"
    /// 0.5 x (1 + erf(x / sqrt 2)), the exact GELU.
    case gelu = "gelu"

    @inline(__always) func apply(_ x: Vec) -> Vec {
        switch self {
        case .quickGELU: return x / (1 + vexp(x * -1.702))
        case .gelu: return 0.5 * x * (1 + verf(x * 0.707_106_781_186_547_5))
        }
    }

    @inline(__always) func apply(_ x: Float) -> Float {
        var v = Vec(repeating: 0)
        v[0] = x
        return apply(v)[0]
    }
}

public enum Kernels {
    /// x[r, c] = act(x[r, c] + bias[c]) in place over `rows` rows of `cols` values, row stride `stride`.
    public static func biasActivation(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                                      bias: UnsafePointer<Float>?, activation: Activation) {
        switch activation { // specialise the inner loop per activation
        case .quickGELU: biasActivationLoop(x, rows, cols, stride, bias, .quickGELU)
        case .gelu: biasActivationLoop(x, rows, cols, stride, bias, .gelu)
        }
    }

    @inline(__always)
    private static func biasActivationLoop(_ x: UnsafeMutablePointer<Float>, _ rows: Int, _ cols: Int, _ stride: Int,
                                           _ bias: UnsafePointer<Float>?, _ act: Activation) {
        let vecEnd = cols - cols % Vec.scalarCount
        for r in 0..<rows {
            let row = x + r * stride
            var c = 0
            while c < vecEnd {
                var v = load(row + c)
                if let bias { v += load(bias + c) }
                store(act.apply(v), row + c)
                c += Vec.scalarCount
            }
            while c < cols {
                row[c] = act.apply(row[c] + (bias?[c] ?? 0))
                c += 1
            }
        }
    }

    /// out[r, c] = bias[c] for `rows` rows (stride `stride`), or adds bias when `accumulate`.
    public static func addRows(_ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                               vector: UnsafePointer<Float>, accumulate: Bool) {
        for r in 0..<rows {
            let row = out + r * stride
            if accumulate {
                for c in 0..<cols { row[c] += vector[c] }
            } else {
                row.update(from: vector, count: cols)
            }
        }
    }

    /// Layer normalisation of `rows` rows of `dim` values (biased variance, as PyTorch).
    /// `input` may equal `output`.
    public static func layerNorm(input: UnsafePointer<Float>, inputStride: Int,
                                 output: UnsafeMutablePointer<Float>, outputStride: Int,
                                 rows: Int, dim: Int,
                                 weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float) {
        let vecEnd = dim - dim % Vec.scalarCount
        for r in 0..<rows {
            let x = input + r * inputStride
            let y = output + r * outputStride
            var acc = Vec(repeating: 0)
            var c = 0
            while c < vecEnd { acc += load(x + c); c += Vec.scalarCount }
            var sum = acc.sum()
            while c < dim { sum += x[c]; c += 1 }
            let mean = sum / Float(dim)
            let meanV = Vec(repeating: mean)
            acc = Vec(repeating: 0)
            c = 0
            while c < vecEnd { let d = load(x + c) - meanV; acc += d * d; c += Vec.scalarCount }
            var sq = acc.sum()
            while c < dim { let d = x[c] - mean; sq += d * d; c += 1 }
            let inv = 1 / (sq / Float(dim) + eps).squareRoot()
            let invV = Vec(repeating: inv)
            c = 0
            while c < vecEnd {
                store((load(x + c) - meanV) * invV * load(weight + c) + load(bias + c), y + c)
                c += Vec.scalarCount
            }
            while c < dim { y[c] = (x[c] - mean) * inv * weight[c] + bias[c]; c += 1 }
        }
    }

    /// Softmax over the first `valid` values of a row scaled by `scale`; values past `valid`
    /// (up to `cols`) are set to 0 (a causal mask).
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, cols: Int, valid: Int, scale: Float = 1) {
        let sum = exponentiateRow(x, cols: cols, valid: valid, scale: scale)
        scaleRow(x, count: min(valid, cols), by: 1 / sum)
    }

    /// The numerator of a softmax: x[c] = exp(scale * (x[c] - max)) over the first `valid`
    /// values, 0 past them (up to `cols`); returns the sum, the denominator.
    @discardableResult
    public static func exponentiateRow(_ x: UnsafeMutablePointer<Float>, cols: Int, valid: Int, scale: Float = 1) -> Float {
        let n = min(valid, cols)
        let vecEnd = n - n % Vec.scalarCount
        var maxV = Vec(repeating: -.greatestFiniteMagnitude)
        var c = 0
        while c < vecEnd { maxV = vmax(maxV, load(x + c)); c += Vec.scalarCount }
        var m = maxV.max()
        while c < n { m = max(m, x[c]); c += 1 }
        let mS = Vec(repeating: m * scale)
        let sV = Vec(repeating: scale)
        var acc = Vec(repeating: 0)
        c = 0
        while c < vecEnd {
            let e = vexp(load(x + c) * sV - mS)
            store(e, x + c)
            acc += e
            c += Vec.scalarCount
        }
        var sum = acc.sum()
        while c < n {
            var v = Vec(repeating: 0)
            v[0] = x[c] * scale - m * scale
            let e = vexp(v)[0]
            x[c] = e
            sum += e
            c += 1
        }
        if n < cols { (x + n).update(repeating: 0, count: cols - n) }
        return sum
    }

    /// x[0..<count] *= factor.
    public static func scaleRow(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        let vecEnd = count - count % Vec.scalarCount
        let f = Vec(repeating: factor)
        var c = 0
        while c < vecEnd { store(load(x + c) * f, x + c); c += Vec.scalarCount }
        while c < count { x[c] *= factor; c += 1 }
    }
}
