// Kernels against straightforward Double references.
import Foundation
import Testing
import Tensor

/// Deterministic values in [-scale, scale].
func noise(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

func maxDiff(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

@Suite("Tensor kernels")
struct KernelTests {
    @Test("matmul with transposes equals the naive product", arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmul(_ t: (Bool, Bool)) {
        let (m, k, n) = (5, 7, 3)
        let a = Tensor(shape: t.0 ? [k, m] : [m, k], storage: noise(m * k, seed: 1))
        let b = Tensor(shape: t.1 ? [n, k] : [k, n], storage: noise(k * n, seed: 2))
        let c = BLAS.matmul(a, b, transposeA: t.0, transposeB: t.1, alpha: 0.5)
        var expected = [Double]()
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(t.0 ? a[p, i] : a[i, p]) * Double(t.1 ? b[j, p] : b[p, j]) }
            expected.append(0.5 * s)
        } }
        #expect(c.shape == [m, n])
        #expect(maxDiff(c.storage, expected) < 1e-5)
    }

    @Test("Linear keeps the [out, in] layout; accumulate adds to the output")
    func linear() {
        let w = Tensor(shape: [3, 4], storage: noise(12, seed: 3))
        let b = Tensor(shape: [3], storage: [0.5, -1, 2])
        let x = Tensor(shape: [2, 4], storage: noise(8, seed: 4))
        let lin = Linear(weight: w, bias: b)
        let y = lin(x)
        var expected = [Double]()
        for r in 0..<2 { for o in 0..<3 {
            expected.append((0..<4).reduce(Double(b[o])) { $0 + Double(x[r, $1]) * Double(w[o, $1]) })
        } }
        #expect(maxDiff(y.storage, expected) < 1e-6)
        var acc = [Float](repeating: 1, count: 6)
        x.storage.withUnsafeBufferPointer { px in
            acc.withUnsafeMutableBufferPointer { po in
                lin.apply(input: px.baseAddress!, inputStride: 4, rows: 2, output: po.baseAddress!, outputStride: 3, accumulate: true)
            }
        }
        #expect(maxDiff(acc, expected.map { $0 + 1 }) < 1e-6)
    }

    @Test("activations: quick_gelu and exact gelu", arguments: [Activation.quickGELU, .gelu])
    func activations(_ act: Activation) {
        let xs = noise(1003, seed: 5, scale: 12) + [0, -0.0, 1e-6, -90, 90]
        var y = xs
        y.withUnsafeMutableBufferPointer { p in
            Kernels.biasActivation(p.baseAddress!, rows: 1, cols: xs.count, stride: xs.count, bias: nil, activation: act)
        }
        let expected = xs.map { v -> Double in
            let x = Double(v)
            return act == .gelu ? 0.5 * x * (1 + erf(x / 2.0.squareRoot())) : x / (1 + exp(-1.702 * x))
        }
        for (a, e) in zip(y, expected) { #expect(abs(Double(a) - e) <= 1e-6 * max(1, abs(e)), "\(a) vs \(e)") }
    }

    @Test("bias and activation on strided rows with a partial vector; the gap between rows is untouched",
          arguments: [Activation.quickGELU, .gelu])
    func stridedBiasActivation(_ act: Activation) {
        let (rows, cols, stride) = (3, 13, 16)
        let x = noise(rows * stride, seed: 21, scale: 4), bias = noise(cols, seed: 22)
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            bias.withUnsafeBufferPointer { b in
                Kernels.biasActivation(p.baseAddress!, rows: rows, cols: cols, stride: stride, bias: b.baseAddress!, activation: act)
            }
        }
        for r in 0..<rows {
            for c in 0..<stride {
                let i = r * stride + c
                guard c < cols else { #expect(y[i] == x[i]); continue }
                let v = Double(x[i] + bias[c])
                let e = act == .gelu ? 0.5 * v * (1 + erf(v / 2.0.squareRoot())) : v / (1 + exp(-1.702 * v))
                #expect(abs(Double(y[i]) - e) <= 1e-6 * max(1, abs(e)), "row \(r) col \(c): \(y[i]) vs \(e)")
            }
        }
    }

    @Test("the kernels name the instruction set they run with")
    func instructionSet() {
        #expect(["avx512", "avx2+fma", "baseline"].contains(Kernels.instructionSet))
    }

    @Test("softmax, with and without a causal cut-off")
    func softmax() {
        let cols = 37
        for valid in [cols, 1, 20] {
            var row = noise(cols, seed: UInt64(valid), scale: 30)
            let original = row
            row.withUnsafeMutableBufferPointer { Kernels.softmaxRow($0.baseAddress!, cols: cols, valid: valid) }
            let m = original[..<valid].max()!
            let e = original[..<valid].map { exp(Double($0 - m)) }
            let s = e.reduce(0, +)
            let expected = e.map { $0 / s } + [Double](repeating: 0, count: cols - valid)
            #expect(maxDiff(row, expected) < 1e-6)
        }
    }

    @Test("adding, add and the layer norm shared among workers give the same values as +, and the layer norm in one pass",
          arguments: [1, 2, 3])
    func sharedElementwise(_ workers: Int) {
        let (rows, dim) = (1000, 37) // several row chunks, the last one short
        let x = Tensor(shape: [rows, dim], storage: noise(rows * dim, seed: 21, scale: 4))
        let y = Tensor(shape: [rows, dim], storage: noise(rows * dim, seed: 22, scale: 4))
        #expect(x.adding(y, workers: workers) == x + y)
        var z = x
        z.add(y, workers: workers)
        #expect(z == x + y)
        let ln = LayerNorm(weight: Tensor(shape: [dim], storage: noise(dim, seed: 23)),
                           bias: Tensor(shape: [dim], storage: noise(dim, seed: 24)), eps: 1e-5)
        #expect(ln(x, workers: workers) == ln(x))
        let empty = Tensor(shape: [0, dim])
        #expect(empty.adding(empty, workers: workers).shape == [0, dim] && ln(empty, workers: workers).shape == [0, dim])
    }

    @Test("a linear layer shared among workers gives the values of one pass, with and without bias and activation",
          arguments: [1, 2, 3])
    func sharedLinear(_ workers: Int) {
        let (rows, inner, outer) = (700, 19, 33) // several row chunks, the last one short
        let x = Tensor(shape: [rows, inner], storage: noise(rows * inner, seed: 31, scale: 2))
        let weight = Tensor(shape: [outer, inner], storage: noise(outer * inner, seed: 32))
        let biased = Linear(weight: weight, bias: Tensor(shape: [outer], storage: noise(outer, seed: 33)))
        let plain = Linear(weight: weight, bias: nil) // its output is left to the product (beta 0)
        // Every product on the same thread count (ThreadCountPin: other tests change it meanwhile).
        ThreadCountPin.pinned {
            for layer in [biased, plain] {
                #expect(layer(x, workers: workers) == layer(x))
                #expect(layer(x, activation: .relu, workers: workers) == layer(x, activation: .relu))
            }
            // No bias: the product alone, every value written although the output starts uninitialized.
            #expect(plain(x, workers: workers) == BLAS.matmul(x, weight, transposeB: true))
            #expect(plain(Tensor(shape: [0, inner]), workers: workers).shape == [0, outer])
        }
    }

    @Test("swapping the last two axes moves every value, in tiles among workers", arguments: [1, 2, 3])
    func swappingLastAxes(_ workers: Int) {
        let (m, r, c) = (2, 45, 70) // tiles of 32 with short ones at both edges
        let x = Tensor(shape: [m, r, c], storage: noise(m * r * c, seed: 41))
        let y = x.swappingLastAxes(workers: workers)
        #expect(y.shape == [m, c, r])
        var moved = true
        for k in 0..<m { for i in 0..<r { for j in 0..<c where y[k, j, i] != x[k, i, j] { moved = false } } }
        #expect(moved)
        #expect(y.swappingLastAxes(workers: workers) == x)
        #expect(Tensor(shape: [3, 0, 5]).swappingLastAxes(workers: workers).shape == [3, 5, 0])
    }

    @Test("layer norm")
    func layerNorm() {
        let (rows, dim) = (3, 29)
        let x = Tensor(shape: [rows, dim], storage: noise(rows * dim, seed: 9, scale: 5).map { $0 + 3 })
        let ln = LayerNorm(weight: Tensor(shape: [dim], storage: noise(dim, seed: 10)),
                           bias: Tensor(shape: [dim], storage: noise(dim, seed: 11)), eps: 1e-5)
        let y = ln(x)
        var expected = [Double]()
        for r in 0..<rows {
            let v = (0..<dim).map { Double(x[r, $0]) }
            let mean = v.reduce(0, +) / Double(dim)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            for c in 0..<dim { expected.append((v[c] - mean) / (variance + 1e-5).squareRoot() * Double(ln.weight[c]) + Double(ln.bias[c])) }
        }
        #expect(maxDiff(y.storage, expected) < 1e-5)
    }

    @Test("attention on strided q|k|v columns, keys and values packed once per head, causal and not; every head at once (multiHead)",
          arguments: [(false, false), (true, false), (false, true), (true, true)])
    func attention(_ causal: Bool, _ multiHead: Bool) {
        let (t, d, heads) = (Attention.blockRows + 6, 12, 3) // two query blocks, the second short
        let hd = d / heads
        let qkv = noise(t * 3 * d, seed: 12, scale: 2)
        var out = [Float](repeating: .nan, count: t * d)
        var scratch = [Float](repeating: 0, count: 2 * Attention.scratchCount(tokens: t))
        let each = Attention.packedCount(tokens: t, headDim: hd)
        var packed = [Float](repeating: .nan, count: heads * each)
        let scale = 1 / Float(hd).squareRoot()
        qkv.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                scratch.withUnsafeMutableBufferPointer { s in
                    packed.withUnsafeMutableBufferPointer { k in
                        if multiHead { // (head, block of 129 rows) tasks on 2 workers
                            Attention.multiHead(q: p.baseAddress!, kv: p.baseAddress!, queries: t, tokens: t, heads: heads, headDim: hd,
                                                scale: scale, causal: causal, packed: k.baseAddress!,
                                                scratch: [s.baseAddress!, s.baseAddress! + Attention.scratchCount(tokens: t)],
                                                out: o.baseAddress!, workers: 2)
                            return
                        }
                        Attention.packHeads(p.baseAddress!, sequences: 1, tokens: t, heads: heads, headDim: hd,
                                            into: k.baseAddress!, workers: 2)
                        for h in 0..<heads {
                            let base = p.baseAddress! + h * hd
                            Attention.head(q: base, packed: k.baseAddress! + h * each, inputStride: 3 * d, tokens: t, headDim: hd,
                                           scale: scale, rows: 0..<t, causal: causal, out: o.baseAddress! + h * hd,
                                           outputStride: d, scratch: s.baseAddress!)
                        }
                    }
                }
            }
        }
        var expected = [Double](repeating: 0, count: t * d)
        for h in 0..<heads {
            for i in 0..<t {
                let keys = causal ? i + 1 : t
                let scores = (0..<keys).map { j in
                    (0..<hd).reduce(0.0) { $0 + Double(qkv[i * 3 * d + h * hd + $1]) * Double(qkv[j * 3 * d + d + h * hd + $1]) } * Double(scale)
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let s = e.reduce(0, +)
                for c in 0..<hd {
                    expected[i * d + h * hd + c] = (0..<keys).reduce(0.0) { $0 + e[$1] / s * Double(qkv[$1 * 3 * d + 2 * d + h * hd + c]) }
                }
            }
        }
        #expect(maxDiff(out, expected) < 1e-5)
    }

    @Test("bicubic resize to the same size is the identity; constant stays constant")
    func bicubic() {
        let x = Tensor(shape: [2, 4, 5], storage: noise(40, seed: 13))
        #expect(maxDiff(x.resizedBicubic(height: 4, width: 5).storage, x.storage.map(Double.init)) < 1e-6)
        let c = Tensor(shape: [1, 3, 3], repeating: 2.5).resizedBicubic(height: 7, width: 2)
        #expect(c.shape == [1, 7, 2])
        #expect(maxDiff(c.storage, [Double](repeating: 2.5, count: 14)) < 1e-6)
    }
}
