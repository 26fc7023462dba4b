// bfloat16 matrix products (`--precision bf16`): oneDNN's matmul primitive with bf16 inputs,
// f32 accumulation and f32 output. Everything else stays f32 (docs/ARCHITECTURE.md, "Precision").
import CDNNL
internal import CKernels
import Foundation

/// The number format of the matrix products' inputs. `f32` everywhere is the default; `bf16`
/// rounds the inputs of the linear layers' products (activations per call, weights once) to
/// bfloat16 and accumulates in f32, on CPUs with AVX512_BF16 or AMX-BF16, with oneDNN.
public enum MatrixPrecision: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case f32, bf16

    public var description: String { rawValue }

    /// What keys of caches of computed values (text queries) get appended: nothing for f32, so
    /// the f32 keys stay those of before bf16 existed.
    public var cacheSuffix: String { self == .f32 ? "" : "+" + rawValue }

    /// Whether oneDNN runs bf16 products natively here: its effective instruction set includes
    /// AVX512_BF16 (avx512_core_bf16, or avx512_core_amx with AMX-BF16). `DNNL_MAX_CPU_ISA` can lower it.
    public static var cpuHasBF16: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }

    /// Why `self` cannot run on `backend` on a CPU with or without native bf16 products, or nil
    /// when it can: bf16 needs oneDNN and AVX512_BF16 or AMX-BF16; f32 runs anywhere.
    public func unavailableReason(backend: MatrixBackend.Kind = MatrixBackend.current.kind,
                                  cpuHasBF16: Bool = MatrixPrecision.cpuHasBF16) -> String? {
        guard self == .bf16 else { return nil }
        if !cpuHasBF16 {
            return "bf16 needs a CPU with AVX512_BF16 or AMX-BF16; oneDNN runs \(MatrixBackend.isaName(dnnl_get_effective_cpu_isa())) here"
        }
        if backend != .onednn { return "bf16 runs on the onednn backend only, not \(backend.rawValue) (LANDSCRIBE_BACKEND)" }
        return nil
    }
}

/// A weight in PyTorch's `[n, k]` (`[out, in]`) layout prepared for bf16 products: rounded to
/// bf16 and reordered into the layout oneDNN's matmul asks for, once per layout (in practice
/// once: the layout depends on n, k and the instruction set), at its first product, under a lock.
public final class BF16Weights: @unchecked Sendable { // `packed` is only touched under `lock`
    public let n: Int
    public let k: Int
    private let source: Tensor
    private let lock = NSLock()
    private var packed: [(desc: dnnl_memory_desc_t, data: UnsafeMutableRawPointer)] = []

    public init(_ weight: Tensor) {
        precondition(weight.rank == 2, "BF16Weights needs a 2-D weight, got \(weight.shape)")
        (n, k, source) = (weight.shape[0], weight.shape[1], weight)
    }

    deinit { for p in packed { free(p.data) } }

    /// How many layouts were prepared (tests: one per weight in practice).
    var layouts: Int { lock.lock(); defer { lock.unlock() }; return packed.count }

    /// The weight in the layout `desc` (bf16, k x n as oneDNN's matmul weights).
    func data(for desc: dnnl_memory_desc_t) -> UnsafeMutableRawPointer {
        lock.lock(); defer { lock.unlock() }
        var wanted = desc
        for p in packed {
            var have = p.desc
            if dnnl_memory_desc_equal(&have, &wanted) != 0 { return p.data }
        }
        let bytes = dnnl_memory_desc_get_size(&wanted)
        guard let data = aligned_alloc(64, (bytes + 63) / 64 * 64) else { fatalError("out of memory preparing a bf16 weight of \(bytes) bytes") }
        // The f32 weight as a k x n matrix (column j is row j of [n, k]), reordered and rounded by oneDNN.
        var plain = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_strides(&plain, 2, [Int64(k), Int64(n)], dnnl_f32, [1, Int64(k)]), "the f32 weight's descriptor")
        source.storage.withUnsafeBufferPointer { w in
            var reorder: dnnl_primitive_desc_t?
            check(dnnl_reorder_primitive_desc_create(&reorder, &plain, OneDNN.engine, &wanted, OneDNN.engine, nil), "the bf16 weight reorder")
            defer { dnnl_primitive_desc_destroy(reorder) }
            var primitive: dnnl_primitive_t?
            check(dnnl_primitive_create(&primitive, reorder), "the bf16 weight reorder")
            defer { dnnl_primitive_destroy(primitive) }
            OneDNN.execute(primitive!, [(DNNL_ARG_FROM, plain, UnsafeMutableRawPointer(mutating: w.baseAddress!)),
                                        (DNNL_ARG_TO, wanted, data)])
        }
        packed.append((desc, data))
        return data
    }
}

extension BLAS {
    /// `C = A W^T` (or `C += A W^T` with `accumulate`) with A (`m` x `k`, row stride `lda`) and
    /// W rounded to bf16, products accumulated in f32, C (`m` x `n`, row stride `ldc`) f32: oneDNN's
    /// matmul primitive on `BLAS.threads` threads. A is rounded into a buffer of the calling
    /// thread; the primitive for (m, n, k, ldc, accumulate, threads) is made once and kept.
    /// The result depends on the shape and the thread count only, like `gemm`'s.
    public static func gemmBF16(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, weights: BF16Weights,
                                accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(weights.n == n && weights.k == k, "bf16 weight [\(weights.n), \(weights.k)] for a product of n \(n), k \(k)")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let threads = BLAS.threads
        OpenMP.requireThreads(threads)
        let matmul = BF16Matmul.cached(.init(m: m, n: n, k: k, ldc: ldc, accumulate: accumulate, threads: threads))
        guard let input = ck_thread_buffer(0, m * k * 2) else { fatalError("out of memory for a bf16 product's input") }
        ck_to_bf16(a, m, k, lda, input.assumingMemoryBound(to: UInt16.self))
        let w = weights.data(for: matmul.weights)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, matmul.source, input), (DNNL_ARG_WEIGHTS, matmul.weights, w), (DNNL_ARG_DST, matmul.destination, UnsafeMutableRawPointer(c)),
        ]
        if matmul.scratchpadBytes > 0 {
            guard let scratch = ck_thread_buffer(1, matmul.scratchpadBytes) else { fatalError("out of memory for a bf16 product's scratchpad") }
            args.append((DNNL_ARG_SCRATCHPAD, matmul.scratchpad, scratch))
        }
        OneDNN.execute(matmul.primitive, args)
    }
}

/// One matmul primitive (bf16 source and weights, f32 destination) and its memory descriptors.
final class BF16Matmul: @unchecked Sendable { // immutable after init; oneDNN primitives may run on several threads at once
    struct Key: Hashable { let m, n, k, ldc: Int; let accumulate: Bool; let threads: Int }

    let primitive: dnnl_primitive_t
    let source: dnnl_memory_desc_t
    let weights: dnnl_memory_desc_t
    let destination: dnnl_memory_desc_t
    let scratchpad: dnnl_memory_desc_t
    let scratchpadBytes: Int
    /// oneDNN's name of the implementation, e.g. "brg:avx512_core_amx_bf16" (tests, benchmarks).
    let implementation: String

    /// Made with the calling thread's OpenMP count set to `key.threads` (oneDNN plans for it).
    init(_ key: Key) {
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        let (m, n, k) = (Int64(key.m), Int64(key.n), Int64(key.k))
        check(dnnl_memory_desc_init_by_strides(&src, 2, [m, k], dnnl_bf16, [k, 1]), "the bf16 input's descriptor")
        check(dnnl_memory_desc_init_by_tag(&wei, 2, [k, n], dnnl_bf16, dnnl_format_tag_any), "the bf16 weight's descriptor")
        check(dnnl_memory_desc_init_by_strides(&dst, 2, [m, n], dnnl_f32, [Int64(key.ldc), 1]), "the output's descriptor")
        var desc = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst), "the matmul descriptor")
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "the matmul attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "the matmul scratchpad mode")
        if key.accumulate {
            var ops: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&ops), "the matmul post-ops")
            defer { dnnl_post_ops_destroy(ops) }
            check(dnnl_post_ops_append_sum(ops, 1), "the matmul sum post-op")
            check(dnnl_primitive_attr_set_post_ops(attr, ops), "the matmul post-ops")
        }
        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &desc, attr, OneDNN.engine, nil), "the bf16 matmul for m \(m) n \(n) k \(k)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        check(dnnl_primitive_create(&prim, pd), "the bf16 matmul primitive")
        primitive = prim!
        source = src
        destination = dst
        weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee ?? dnnl_memory_desc_t()
        var pad = scratchpad
        scratchpadBytes = dnnl_memory_desc_get_size(&pad)
        var name: UnsafePointer<CChar>?
        _ = withUnsafeMutablePointer(to: &name) { dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, $0) }
        implementation = name.map { String(cString: $0) } ?? "?"
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: BF16Matmul] = [:] // only touched under `lock`

    /// The primitive for `key`, made on first use (primitive creation costs far more than a product).
    static func cached(_ key: Key) -> BF16Matmul {
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let made = BF16Matmul(key)
        cache[key] = made
        return made
    }
}

/// The oneDNN engine and the running of a primitive, for the bf16 products.
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
