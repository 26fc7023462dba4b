// Which library runs the matrix products, chosen once at run time.
import CDNNL
import COpenBLAS
import Foundation

/// The library behind `BLAS.gemm`: oneDNN on x86 CPUs with AVX-512 (its sgemm kernels beat
/// OpenBLAS's there, docs/benchmarks.md), OpenBLAS elsewhere. `LANDSCRIBE_BACKEND=onednn|openblas`
/// pins it; a value that cannot be honoured prints one warning line and the automatic choice is used.
public struct MatrixBackend: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case onednn, openblas
    }

    public let kind: Kind
    /// The library, its version and the kernels it runs with here, e.g. "onednn 2.6.3 (avx512_core_amx)"
    /// or "openblas 0.3.21 (SkylakeX)": what `bench` and the outputs' provenance report.
    public let description: String

    public init(_ kind: Kind) {
        self.kind = kind
        switch kind {
        case .onednn:
            let v = dnnl_version().pointee
            description = "onednn \(v.major).\(v.minor).\(v.patch) (\(MatrixBackend.isaName(dnnl_get_effective_cpu_isa())))"
        case .openblas:
            let config = String(cString: openblas_get_config()).split(separator: " ")
            let version = config.count > 1 ? String(config[1]) : "?"
            description = "openblas \(version) (\(String(cString: openblas_get_corename())))"
        }
    }

    /// The backend every `BLAS.gemm` uses: chosen at first use from `LANDSCRIBE_BACKEND` and the CPU.
    public static let current: MatrixBackend = {
        let (kind, warning) = choose(ProcessInfo.processInfo.environment["LANDSCRIBE_BACKEND"])
        if let warning { FileHandle.standardError.write(Data("landscribe: warning: \(warning)\n".utf8)) }
        return MatrixBackend(kind)
    }()

    /// Backends this process can run: OpenBLAS always; oneDNN when its thread count can be set
    /// (its runtime is OpenMP), which Debian's build has.
    public static var available: [Kind] {
        oneDNNUsable ? [.onednn, .openblas] : [.openblas]
    }

    /// The backend without a pin: oneDNN when the CPU has AVX-512 (oneDNN's effective ISA
    /// includes avx512_core, which `DNNL_MAX_CPU_ISA` can lower), else OpenBLAS.
    public static var automatic: Kind {
        guard oneDNNUsable else { return .openblas }
        let isa = dnnl_get_effective_cpu_isa().rawValue, avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return isa & avx512 == avx512 ? .onednn : .openblas
    }

    /// The pin of a `LANDSCRIBE_BACKEND` value: nil when unset, empty or "auto";
    /// `.failure` with a one-line message for any other value than onednn or openblas.
    public static func parse(_ value: String?) -> Result<Kind?, SelectionError> {
        guard let value, !value.isEmpty, value.lowercased() != "auto" else { return .success(nil) }
        if let kind = Kind(rawValue: value.lowercased()) { return .success(kind) }
        return .failure(SelectionError(message: "LANDSCRIBE_BACKEND='\(value)' is not one of onednn, openblas, auto"))
    }

    /// The backend for a value of `LANDSCRIBE_BACKEND`, with the warning to print when the value
    /// is not honoured (unknown, or oneDNN unusable here): then the automatic choice.
    public static func choose(_ value: String?) -> (kind: Kind, warning: String?) {
        switch parse(value) {
        case .success(nil): return (automatic, nil)
        case .success(let kind?):
            if available.contains(kind) { return (kind, nil) }
            return (automatic, "LANDSCRIBE_BACKEND=\(kind.rawValue) cannot run here (oneDNN's threads cannot be set); using \(automatic.rawValue)")
        case .failure(let error): return (automatic, error.message + "; using \(automatic.rawValue)")
        }
    }

    /// oneDNN's runtime is OpenMP and its thread count reachable (`BLAS.withThreads` must hold for it).
    private static var oneDNNUsable: Bool {
        dnnl_version().pointee.cpu_runtime == UInt32(DNNL_RUNTIME_OMP) && OpenMP.isAvailable
    }

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_sse41: "sse41"
        case dnnl_cpu_isa_avx: "avx"
        case dnnl_cpu_isa_avx2: "avx2"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        default: "isa 0x" + String(isa.rawValue, radix: 16)
        }
    }
}
