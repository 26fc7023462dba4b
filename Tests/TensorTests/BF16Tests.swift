// `--precision bf16`: the bf16 products (oneDNN matmul, bf16 inputs, f32 accumulation) against a
// Double reference on the bf16-rounded inputs, and against the f32 product within bf16's rounding.
import Foundation
import Testing
@testable import Tensor

/// Whether bf16 products run here; the reason they do not, shown when the tests are skipped.
let bf16Runs = MatrixPrecision.bf16.unavailableReason() == nil
let bf16Skip: Comment = "bf16 products do not run here: \(MatrixPrecision.bf16.unavailableReason() ?? "")"

/// `x` rounded to bfloat16 (nearest, ties to even; subnormals to zero), as a Float.
func bf16Rounded(_ x: Float) -> Float {
    if x.isNaN || x.isInfinite { return x }
    if x.exponentBitPattern == 0 { return x.sign == .minus ? -0.0 : 0 }
    var bits = x.bitPattern
    bits = bits &+ 0x7fff &+ ((bits >> 16) & 1)
    return Float(bitPattern: bits & 0xffff_0000)
}

@Suite("bf16 matrix products")
struct BF16Tests {
    struct Case: CustomStringConvertible, Sendable {
        let m, n, k, padA, padC: Int
        let accumulate: Bool
        var description: String { "\(m)x\(n)x\(k) pad \(padA),\(padC) accumulate \(accumulate)" }
    }

    static let cases: [Case] = [
        Case(m: 1, n: 1, k: 1, padA: 0, padC: 0, accumulate: false),
        Case(m: 7, n: 13, k: 5, padA: 3, padC: 2, accumulate: true),
        Case(m: 37, n: 29, k: 131, padA: 0, padC: 1, accumulate: false),
        Case(m: 257, n: 96, k: 64, padA: 128, padC: 192, accumulate: true), // a 1025-token chunk, q of a fused q|k|v buffer
        Case(m: 205, n: 97, k: 769, padA: 5, padC: 0, accumulate: false),
    ]

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
    }

    @Test("C (+)= A W^T: f32 sums of the bf16-rounded inputs; padding untouched; within bf16 rounding of the f32 product",
          .enabled(if: bf16Runs, bf16Skip), arguments: cases)
    func product(_ g: Case) throws {
        Self.checkPacked(g, precision: .bf16)
    }

    /// `BLAS.gemmPacked` at `precision` against Double sums: of the inputs as the product sees
    /// them (bf16-rounded, or as they are at f32) within 4 units of f32 accumulation, and of the
    /// f32 inputs within bf16's rounding (at f32, the same bound again); padding columns untouched.
    static func checkPacked(_ g: Case, precision: MatrixPrecision) {
        let lda = g.k + g.padA, ldc = g.n + g.padC
        let a = values(g.m * lda, seed: 1), w = values(g.n * g.k, seed: 2), c0 = values(g.m * ldc, seed: 3)
        let weights = PackedWeights(Tensor(shape: [g.n, g.k], storage: w), precision: precision)
        func round(_ x: Float) -> Float { precision == .bf16 ? bf16Rounded(x) : x }
        var c = c0
        a.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
                ThreadCountPin.pinned(1) {
                    BLAS.gemmPacked(m: g.m, n: g.n, k: g.k, a: pa.baseAddress!, lda: lda, weights: weights,
                                    accumulate: g.accumulate, c: pc.baseAddress!, ldc: ldc)
                }
            }
        }
        var worstRounded = 0.0, worstExact = 0.0
        let inputRounding: Double = precision == .bf16 ? 0x1p-7 : 0
        for i in 0..<g.m {
            for j in 0..<ldc {
                let got = Double(c[i * ldc + j])
                guard j < g.n else { #expect(c[i * ldc + j] == c0[i * ldc + j], "padding column \(j) of row \(i) changed"); continue }
                var rounded = g.accumulate ? Double(c0[i * ldc + j]) : 0, exact = rounded, size = abs(rounded)
                for p in 0..<g.k {
                    let x = a[i * lda + p], y = w[j * g.k + p]
                    rounded += Double(round(x)) * Double(round(y))
                    exact += Double(x) * Double(y)
                    size += abs(Double(x) * Double(y))
                }
                // f32 accumulation of the products the kernel forms exactly: f32 rounding only.
                worstRounded = max(worstRounded, abs(got - rounded) / (size * Double(Float.ulpOfOne) * 4))
                // against the f32 inputs: each bf16 input within 2^-8 relative (its unit roundoff), so each term within 2^-7.
                worstExact = max(worstExact, abs(got - exact) / (size * inputRounding + size * Double(Float.ulpOfOne) * 4))
            }
        }
        #expect(worstRounded <= 1, "\(g) \(precision): error \(worstRounded) units of f32 accumulation on the product's inputs")
        #expect(worstExact <= 1, "\(g) \(precision): error \(worstExact) units of input rounding against the f32 product")
    }

    @Test("a weight is prepared once however many row counts use it; the same inputs give the same bytes",
          .enabled(if: bf16Runs, bf16Skip))
    func preparedOnce() throws {
        #expect(Self.checkPackedOnce(precision: .bf16).implementation.contains("bf16"))
    }

    /// `a W^T` on one thread for `rows` contiguous rows of `a` (`BLAS.gemmPacked`, no bias).
    static func product(_ a: [Float], rows m: Int, _ weights: PackedWeights) -> [Float] {
        var c = [Float](repeating: 0, count: m * weights.n)
        a.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
                ThreadCountPin.pinned(1) {
                    BLAS.gemmPacked(m: m, n: weights.n, k: weights.k, a: pa.baseAddress!, lda: weights.k, weights: weights,
                                    accumulate: false, c: pc.baseAddress!, ldc: weights.n)
                }
            }
        }
        return c
    }

    /// Products of 256, 257, 3 and again 256 rows through one packed weight at `precision`:
    /// the two 256-row products the same bytes, one layout packed. Returns the 256-row primitive.
    static func checkPackedOnce(precision: MatrixPrecision) -> PackedMatmul {
        let (n, k) = (96, 64)
        let weights = PackedWeights(Tensor(shape: [n, k], storage: values(n * k, seed: 4)), precision: precision)
        func run(_ m: Int) -> [Float] { product(values(m * k, seed: 5), rows: m, weights) }
        let first = run(256)
        _ = run(257); _ = run(3)
        #expect(run(256) == first, "\(precision): the same inputs gave other bytes")
        #expect(weights.layouts == 1, "\(precision): \(weights.layouts) layouts prepared")
        return PackedMatmul.cached(.init(m: 256, n: n, k: k, lda: k, ldc: n, accumulate: false, bias: false, activation: nil,
                                         precision: precision, threads: 1))
    }

    @Test("Linear with precision bf16 rounds its inputs: within bf16 rounding of the f32 layer, not equal to it",
          .enabled(if: bf16Runs, bf16Skip))
    func linear() throws {
        let (n, k, m) = (48, 40, 9)
        let w = Tensor(shape: [n, k], storage: Self.values(n * k, seed: 6)), b = Tensor(shape: [n], storage: Self.values(n, seed: 7))
        let x = Tensor(shape: [m, k], storage: Self.values(m * k, seed: 8))
        let f32 = Linear(weight: w, bias: b), bf16 = Linear(weight: w, bias: b, precision: .bf16)
        #expect(f32.precision == .f32 && bf16.precision == .bf16)
        let plain = ThreadCountPin.pinned(1) { f32(x) }, rounded = ThreadCountPin.pinned(1) { bf16(x) }
        var sumsDiffer = false
        for i in 0..<m {
            for j in 0..<n {
                let d = abs(rounded.storage[i * n + j] - plain.storage[i * n + j])
                #expect(d < 0x1p-7 * Float(k), "bf16 \(rounded.storage[i * n + j]) vs f32 \(plain.storage[i * n + j])")
                if d > 0 { sumsDiffer = true }
            }
        }
        #expect(sumsDiffer, "the bf16 layer gave the f32 result: its inputs were not rounded")
    }

    @Test("bf16 runs only with oneDNN on a CPU with AVX512_BF16 or AMX-BF16; f32 runs anywhere")
    func availability() {
        #expect(MatrixPrecision.f32.unavailableReason(backend: .openblas, cpuHasBF16: false) == nil)
        #expect(MatrixPrecision.bf16.unavailableReason(backend: .onednn, cpuHasBF16: true) == nil)
        #expect(MatrixPrecision.bf16.unavailableReason(backend: .openblas, cpuHasBF16: true)?.contains("onednn backend only") == true)
        #expect(MatrixPrecision.bf16.unavailableReason(backend: .onednn, cpuHasBF16: false)?.contains("AVX512_BF16 or AMX-BF16") == true)
        #expect(MatrixPrecision(rawValue: "bf16") == .bf16 && MatrixPrecision(rawValue: "f16") == nil)
        #expect(MatrixPrecision.f32.cacheSuffix == "" && MatrixPrecision.bf16.cacheSuffix == "+bf16")
    }
}
