// Products with a weight packed once for oneDNN's matmul primitive: f32 (the CLIP engine's
// linear layers on the onednn backend) or bf16 inputs (`--precision bf16`, f32 accumulation;
// everything else stays f32, docs/ARCHITECTURE.md, "Precision"). Output always f32.
import CDNNL
internal import CKernels
import Foundation

/// A weight in PyTorch's `[n, k]` (`[out, in]`) layout packed for oneDNN's matmul: reordered
/// into the blocked layout the matmul asks for (and rounded to bf16 at precision bf16), once per
/// layout (in practice once: the layout depends on n, k and the instruction set), at its first
/// product, under a lock. Packing once is what pays over `BLAS.gemm`, whose sgemm packs the
/// weight again in every call (docs/benchmarks.md). The packed copy is as large as the weight
/// at f32 (half at bf16), so only the models that opt in (CLIP) pack their f32 weights.
public final class PackedWeights: @unchecked Sendable { // `packed` is only touched under `lock`
    public let n: Int
    public let k: Int
    public let precision: MatrixPrecision
    private let source: Tensor
    private let lock = NSLock()
    private var packed: [(desc: dnnl_memory_desc_t, data: UnsafeMutableRawPointer)] = []

    public init(_ weight: Tensor, precision: MatrixPrecision) {
        precondition(weight.rank == 2, "PackedWeights needs a 2-D weight, got \(weight.shape)")
        (n, k, source, self.precision) = (weight.shape[0], weight.shape[1], weight, precision)
    }

    deinit { for p in packed { free(p.data) } }

    /// How many layouts were prepared (tests: one per weight in practice).
    var layouts: Int { lock.lock(); defer { lock.unlock() }; return packed.count }

    /// The weight in the layout `desc` (k x n as oneDNN's matmul weights, at `precision`).
    func data(for desc: dnnl_memory_desc_t) -> UnsafeMutableRawPointer {
        lock.lock(); defer { lock.unlock() }
        var wanted = desc
        for p in packed {
            var have = p.desc
            if dnnl_memory_desc_equal(&have, &wanted) != 0 { return p.data }
        }
        let bytes = dnnl_memory_desc_get_size(&wanted)
        guard let data = aligned_alloc(64, (bytes + 63) / 64 * 64) else { fatalError("out of memory packing a weight of \(bytes) bytes") }
        // The f32 weight as a k x n matrix (column j is row j of [n, k]), reordered (and rounded) by oneDNN.
        var plain = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_strides(&plain, 2, [Int64(k), Int64(n)], dnnl_f32, [1, Int64(k)]), "the f32 weight's descriptor")
        source.storage.withUnsafeBufferPointer { w in
            var reorder: dnnl_primitive_desc_t?
            check(dnnl_reorder_primitive_desc_create(&reorder, &plain, OneDNN.engine, &wanted, OneDNN.engine, nil), "the weight reorder")
            defer { dnnl_primitive_desc_destroy(reorder) }
            var primitive: dnnl_primitive_t?
            check(dnnl_primitive_create(&primitive, reorder), "the weight reorder")
            defer { dnnl_primitive_destroy(primitive) }
            OneDNN.execute(primitive!, [(DNNL_ARG_FROM, plain, UnsafeMutableRawPointer(mutating: w.baseAddress!)),
                                        (DNNL_ARG_TO, wanted, data)])
        }
        packed.append((desc, data))
        return data
    }
}

extension BLAS {
    /// `C = A W^T + b` (or `C += A W^T + b` with `accumulate`) with A (`m` x `k`, row stride
    /// `lda`), W packed at its precision (bf16: A is rounded too, into a buffer of the calling
    /// thread), products accumulated in f32, the bias `b` (`n` values, f32 weights only; none:
    /// zero) added in the same pass, C (`m` x `n`, row stride `ldc`) f32: oneDNN's matmul
    /// primitive on `BLAS.threads` threads. The primitive for the shape, strides, `accumulate`,
    /// bias, precision and thread count is made once and kept; its scratchpad is a buffer of the
    /// calling thread (oneDNN allocates nothing per call). The result depends on the shape and
    /// the thread count only, like `gemm`'s.
    ///
    /// `activation` (f32 weights, without `accumulate`) is applied to `A W^T + b` in the same pass,
    /// by oneDNN (`gelu_erf`; quick GELU as `swish` with alpha 1.702; `relu`): the values of
    /// `Kernels.biasActivation`'s within their approximations' error.
    public static func gemmPacked(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, weights: PackedWeights,
                                  bias: UnsafePointer<Float>? = nil, activation: Activation? = nil, accumulate: Bool,
                                  c: UnsafeMutablePointer<Float>, ldc: Int) {
        // A bf16 matmul with an f32 bias or post-ops is not tried: no CPU here runs bf16 to test it on.
        precondition((bias == nil && activation == nil) || weights.precision == .f32, "a bias or activation in the product needs f32 weights")
        precondition(activation == nil || !accumulate, "an activation in the product cannot accumulate onto its output")
        precondition(weights.n == n && weights.k == k, "packed weight [\(weights.n), \(weights.k)] for a product of n \(n), k \(k)")
        if m == 0 || n == 0 { return }
        if k == 0 { // no products: the output is the bias (or what it held, plus the bias)
            if let bias {
                Kernels.addRows(c, rows: m, cols: n, stride: ldc, vector: bias, accumulate: accumulate)
            } else if !accumulate {
                for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
            }
            if let activation { Kernels.biasActivation(c, rows: m, cols: n, stride: ldc, bias: nil, activation: activation) }
            return
        }
        let threads = BLAS.threads
        OpenMP.requireThreads(threads)
        let bf16 = weights.precision == .bf16
        let matmul = PackedMatmul.cached(.init(m: m, n: n, k: k, lda: bf16 ? k : lda, ldc: ldc, accumulate: accumulate,
                                               bias: bias != nil, activation: activation, precision: weights.precision,
                                               threads: threads))
        let input: UnsafeMutableRawPointer
        if bf16 {
            guard let rounded = ck_thread_buffer(0, m * k * 2) else { fatalError("out of memory for a bf16 product's input") }
            ck_to_bf16(a, m, k, lda, rounded.assumingMemoryBound(to: UInt16.self))
            input = rounded
        } else {
            input = UnsafeMutableRawPointer(mutating: a) // read only: the matmul's source
        }
        let w = weights.data(for: matmul.weights)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, matmul.source, input), (DNNL_ARG_WEIGHTS, matmul.weights, w), (DNNL_ARG_DST, matmul.destination, UnsafeMutableRawPointer(c)),
        ]
        if let bias { args.append((DNNL_ARG_BIAS, matmul.bias, UnsafeMutableRawPointer(mutating: bias))) } // read only
        if matmul.scratchpadBytes > 0 {
            guard let scratch = ck_thread_buffer(1, matmul.scratchpadBytes) else { fatalError("out of memory for a product's scratchpad") }
            args.append((DNNL_ARG_SCRATCHPAD, matmul.scratchpad, scratch))
        }
        OneDNN.execute(matmul.primitive, args)
    }
}

/// One matmul primitive (source and weights at a precision, f32 destination) and its memory descriptors.
final class PackedMatmul: @unchecked Sendable { // immutable after init; oneDNN primitives may run on several threads at once
    struct Key: Hashable {
        let m, n, k, lda, ldc: Int
        let accumulate, bias: Bool
        let activation: Activation?
        let precision: MatrixPrecision
        let threads: Int
    }

    let primitive: dnnl_primitive_t
    let source: dnnl_memory_desc_t
    let weights: dnnl_memory_desc_t
    let destination: dnnl_memory_desc_t
    /// A row of n f32 values added to every output row (a zero descriptor without bias).
    let bias: dnnl_memory_desc_t
    let scratchpad: dnnl_memory_desc_t
    let scratchpadBytes: Int
    /// oneDNN's name of the implementation, e.g. "brg:avx512_core" or "brg:avx512_core_amx_bf16" (tests, benchmarks).
    let implementation: String

    /// Made with the calling thread's OpenMP count set to `key.threads` (oneDNN plans for it).
    init(_ key: Key) {
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t(), row = dnnl_memory_desc_t()
        let (m, n, k) = (Int64(key.m), Int64(key.n), Int64(key.k))
        let type = key.precision == .bf16 ? dnnl_bf16 : dnnl_f32
        check(dnnl_memory_desc_init_by_strides(&src, 2, [m, k], type, [Int64(key.lda), 1]), "the input's descriptor")
        check(dnnl_memory_desc_init_by_tag(&wei, 2, [k, n], type, dnnl_format_tag_any), "the weight's descriptor")
        check(dnnl_memory_desc_init_by_strides(&dst, 2, [m, n], dnnl_f32, [Int64(key.ldc), 1]), "the output's descriptor")
        if key.bias { check(dnnl_memory_desc_init_by_strides(&row, 2, [1, n], dnnl_f32, [n, 1]), "the bias's descriptor") }
        var desc = dnnl_matmul_desc_t()
        check(key.bias ? dnnl_matmul_desc_init(&desc, &src, &wei, &row, &dst) : dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst),
              "the matmul descriptor")
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "the matmul attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "the matmul scratchpad mode")
        if key.accumulate || key.activation != nil {
            var ops: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&ops), "the matmul post-ops")
            defer { dnnl_post_ops_destroy(ops) }
            if key.accumulate { check(dnnl_post_ops_append_sum(ops, 1), "the matmul sum post-op") }
            if let activation = key.activation {
                let (kind, alpha): (dnnl_alg_kind_t, Float) = switch activation {
                case .gelu: (dnnl_eltwise_gelu_erf, 0)
                case .quickGELU: (dnnl_eltwise_swish, 1.702)
                case .relu: (dnnl_eltwise_relu, 0)
                }
                check(dnnl_post_ops_append_eltwise(ops, 1, kind, alpha, 0), "the matmul \(activation) post-op")
            }
            check(dnnl_primitive_attr_set_post_ops(attr, ops), "the matmul post-ops")
        }
        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &desc, attr, OneDNN.engine, nil), "the \(key.precision) matmul for m \(m) n \(n) k \(k)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        check(dnnl_primitive_create(&prim, pd), "the \(key.precision) matmul primitive")
        primitive = prim!
        source = src
        destination = dst
        bias = row
        weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee ?? dnnl_memory_desc_t()
        var pad = scratchpad
        scratchpadBytes = dnnl_memory_desc_get_size(&pad)
        var name: UnsafePointer<CChar>?
        _ = withUnsafeMutablePointer(to: &name) { dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, $0) }
        implementation = name.map { String(cString: $0) } ?? "?"
    }

    deinit { dnnl_primitive_destroy(primitive) }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: PackedMatmul] = [:] // only touched under `lock`
    /// Primitives kept at most: a model meets a few shapes per input size (row chunks of about 256
    /// rows), but a process embedding images of ever new sizes would otherwise keep one per shape
    /// for good. Past it the cache starts again (a call in flight keeps its primitive alive).
    static let capacity = 512

    /// The primitive for `key`, made on first use (primitive creation costs far more than a product).
    static func cached(_ key: Key) -> PackedMatmul {
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        if cache.count >= capacity { cache.removeAll() }
        let made = PackedMatmul(key)
        cache[key] = made
        return made
    }

    /// How many primitives are kept (tests).
    static var cachedCount: Int { lock.lock(); defer { lock.unlock() }; return cache.count }
}

/// The oneDNN engine and the running of a primitive, for the packed products.
enum OneDNN {
    private struct Engine: @unchecked Sendable { let handle: dnnl_engine_t } // oneDNN engines are thread-safe
    private static let shared: Engine = {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "oneDNN's CPU engine")
        return Engine(handle: engine!)
    }()
    static var engine: dnnl_engine_t { shared.handle }

    /// Runs `primitive` on a stream of its own with memory objects over the given buffers.
    static func execute(_ primitive: dnnl_primitive_t, _ buffers: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "a oneDNN stream")
        defer { dnnl_stream_destroy(stream) }
        var memories: [dnnl_memory_t?] = []
        defer { for memory in memories { dnnl_memory_destroy(memory) } }
        var args: [dnnl_exec_arg_t] = []
        for (arg, desc, data) in buffers {
            var d = desc, memory: dnnl_memory_t?
            check(dnnl_memory_create(&memory, &d, engine, data), "a oneDNN memory object")
            memories.append(memory)
            args.append(dnnl_exec_arg_t(arg: arg, memory: memory))
        }
        check(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "a oneDNN primitive")
        check(dnnl_stream_wait(stream), "a oneDNN stream")
    }
}

private func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
    precondition(status == dnnl_success, "oneDNN failed (status \(status.rawValue)) on \(what())")
}
