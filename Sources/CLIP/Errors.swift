// Errors of the CLIP module: values that name the file, key or input at fault.

public enum CLIPError: Error, CustomStringConvertible, Equatable {
    /// A safetensors file that cannot be read or whose header is inconsistent.
    case invalidSafetensors(file: String, reason: String)
    /// A config.json that cannot be decoded.
    case invalidConfig(file: String, reason: String)
    /// A checkpoint key the model needs is absent.
    case missingKey(String, file: String)
    /// A checkpoint key has another shape than the config implies.
    case wrongShape(String, expected: [Int], found: [Int], file: String)
    /// A tensor whose dtype cannot be converted to Float32.
    case unsupportedDType(String, dtype: String, file: String)
    /// Checkpoint keys the model does not use.
    case unusedKeys([String], file: String)
    /// A tensor holds NaN or an infinity: a damaged or badly converted checkpoint.
    case nonFiniteWeights(String, value: Float, file: String)
    /// Input with the wrong shape or values.
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidSafetensors(file, reason): return "cannot read '\(file)': \(reason)"
        case let .invalidConfig(file, reason): return "cannot read config '\(file)': \(reason)"
        case let .missingKey(key, file): return "'\(file)' has no tensor '\(key)'"
        case let .wrongShape(key, expected, found, file):
            return "'\(file)': tensor '\(key)' has shape \(found), expected \(expected)"
        case let .unsupportedDType(key, dtype, file): return "'\(file)': tensor '\(key)' has unsupported dtype \(dtype)"
        case let .unusedKeys(keys, file):
            let shown = keys.prefix(5).joined(separator: "', '")
            return "'\(file)' has \(keys.count) unused tensor(s): '\(shown)'\(keys.count > 5 ? ", ..." : "")"
        case let .invalidInput(reason): return "invalid input: \(reason)"
        case let .nonFiniteWeights(key, value, file): return "'\(file)': tensor '\(key)' holds \(value); the checkpoint is damaged or was converted badly"
        }
    }
}
