// Every BLAS call of the project lives in this file: OpenBLAS `cblas_sgemm` and oneDNN `dnnl_sgemm`.
import CDNNL
import COpenBLAS
import Foundation

/// Matrix products, row-major, through the backend of `MatrixBackend.current`.
public enum BLAS {
    /// Threads one matrix product uses (both backends). Starts at OpenBLAS's count
    /// (`OPENBLAS_NUM_THREADS`, `OMP_NUM_THREADS`, else the cores).
    public static var threads: Int { threadCount.value }

    /// Sets the threads of later matrix products, process-wide: OpenBLAS's count
    /// (`openblas_set_num_threads`) and the OpenMP thread count oneDNN gets at each call.
    public static func setThreads(_ count: Int) {
        let n = max(1, count)
        threadCount.value = n
        openblas_set_num_threads(Int32(n))
    }

    /// Runs `body` with matrix products on `count` threads, restoring the previous count after.
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        if previous != count { setThreads(count) }
        defer { if previous != count { setThreads(previous) } }
        return try body()
    }

    /// C = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k, op(B) is k x n.
    /// Strides (lda, ldb, ldc) are in elements and may exceed the row length, which is how
    /// attention reads per-head columns out of a fused buffer without copying. With beta 0, C is
    /// not read. Runs on `MatrixBackend.current`.
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false,
                            m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        gemm(on: MatrixBackend.current.kind, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
             alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// `gemm` on a given backend (tests and benchmarks compare them; it must be available).
    public static func gemm(on backend: MatrixBackend.Kind, transposeA: Bool = false, transposeB: Bool = false,
                            m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 { // C = beta C (oneDNN refuses k = 0 with its leading dimensions)
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        switch backend {
        case .openblas:
            cblas_sgemm(CblasRowMajor,
                        transposeA ? CblasTrans : CblasNoTrans,
                        transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha,
                        a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        case .onednn:
            OpenMP.requireThreads(threads)
            let status = dnnl_sgemm(CChar(UInt8(ascii: transposeA ? "T" : "N")),
                                    CChar(UInt8(ascii: transposeB ? "T" : "N")),
                                    Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
                                    beta, c, Int64(ldc))
            precondition(status == dnnl_success, "dnnl_sgemm failed (status \(status.rawValue)) for m \(m) n \(n) k \(k) lda \(lda) ldb \(ldb) ldc \(ldc)")
        }
    }

    /// The product of two 2-D tensors, `op(a) x op(b)` scaled by `alpha`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false,
                              transposeB: Bool = false, alpha: Float = 1) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs 2-D tensors, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul inner sizes differ: \(a.shape) x \(b.shape)")
        // Uninitialized: the product (beta 0, or zeros when k = 0) writes every value, and the
        // first touch of a large output's pages happens on the product's threads.
        return a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                Tensor(shape: [m, n]) { pc in
                    gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                         a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                         c: pc, ldc: n)
                }
            }
        }
    }

    /// The process-wide thread count (read at every oneDNN call: a lock costs nothing next to a product).
    private static let threadCount = LockedCount(Int(openblas_get_num_threads()))
}

private final class LockedCount: @unchecked Sendable { // `stored` is only touched under `lock`
    private let lock = NSLock()
    private var stored: Int
    init(_ value: Int) { stored = value }
    var value: Int {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// oneDNN (Debian's build) runs `dnnl_sgemm` on OpenMP, with as many threads as the *calling
/// thread's* `omp_get_max_threads()`: each thread that calls it (Dispatch workers included) starts
/// at OMP_NUM_THREADS or the core count. So before each call the caller's count is set to
/// `BLAS.threads` (`omp_set_num_threads` is per thread). The functions come from the OpenMP
/// runtime oneDNN loaded, found at run time, not linked by name.
enum OpenMP {
    private typealias GetMax = @convention(c) () -> Int32
    private typealias SetNum = @convention(c) (Int32) -> Void
    nonisolated(unsafe) private static let functions: (get: GetMax, set: SetNum)? = { // read-only after first use
        let handle = dlopen(nil, RTLD_NOW)
        guard let get = dlsym(handle, "omp_get_max_threads"), let set = dlsym(handle, "omp_set_num_threads") else { return nil }
        return (unsafeBitCast(get, to: GetMax.self), unsafeBitCast(set, to: SetNum.self))
    }()

    /// Whether the OpenMP thread count can be set (oneDNN's runtime is OpenMP and loaded).
    static var isAvailable: Bool { functions != nil }

    /// Sets the calling thread's OpenMP thread count to `count` if it differs.
    static func requireThreads(_ count: Int) {
        guard let functions else { return }
        if Int(functions.get()) != count { functions.set(Int32(count)) }
    }

    /// The calling thread's OpenMP thread count (tests).
    static var maxThreads: Int? { functions.map { Int($0.get()) } }

    /// libgomp's fork-join (`GOMP_parallel`, what `#pragma omp parallel` compiles to) and its
    /// team queries: `Parallel`'s workers run on the OpenMP threads that oneDNN's products run
    /// on, so that the two never compete for the cores (Dispatch threads beside them did, while
    /// OpenMP's threads spun waiting for the next product). nil where libgomp is not loaded.
    static let team: Team? = {
        let handle = dlopen(nil, RTLD_NOW)
        guard let fork = dlsym(handle, "GOMP_parallel"), let number = dlsym(handle, "omp_get_thread_num"),
              let size = dlsym(handle, "omp_get_num_threads") else { return nil }
        return Team(fork: unsafeBitCast(fork, to: Team.Fork.self), threadNumber: unsafeBitCast(number, to: Team.Query.self),
                    teamSize: unsafeBitCast(size, to: Team.Query.self))
    }()

    struct Team: Sendable {
        typealias Region = @convention(c) (UnsafeMutableRawPointer?) -> Void
        typealias Fork = @convention(c) (Region, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void
        typealias Query = @convention(c) () -> Int32
        let fork: Fork
        let threadNumber: Query
        let teamSize: Query

        /// Runs `body(thread, team size)` on each thread of a team of at most `threads` (fewer
        /// where the runtime gives fewer, e.g. one inside another region) and returns when all are done.
        func run(threads: Int, _ body: (_ thread: Int, _ size: Int) -> Void) {
            withoutActuallyEscaping(body) { escaping in
                let context = TeamContext(body: escaping, threadNumber: threadNumber, teamSize: teamSize)
                withExtendedLifetime(context) {
                    fork({ raw in
                        let context = Unmanaged<TeamContext>.fromOpaque(raw!).takeUnretainedValue()
                        context.body(Int(context.threadNumber()), Int(context.teamSize()))
                    }, Unmanaged.passUnretained(context).toOpaque(), UInt32(max(1, threads)), 0)
                }
            }
        }
    }
}

/// What a team's threads read: the body (its captures are the caller's to keep race-free) and
/// the runtime's queries.
private final class TeamContext: @unchecked Sendable {
    let body: (Int, Int) -> Void
    let threadNumber: OpenMP.Team.Query
    let teamSize: OpenMP.Team.Query
    init(body: @escaping (Int, Int) -> Void, threadNumber: OpenMP.Team.Query, teamSize: OpenMP.Team.Query) {
        self.body = body
        self.threadNumber = threadNumber
        self.teamSize = teamSize
    }
}
