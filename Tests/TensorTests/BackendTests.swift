// The matrix-product backends (oneDNN, OpenBLAS) against a Double reference and each other, their
// choice from LANDSCRIBE_BACKEND, and the C kernel sets (AVX-512, AVX2, baseline) against baseline.
import Foundation
import Testing
@testable import Tensor

/// One product: C = alpha op(A) op(B) + beta C with the given shape, transposes and padded strides.
struct GemmCase: CustomStringConvertible, Sendable {
    let m, n, k: Int
    let transposeA, transposeB: Bool
    let padA, padB, padC: Int // lda - row length, etc.
    let alpha, beta: Float
    var description: String { "\(m)x\(n)x\(k) tA \(transposeA) tB \(transposeB) pad \(padA),\(padB),\(padC) alpha \(alpha) beta \(beta)" }

    var lda: Int { (transposeA ? m : k) + padA }
    var ldb: Int { (transposeB ? k : n) + padB }
    var ldc: Int { n + padC }
    var aCount: Int { (transposeA ? k : m) * lda }
    var bCount: Int { (transposeB ? n : k) * ldb }
}

let gemmCases: [GemmCase] = [
    GemmCase(m: 1, n: 1, k: 1, transposeA: false, transposeB: false, padA: 0, padB: 0, padC: 0, alpha: 1, beta: 0),
    GemmCase(m: 7, n: 13, k: 5, transposeA: false, transposeB: true, padA: 3, padB: 0, padC: 2, alpha: 1, beta: 0),
    GemmCase(m: 37, n: 29, k: 131, transposeA: true, transposeB: false, padA: 5, padB: 7, padC: 1, alpha: 0.5, beta: 1),
    GemmCase(m: 65, n: 17, k: 300, transposeA: true, transposeB: true, padA: 0, padB: 9, padC: 0, alpha: -2, beta: 0.25),
    GemmCase(m: 205, n: 97, k: 769, transposeA: false, transposeB: true, padA: 1536, padB: 0, padC: 3, alpha: 0.125, beta: 1),
    GemmCase(m: 3, n: 211, k: 64, transposeA: false, transposeB: false, padA: 128, padB: 128, padC: 0, alpha: 1, beta: -1),
]

/// Runs one case on `backend`; C starts as `c0` (its padding columns must come back untouched).
func product(_ g: GemmCase, on backend: MatrixBackend.Kind, a: [Float], b: [Float], c0: [Float]) -> [Float] {
    var c = c0
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                BLAS.gemm(on: backend, transposeA: g.transposeA, transposeB: g.transposeB, m: g.m, n: g.n, k: g.k,
                          alpha: g.alpha, a: pa.baseAddress!, lda: g.lda, b: pb.baseAddress!, ldb: g.ldb,
                          beta: g.beta, c: pc.baseAddress!, ldc: g.ldc)
            }
        }
    }
    return c
}

@Suite("Matrix backends")
struct BackendTests {
    /// The tolerance of one output: Float's epsilon times the size of what was summed,
    /// |alpha| sum_p |a_ip b_pj| + |beta c_ij|, times a few k-independent units (blocked sums
    /// round at most about log2(k) times per term; 4 covers k up to 769 with room).
    @Test("each backend equals a Double reference and the other backend on odd shapes, transposes, strides, alpha and beta",
          arguments: gemmCases)
    func backendsAgree(_ g: GemmCase) throws {
        let a = noise(g.aCount, seed: UInt64(g.m * 31 + g.k), scale: 3)
        let b = noise(g.bCount, seed: UInt64(g.n * 17 + g.k), scale: 2)
        let c0 = noise(g.m * g.ldc, seed: 99, scale: 5)
        var expected = [Double](repeating: 0, count: g.m * g.ldc), bound = expected
        for i in 0..<g.m {
            for j in 0..<g.ldc {
                let index = i * g.ldc + j
                guard j < g.n else { expected[index] = Double(c0[index]); continue }
                var sum = 0.0, size = 0.0
                for p in 0..<g.k {
                    let x = Double(g.transposeA ? a[p * g.lda + i] : a[i * g.lda + p])
                    let y = Double(g.transposeB ? b[j * g.ldb + p] : b[p * g.ldb + j])
                    sum += x * y
                    size += abs(x * y)
                }
                expected[index] = Double(g.alpha) * sum + Double(g.beta) * Double(c0[index])
                bound[index] = 4 * Double(Float.ulpOfOne) * (abs(Double(g.alpha)) * size + abs(Double(g.beta) * Double(c0[index])))
            }
        }
        var results: [MatrixBackend.Kind: [Float]] = [:]
        for backend in MatrixBackend.available {
            let c = product(g, on: backend, a: a, b: b, c0: c0)
            results[backend] = c
            for index in c.indices {
                if index % g.ldc >= g.n {
                    #expect(c[index] == c0[index], "\(backend): padding column written at \(index)")
                } else {
                    let error = abs(Double(c[index]) - expected[index])
                    try #require(error <= bound[index], "\(backend) at \(index): \(c[index]) vs \(expected[index]), bound \(bound[index])")
                }
            }
        }
        if let x = results[.onednn], let y = results[.openblas] {
            for index in x.indices where index % g.ldc < g.n {
                try #require(abs(Double(x[index]) - Double(y[index])) <= 2 * bound[index], "onednn vs openblas at \(index): \(x[index]) vs \(y[index])")
            }
        }
    }

    @Test("oneDNN is available here (Debian's build runs on OpenMP) and named with its version and ISA")
    func descriptions() {
        #expect(MatrixBackend.available.contains(.onednn))
        #expect(MatrixBackend(.onednn).description.hasPrefix("onednn 2."))
        #expect(MatrixBackend(.openblas).description.hasPrefix("openblas 0."))
        #expect(MatrixBackend.current.description == MatrixBackend(MatrixBackend.current.kind).description)
    }

    @Test("beta 0 does not read C (NaN stays out); k = 0 scales C by beta")
    func betaZeroAndEmptyInner() {
        let a: [Float] = noise(12, seed: 1), b: [Float] = noise(12, seed: 2)
        for backend in MatrixBackend.available {
            let g = GemmCase(m: 3, n: 3, k: 4, transposeA: false, transposeB: true, padA: 0, padB: 0, padC: 0, alpha: 1, beta: 0)
            let c = product(g, on: backend, a: a, b: b, c0: [Float](repeating: .nan, count: 9))
            #expect(c.allSatisfy { $0.isFinite }, "\(backend)")
            let empty = GemmCase(m: 3, n: 3, k: 0, transposeA: false, transposeB: false, padA: 0, padB: 0, padC: 0, alpha: 1, beta: 0.5)
            #expect(product(empty, on: backend, a: a, b: b, c0: [Float](repeating: 4, count: 9)) == [Float](repeating: 2, count: 9))
        }
    }

    @Test("LANDSCRIBE_BACKEND parsing: unset, empty and auto choose; names pin (any case); anything else is an error")
    func parsing() throws {
        #expect(try MatrixBackend.parse(nil).get() == nil)
        #expect(try MatrixBackend.parse("").get() == nil)
        #expect(try MatrixBackend.parse("auto").get() == nil)
        #expect(try MatrixBackend.parse("onednn").get() == .onednn)
        #expect(try MatrixBackend.parse("OpenBLAS").get() == .openblas)
        #expect(throws: SelectionError.self) { try MatrixBackend.parse("mkl").get() }
        if case .failure(let error) = MatrixBackend.parse("mkl") {
            #expect(error.message == "LANDSCRIBE_BACKEND='mkl' is not one of onednn, openblas, auto")
        }
        #expect(MatrixBackend.choose("openblas") == (.openblas, nil))
        #expect(MatrixBackend.choose("onednn") == (.onednn, nil))
        let fallback = MatrixBackend.choose("mkl")
        #expect(fallback.kind == MatrixBackend.automatic)
        #expect(fallback.warning == "LANDSCRIBE_BACKEND='mkl' is not one of onednn, openblas, auto; using \(MatrixBackend.automatic.rawValue)")
    }

    @Test("the backend and kernel set this process runs are the environment's pins (Tools/parity_matrix.sh runs the parity suites under each)")
    func pinsHonoured() throws {
        let environment = ProcessInfo.processInfo.environment
        #expect(MatrixBackend.current.kind == MatrixBackend.choose(environment["LANDSCRIBE_BACKEND"]).kind)
        #expect(Kernels.selection == KernelSet.choose(environment["LANDSCRIBE_KERNELS"]).set)
        if case .success(let pin?) = MatrixBackend.parse(environment["LANDSCRIBE_BACKEND"]), MatrixBackend.available.contains(pin) {
            #expect(MatrixBackend.current.kind == pin)
        }
        if case .success(let pin?) = KernelSet.parse(environment["LANDSCRIBE_KERNELS"]), pin.isSupported {
            #expect(Kernels.selection == pin)
        }
    }

    @Test("oneDNN on this AVX-512 CPU is the automatic choice; without AVX-512 OpenBLAS is")
    func automatic() {
        #expect(MatrixBackend.automatic == (KernelSet.avx512.isSupported ? .onednn : .openblas))
    }

    @Test("oneDNN's thread count is the calling thread's: each call sets it to BLAS.threads")
    func openMPThreadsPerThread() throws {
        #expect(OpenMP.isAvailable)
        // A fresh thread starts at OpenMP's default; requireThreads changes that thread only.
        final class Box: @unchecked Sendable { var seen: [Int?] = [] }
        let box = Box(), done = DispatchSemaphore(value: 0)
        let before = OpenMP.maxThreads
        let thread = Thread {
            OpenMP.requireThreads(1); box.seen.append(OpenMP.maxThreads)
            OpenMP.requireThreads(3); box.seen.append(OpenMP.maxThreads)
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(box.seen == [1, 3])
        #expect(OpenMP.maxThreads == before)
    }

    @Test("a product on 1 and on 3 threads gives the same values on each backend")
    func threadCounts() throws {
        let g = GemmCase(m: 301, n: 257, k: 200, transposeA: false, transposeB: true, padA: 0, padB: 0, padC: 0, alpha: 1, beta: 0)
        let a = noise(g.aCount, seed: 5), b = noise(g.bCount, seed: 6), c0 = [Float](repeating: 0, count: g.m * g.ldc)
        for backend in MatrixBackend.available {
            let one = ThreadCountPin.pinned(1) { product(g, on: backend, a: a, b: b, c0: c0) }
            let three = ThreadCountPin.pinned(3) { product(g, on: backend, a: a, b: b, c0: c0) }
            // Sums of 200 terms of |x| <= 1: a split k blocking may change rounding, not more.
            let diff = zip(one, three).map { abs($0 - $1) }.max()!
            #expect(diff <= 1e-4, "\(backend): \(diff)")
        }
    }
}

@Suite("Kernel sets")
struct KernelSetTests {
    @Test("LANDSCRIBE_KERNELS parsing: unset and empty choose the widest; names pin; anything else is an error")
    func parsing() throws {
        #expect(try KernelSet.parse(nil).get() == nil)
        #expect(try KernelSet.parse("").get() == nil)
        #expect(try KernelSet.parse("AVX512").get() == .avx512)
        #expect(try KernelSet.parse("avx2").get() == .avx2)
        #expect(try KernelSet.parse("baseline").get() == .baseline)
        #expect(throws: SelectionError.self) { try KernelSet.parse("sse9").get() }
        #expect(KernelSet.choose("baseline") == (.baseline, nil))
        #expect(KernelSet.choose("sse9") == (KernelSet.best, "LANDSCRIBE_KERNELS='sse9' is not one of avx512, avx2, baseline; using \(KernelSet.best.rawValue)"))
        #expect(KernelSet.choose(nil) == (KernelSet.best, nil))
    }

    @Test("baseline runs everywhere; the selection is supported and named")
    func supported() {
        #expect(KernelSet.baseline.isSupported)
        #expect(KernelSet.supported.contains(Kernels.selection))
        #expect(Kernels.instructionSet == Kernels.selection.description)
    }

    @Test("softmax numerators of every set: within 2e-7 + 1e-7 |x| of exp(x), and no zero, NaN or infinity far below",
          arguments: KernelSet.allCases)
    func softmaxNumerators(_ set: KernelSet) {
        guard set.isSupported else { return } // KernelSetTests.supported checks what this CPU runs
        // Scores whose maximum is 0, so that each numerator is exp(score): the range a softmax
        // sees (to -87, where exp reaches the smallest normal float), then far below it.
        var x = (0...8700).map { -Float($0) / 100 } + [-90, -200, -1e30]
        let original = x
        let sum = x.withUnsafeMutableBufferPointer { set.exponentiate($0.baseAddress!, count: $0.count, scale: 1) }
        var exact = 0.0
        for (value, argument) in zip(x, original) {
            let e = Foundation.exp(Double(argument))
            exact += e
            if argument >= -87 {
                // 2^f by a polynomial (1.6 ulp) after x log2(e) is rounded to a float (|x| 6e-8).
                #expect(abs(Double(value) - e) <= (2e-7 + 1e-7 * Double(abs(argument))) * e, "\(set) exp(\(argument)): \(value)")
            } else {
                #expect(value > 0 && value <= 1.2e-38, "\(set) exp(\(argument)): \(value)")
            }
        }
        #expect(abs(Double(sum) - exact) <= 1e-5 * exact, "\(set): sum \(sum) vs \(exact)")
    }

    @Test("exponentials and activations of every set match baseline", arguments: KernelSet.allCases)
    func elementwise(_ set: KernelSet) throws {
        guard set.isSupported else { return } // KernelSetTests.supported checks what this CPU runs
        for n in [1, 15, 16, 17, 1025] {
            let x = noise(n, seed: UInt64(n), scale: 20)
            var y = x, z = x
            let sy = y.withUnsafeMutableBufferPointer { set.exponentiate($0.baseAddress!, count: n, scale: 0.125) }
            let sz = z.withUnsafeMutableBufferPointer { KernelSet.baseline.exponentiate($0.baseAddress!, count: n, scale: 0.125) }
            // Same polynomial within 2 ulp each; FMA contraction of the argument and the order of
            // the sum differ: 8 ulp per value, 1e-6 of the sum.
            #expect(abs(sy - sz) <= 1e-6 * sz, "\(set) n \(n): sum \(sy) vs \(sz)")
            for (u, v) in zip(y, z) { #expect(abs(u - v) <= 8 * Float.ulpOfOne * abs(v), "\(set): \(u) vs \(v)") }
        }
        for act in [Activation.quickGELU, .gelu] {
            let (rows, cols, stride) = (3, 37, 40)
            let x = noise(rows * stride, seed: 8, scale: 6), bias = noise(cols, seed: 9)
            var y = x, z = x
            bias.withUnsafeBufferPointer { b in
                y.withUnsafeMutableBufferPointer { set.biasActivation($0.baseAddress!, rows: rows, cols: cols, stride: stride, bias: b.baseAddress!, activation: act) }
                z.withUnsafeMutableBufferPointer { KernelSet.baseline.biasActivation($0.baseAddress!, rows: rows, cols: cols, stride: stride, bias: b.baseAddress!, activation: act) }
            }
            for i in y.indices {
                if i % stride >= cols { #expect(y[i] == x[i]); continue }
                #expect(abs(y[i] - z[i]) <= 1e-6 * max(1, abs(z[i])), "\(set) \(act) at \(i): \(y[i]) vs \(z[i])")
            }
        }
    }

    @Test("attention products of every set match baseline on strided heads, partial tiles included", arguments: KernelSet.allCases)
    func attentionProducts(_ set: KernelSet) throws {
        guard set.isSupported else { return }
        let (rows, keys, headDim, stride) = (13, 70, 64, 3 * 96)
        let q = noise(rows * stride, seed: 1), k = noise(keys * stride, seed: 2), v = noise(keys * stride, seed: 3)
        var pack = [Float](repeating: 0, count: Attention.packCount(keys: keys, headDim: headDim))
        func run(_ s: KernelSet) -> (scores: [Float], values: [Float]) {
            var scores = [Float](repeating: -7, count: rows * (keys + 2)), out = [Float](repeating: -7, count: rows * 96)
            let factors = (0..<rows).map { 1 / Float($0 + 1) }
            pack.withUnsafeMutableBufferPointer { p in
                q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in
                    scores.withUnsafeMutableBufferPointer { ps in
                        s.attentionScores(pq.baseAddress!, pk.baseAddress!, inputStride: stride, rows: rows, keys: keys, headDim: headDim,
                                          scale: 0.125, out: ps.baseAddress!, outputStride: keys + 2, pack: p.baseAddress!)
                    }
                } }
                scores.withUnsafeBufferPointer { ps in v.withUnsafeBufferPointer { pv in factors.withUnsafeBufferPointer { f in
                    out.withUnsafeMutableBufferPointer { po in
                        s.attentionValues(ps.baseAddress!, weightStride: keys + 2, pv.baseAddress!, inputStride: stride, rows: rows,
                                          keys: keys, headDim: headDim, rowFactors: f.baseAddress!, out: po.baseAddress!,
                                          outputStride: 96, pack: p.baseAddress!)
                    }
                } } }
            }
            return (scores, out)
        }
        // Keys and values packed once for a head (Attention.pack / Attention.head): the same
        // products, bit for bit, over all the keys and over a prefix (causal blocks).
        for n in [keys, keys - 19] {
            var packed = [Float](repeating: .nan, count: Attention.packedCount(tokens: keys, headDim: headDim))
            let keysPart = Attention.packedKeysCount(tokens: keys, headDim: headDim)
            var scores = [Float](repeating: -7, count: rows * n), out = [Float](repeating: -7, count: rows * 96)
            var direct = scores, directOut = out
            let factors = (0..<rows).map { 1 / Float($0 + 1) }
            q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                factors.withUnsafeBufferPointer { f in packed.withUnsafeMutableBufferPointer { pp in
                    scores.withUnsafeMutableBufferPointer { ps in out.withUnsafeMutableBufferPointer { po in
                        set.table.attention_pack_head!(pk.baseAddress!, pv.baseAddress!, stride, keys, headDim,
                                                       pp.baseAddress!, pp.baseAddress! + keysPart)
                        set.table.attention_scores_packed!(pq.baseAddress!, stride, pp.baseAddress!, rows, n, headDim, 0.125,
                                                           ps.baseAddress!, n)
                        set.table.attention_values_packed!(ps.baseAddress!, n, pp.baseAddress! + keysPart, keys, rows, n, headDim,
                                                           f.baseAddress!, po.baseAddress!, 96)
                    } }
                    var pack = [Float](repeating: 0, count: Attention.packCount(keys: keys, headDim: headDim))
                    pack.withUnsafeMutableBufferPointer { scratch in
                        direct.withUnsafeMutableBufferPointer { ps in directOut.withUnsafeMutableBufferPointer { po in
                            set.attentionScores(pq.baseAddress!, pk.baseAddress!, inputStride: stride, rows: rows, keys: n, headDim: headDim,
                                                scale: 0.125, out: ps.baseAddress!, outputStride: n, pack: scratch.baseAddress!)
                            set.attentionValues(UnsafePointer(ps.baseAddress!), weightStride: n, pv.baseAddress!, inputStride: stride, rows: rows,
                                                keys: n, headDim: headDim, rowFactors: f.baseAddress!, out: po.baseAddress!,
                                                outputStride: 96, pack: scratch.baseAddress!)
                        } }
                    }
                } }
            } } }
            #expect(scores == direct, "\(set): packed scores over \(n) of \(keys) keys differ")
            #expect(out == directOut, "\(set): packed values over \(n) of \(keys) keys differ")
        }
        let (s1, o1) = run(set), (s0, o0) = run(.baseline)
        // Scores: 64 products of |x| <= 1 summed in the same order, with or without FMA.
        for i in s1.indices {
            if i % (keys + 2) >= keys { #expect(s1[i] == -7); continue }
            #expect(abs(s1[i] - s0[i]) <= 1e-5, "\(set) score \(i): \(s1[i]) vs \(s0[i])")
        }
        // Values: 70 products of |score| <= 8, |v| <= 1.
        for i in o1.indices {
            if i % 96 >= headDim { #expect(o1[i] == -7); continue }
            #expect(abs(o1[i] - o0[i]) <= 1e-4, "\(set) value \(i): \(o1[i]) vs \(o0[i])")
        }
    }
}
