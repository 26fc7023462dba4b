// Elementwise and row kernels (SIMD, no allocation): layer norm, softmax, bias rows; exponentials
// and activations come from CKernels (AVX2 + FMA where the CPU has them).
internal import CKernels

/// Vector width of the kernels below.
typealias Vec = SIMD8<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Activation functions of `hidden_act` (computed by CKernels).
public enum Activation: String, Sendable, Codable {
    /// x * sigmoid(1.702 x), OpenAI CLIP.
    case quickGELU = "quick_gelu"
    /// 0.5 x (1 + erf(x / sqrt 2)), the exact GELU (erf within 1.5e-7).
    case gelu = "gelu"

    var code: Int32 {
        switch self {
        case .quickGELU: Int32(CK_QUICK_GELU)
        case .gelu: Int32(CK_GELU)
        }
    }
}

public enum Kernels {
    /// The instruction set of the exponential and activation kernels on this CPU: "avx2+fma" or
    /// "baseline" (chosen at run time; benchmarks report it).
    public static var instructionSet: String { String(cString: ck_instruction_set()) }

    /// x[r, c] = act(x[r, c] + bias[c]) in place over `rows` rows of `cols` values, row stride `stride`.
    public static func biasActivation(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                                      bias: UnsafePointer<Float>?, activation: Activation) {
        ck_bias_activation(x, rows, cols, stride, bias, activation.code)
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
        let sum = ck_exponentiate(x, n, scale)
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
