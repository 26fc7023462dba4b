import ArgumentParser
import Tensor

/// `--precision f32|bf16`, shared by every command that runs a model (segment, detect, embed, predict, bench: docs/segment.md): bf16 rounds
/// the inputs of the linear layers' matrix products to bfloat16 and accumulates in f32, on CPUs
/// with AVX512_BF16 or AMX-BF16 and the onednn backend; anywhere else it is a usage error.
struct PrecisionOption: ParsableArguments {
    @Option(help: "Matrix-product inputs: f32 (default) or bf16 (f32 accumulation; CPUs with AVX512_BF16 or AMX-BF16 only).")
    var precision: String?

    /// The precision asked for, nil when the option is not given.
    var value: MatrixPrecision? { precision.flatMap { MatrixPrecision(rawValue: $0.lowercased()) } }

    func validate() throws {
        guard let precision else { return }
        guard let value else { throw ValidationError("--precision: '\(precision)' is not one of f32, bf16") }
        if let reason = value.unavailableReason() { throw ValidationError("--precision bf16: \(reason)") }
    }
}
