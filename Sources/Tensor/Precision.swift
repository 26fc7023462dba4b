// The matrix products' input precision (`--precision`): f32, or bf16 with f32 accumulation.
import CDNNL

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
