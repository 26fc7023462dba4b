// Errors of the SAM3 module (loading errors by key come from CLIP's WeightLoader as CLIPError).

public enum SAM3Error: Error, CustomStringConvertible, Equatable {
    /// A config.json that cannot be read, decoded, or holds a value out of range (one line naming the field).
    case invalidConfig(file: String, reason: String)
    /// Input with the wrong shape or values.
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidConfig(file, reason): return "cannot use config '\(file)': \(reason)"
        case let .invalidInput(reason): return "invalid input: \(reason)"
        }
    }
}
