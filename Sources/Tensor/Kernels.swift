// Elementwise and row kernels (SIMD, no allocation): layer norm, softmax, bias rows; exponentials
// and activations come from CKernels (AVX2 + FMA where the CPU has them).
internal import CKernels
import Foundation

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
    /// max(0, x).
    case relu = "relu"

    var code: Int32 {
        switch self {
        case .quickGELU: Int32(CK_QUICK_GELU)
        case .gelu: Int32(CK_GELU)
        case .relu: Int32(CK_RELU)
        }
    }
}

/// The instruction sets the C kernels (exponentials, activations, attention products) are compiled for.
public enum KernelSet: String, Sendable, CaseIterable, CustomStringConvertible {
    case avx512, avx2, baseline

    var code: Int32 {
        switch self {
        case .avx512: Int32(CK_SET_AVX512)
        case .avx2: Int32(CK_SET_AVX2)
        case .baseline: Int32(CK_SET_BASELINE)
        }
    }

    /// Whether this build and CPU run these kernels.
    public var isSupported: Bool { ck_kernel_set_supported(code) != 0 }

    /// The sets this CPU runs, widest first.
    public static var supported: [KernelSet] { allCases.filter(\.isSupported) }

    /// The widest set this CPU runs.
    public static var best: KernelSet { supported.first ?? .baseline }

    /// The name `bench encoder` reports: "avx512", "avx2+fma" or "baseline".
    public var description: String {
        switch self {
        case .avx512: "avx512"
        case .avx2: "avx2+fma"
        case .baseline: "baseline"
        }
    }

    /// The C functions of this set; a set this CPU does not run is a programming error.
    var table: ck_kernel_table {
        guard let t = ck_kernel_set(code) else { preconditionFailure("kernel set \(rawValue) is not supported here") }
        return t.pointee
    }

    /// The set `LANDSCRIBE_KERNELS` asks for: nil when unset or empty (the widest supported set),
    /// `.failure` with a one-line message for any other value than avx512, avx2 or baseline.
    public static func parse(_ value: String?) -> Result<KernelSet?, SelectionError> {
        guard let value, !value.isEmpty else { return .success(nil) }
        if let set = KernelSet(rawValue: value.lowercased()) { return .success(set) }
        return .failure(SelectionError(message: "LANDSCRIBE_KERNELS='\(value)' is not one of avx512, avx2, baseline"))
    }

    /// The set to use for a value of `LANDSCRIBE_KERNELS`: the pinned one when this CPU runs it,
    /// else the widest supported, with the warning to print when the value is not honoured.
    public static func choose(_ value: String?) -> (set: KernelSet, warning: String?) {
        switch parse(value) {
        case .success(nil): return (best, nil)
        case .success(let set?):
            if set.isSupported { return (set, nil) }
            return (best, "LANDSCRIBE_KERNELS=\(set.rawValue) is not supported by this CPU; using \(best.rawValue)")
        case .failure(let error): return (best, error.message + "; using \(best.rawValue)")
        }
    }
}

extension KernelSet {
    // Each set's kernels called directly, whatever `Kernels.selection` is: for tests comparing the
    // sets and for benchmarks. The set must be supported (`isSupported`).

    /// `x[i] = exp(scale * (x[i] - max x))` for i < count; returns their sum.
    public func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) -> Float {
        table.exponentiate!(x, count, scale)
    }

    /// `x[r, c] = act(x[r, c] + bias[c])`, as `Kernels.biasActivation`.
    public func biasActivation(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                               bias: UnsafePointer<Float>?, activation: Activation) {
        table.bias_activation!(x, rows, cols, stride, bias, activation.code)
    }

    /// As `Attention.scores`, with q and k rows of stride `inputStride`.
    public func attentionScores(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, inputStride: Int,
                                rows: Int, keys: Int, headDim: Int, scale: Float,
                                out: UnsafeMutablePointer<Float>, outputStride: Int, pack: UnsafeMutablePointer<Float>) {
        table.attention_scores!(q, inputStride, k, inputStride, rows, keys, headDim, scale, out, outputStride, pack)
    }

    /// As `Attention.values`.
    public func attentionValues(_ w: UnsafePointer<Float>, weightStride: Int, _ v: UnsafePointer<Float>, inputStride: Int,
                                rows: Int, keys: Int, headDim: Int, rowFactors: UnsafePointer<Float>?,
                                out: UnsafeMutablePointer<Float>, outputStride: Int, pack: UnsafeMutablePointer<Float>) {
        table.attention_values!(w, weightStride, v, inputStride, rows, keys, headDim, rowFactors, out, outputStride, pack)
    }
}

/// A run-time choice the environment asked for that cannot be honoured.
public struct SelectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public enum Kernels {
    /// The kernel set in use, chosen once from `LANDSCRIBE_KERNELS` (else the widest this CPU
    /// runs). A value that cannot be honoured prints one warning line on standard error and the
    /// widest supported set is used.
    public static let selection: KernelSet = {
        let (set, warning) = KernelSet.choose(ProcessInfo.processInfo.environment["LANDSCRIBE_KERNELS"])
        if let warning { FileHandle.standardError.write(Data("landscribe: warning: \(warning)\n".utf8)) }
        _ = ck_select_kernel_set(set.code)
        return set
    }()

    /// The C functions of `selection`, called by every kernel entry point below and in `Attention`.
    nonisolated(unsafe) static let active: ck_kernel_table = selection.table // read-only after start-up

    /// The instruction set of the exponential, activation and attention kernels in use:
    /// "avx512", "avx2+fma" or "baseline" (chosen at run time; benchmarks report it).
    public static var instructionSet: String { selection.description }

    /// x[r, c] = act(x[r, c] + bias[c]) in place over `rows` rows of `cols` values, row stride `stride`.
    public static func biasActivation(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                                      bias: UnsafePointer<Float>?, activation: Activation) {
        active.bias_activation!(x, rows, cols, stride, bias, activation.code)
    }

    /// `biasActivation` with the rows shared among `workers` (`Parallel.forEachChunk`; the same values).
    public static func biasActivation(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int,
                                      bias: UnsafePointer<Float>?, activation: Activation, workers: Int) {
        Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
            biasActivation(x + chunk.lowerBound * stride, rows: chunk.count, cols: cols, stride: stride, bias: bias, activation: activation)
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

    /// `out[i] += x[i]` for i < count (residual connections).
    public static func add(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] += x[i] }
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
        let sum = active.exponentiate!(x, n, scale)
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
