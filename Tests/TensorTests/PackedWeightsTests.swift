// f32 products through a weight packed once for oneDNN's matmul (`Linear(packing:)`, the CLIP
// engine's layers on the onednn backend): the same sums as sgemm within f32 accumulation.
import Testing
@testable import Tensor

private let oneDNNRuns = MatrixBackend.available.contains(.onednn)
private let oneDNNSkip: Comment = "oneDNN cannot run here (its OpenMP thread count is unreachable)"

@Suite("Packed f32 products")
struct PackedWeightsTests {
    @Test("C (+)= A W^T with an f32 packed weight: f32 sums of the inputs, strided A and C, padding untouched",
          .enabled(if: oneDNNRuns, oneDNNSkip), arguments: BF16Tests.cases)
    func product(_ g: BF16Tests.Case) throws {
        BF16Tests.checkPacked(g, precision: .f32)
    }

    @Test("an f32 weight is packed once for every row count; the same inputs give the same bytes; oneDNN's own kernels run it",
          .enabled(if: oneDNNRuns, oneDNNSkip))
    func packedOnce() throws {
        let matmul = BF16Tests.checkPackedOnce(precision: .f32)
        #expect(!matmul.implementation.contains("ref"), "oneDNN runs the f32 matmul with its reference code: \(matmul.implementation)")
    }

    @Test("Linear(packing:) packs on the onednn backend only, and gives the unpacked layer's values within f32 accumulation")
    func linear() throws {
        let (n, k, m) = (48, 40, 9)
        let w = Tensor(shape: [n, k], storage: BF16Tests.values(n * k, seed: 6)), b = Tensor(shape: [n], storage: BF16Tests.values(n, seed: 7))
        let x = Tensor(shape: [m, k], storage: BF16Tests.values(m * k, seed: 8))
        let plain = Linear(weight: w, bias: b), packed = Linear(weight: w, bias: b, packing: true)
        #expect(plain.packed == nil)
        #expect((packed.packed != nil) == (MatrixBackend.current.kind == .onednn))
        #expect(packed.precision == .f32)
        let y0 = ThreadCountPin.pinned(1) { plain(x) }, y1 = ThreadCountPin.pinned(1) { packed(x) }
        // Onto a residual (accumulate), strided rows: what the encoders' out and fc2 projections do.
        let residual = BF16Tests.values(m * (n + 3), seed: 9)
        func accumulated(_ layer: Linear) -> [Float] {
            var out = residual
            x.storage.withUnsafeBufferPointer { px in
                out.withUnsafeMutableBufferPointer { po in
                    ThreadCountPin.pinned(1) {
                        layer.apply(input: px.baseAddress!, inputStride: k, rows: m, output: po.baseAddress!, outputStride: n + 3,
                                    accumulate: true)
                    }
                }
            }
            return out
        }
        let r0 = accumulated(plain), r1 = accumulated(packed)
        for i in 0..<m {
            for j in 0..<n {
                var size = abs(Double(b.storage[j]))
                for p in 0..<k { size += abs(Double(x.storage[i * k + p]) * Double(w.storage[j * k + p])) }
                let bound = size * Double(Float.ulpOfOne) * 8
                #expect(abs(Double(y1.storage[i * n + j]) - Double(y0.storage[i * n + j])) <= bound, "value \(i), \(j)")
                let onto = bound + abs(Double(residual[i * (n + 3) + j])) * Double(Float.ulpOfOne) * 2
                #expect(abs(Double(r1[i * (n + 3) + j]) - Double(r0[i * (n + 3) + j])) <= onto, "accumulated value \(i), \(j)")
            }
            for j in n..<n + 3 { #expect(r1[i * (n + 3) + j] == residual[i * (n + 3) + j], "padding \(j) of row \(i) changed") }
        }
        // Not vacuous: the residual and the bias are really in the sums.
        #expect(abs(Double(r1[0]) - Double(y1.storage[0]) - Double(residual[0])) < 1e-5)
    }

    @Test("Linear(packing:) applies GELU, quick GELU and ReLU in the product: the unpacked layer's values within the approximations",
          .enabled(if: oneDNNRuns, oneDNNSkip), arguments: [Activation.gelu, .quickGELU, .relu])
    func activation(_ activation: Activation) throws {
        let (n, k, m) = (40, 24, 11)
        let w = Tensor(shape: [n, k], storage: BF16Tests.values(n * k, seed: 10)), b = Tensor(shape: [n], storage: BF16Tests.values(n, seed: 11))
        let x = Tensor(shape: [m, k], storage: BF16Tests.values(m * k, seed: 12).map { $0 * 3 })
        let plain = Linear(weight: w, bias: b), packed = Linear(weight: w, bias: b, packing: true)
        let y0 = ThreadCountPin.pinned(1) { plain(x, activation: activation) }
        let y1 = ThreadCountPin.pinned(1) { packed(x, activation: activation) }
        let z = ThreadCountPin.pinned(1) { plain(x) }
        var negatives = 0
        for i in 0..<m * n {
            var size = abs(Double(b.storage[i % n]))
            for p in 0..<k { size += abs(Double(x.storage[i / n * k + p]) * Double(w.storage[i % n * k + p])) }
            // The pre-activation within f32 accumulation (slope at most 1.13), the activations within 2e-6 of their scale.
            let bound = size * Double(Float.ulpOfOne) * 10 + 2e-6 * max(1, abs(Double(y0.storage[i])))
            #expect(abs(Double(y1.storage[i]) - Double(y0.storage[i])) <= bound, "\(activation) value \(i): \(y1.storage[i]) vs \(y0.storage[i])")
            if z.storage[i] < -1 { negatives += 1 }
        }
        #expect(negatives > 10, "too few negative pre-activations to tell an activation from none")
    }

    @Test("the kept primitives stay bounded however many row counts pass, and products stay right past the bound",
          .enabled(if: oneDNNRuns, oneDNNSkip))
    func boundedPrimitives() throws {
        let (n, k) = (8, 4)
        let w = BF16Tests.values(n * k, seed: 13)
        let weights = PackedWeights(Tensor(shape: [n, k], storage: w), precision: .f32)
        for m in 1...(PackedMatmul.capacity + 8) {
            let a = BF16Tests.values(m * k, seed: UInt64(m))
            let c = BF16Tests.product(a, rows: m, weights)
            let row = m - 1, column = m % n  // one value of each product against its sum
            let sum = (0..<k).reduce(Float(0)) { $0 + a[row * k + $1] * w[column * k + $1] }
            #expect(abs(c[row * n + column] - sum) <= 1e-5, "\(m) rows: \(c[row * n + column]) vs \(sum)")
        }
        #expect(PackedMatmul.cachedCount <= PackedMatmul.capacity)
    }

    @Test("an empty inner size gives the bias (onto the output when accumulating), through the activation")
    func emptyInnerSize() throws {
        let (m, n) = (3, 4)
        let weights = PackedWeights(Tensor(shape: [n, 0], storage: []), precision: .f32)
        let bias: [Float] = [-2, -0.5, 0.5, 2], start = BF16Tests.values(m * (n + 1), seed: 14)
        let a: [Float] = [0]
        func run(accumulate: Bool, activation: Activation?) -> [Float] {
            var c = start
            a.withUnsafeBufferPointer { pa in
                bias.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.gemmPacked(m: m, n: n, k: 0, a: pa.baseAddress!, lda: 1, weights: weights, bias: pb.baseAddress!,
                                        activation: activation, accumulate: accumulate, c: pc.baseAddress!, ldc: n + 1)
                    }
                }
            }
            return c
        }
        let set = run(accumulate: false, activation: nil), onto = run(accumulate: true, activation: nil)
        let relu = run(accumulate: false, activation: .relu)
        for i in 0..<m {
            for j in 0..<n {
                #expect(set[i * (n + 1) + j] == bias[j])
                #expect(onto[i * (n + 1) + j] == start[i * (n + 1) + j] + bias[j])
                #expect(relu[i * (n + 1) + j] == max(0, bias[j]))
            }
            #expect(set[i * (n + 1) + n] == start[i * (n + 1) + n], "padding of row \(i) changed")
        }
    }
}
