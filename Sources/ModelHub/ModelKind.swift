public import Foundation

/// Which engine a model folder is for, from `model_type` in its config.json (nothing else is read).
public enum ModelKind: String, Sendable, Equatable {
    /// transformers `CLIPModel` (`model_type` "clip").
    case clip
    /// transformers `Sam3Model` (`model_type` "sam3").
    case sam3

    /// Reads `model_type` from `directory/config.json`.
    /// - Throws: `ModelKindError` naming the file: missing, not JSON, or another model type.
    public static func detect(directory: URL) throws -> ModelKind {
        let file = directory.appendingPathComponent("config.json").path
        guard let data = FileManager.default.contents(atPath: file) else { throw ModelKindError.unreadable(file: file) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let config = object as? [String: Any] else {
            throw ModelKindError.notJSON(file: file)
        }
        let type = config["model_type"] as? String
        guard let type, let kind = ModelKind(rawValue: type) else { throw ModelKindError.unsupported(file: file, modelType: type) }
        return kind
    }
}

/// Why a model folder's kind cannot be told; one line naming the file.
public enum ModelKindError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String)
    case notJSON(file: String)
    /// `model_type` is absent (nil) or neither "clip" nor "sam3".
    case unsupported(file: String, modelType: String?)

    public var description: String {
        switch self {
        case let .unreadable(file): return "cannot read model config '\(file)'"
        case let .notJSON(file): return "model config '\(file)' is not a JSON object"
        case let .unsupported(file, type):
            let found = type.map { "model_type '\($0)'" } ?? "no model_type"
            return "model config '\(file)' has \(found); landscribe runs CLIP (model_type 'clip') and SAM 3 (model_type 'sam3') models"
        }
    }
}
