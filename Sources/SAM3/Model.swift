// Loading a SAM 3 folder in Hugging Face layout (transformers `Sam3Model`) and its image path.
import Foundation
public import CLIP
public import Tensor

/// transformers `Sam3VisionModel`; so far the backbone (the FPN neck comes next).
public final class SAM3VisionEncoder: Sendable {
    public let config: SAM3VisionConfig
    public let backbone: SAM3ViTBackbone

    init(config: SAM3VisionConfig, loader: inout WeightLoader) throws {
        self.config = config
        backbone = try SAM3ViTBackbone(config: config.backboneConfig, loader: &loader, prefix: "vision_encoder.backbone.")
    }
}

/// A SAM 3 model. So far the vision backbone runs; the FPN neck, the text encoder, geometry encoder,
/// DETR encoder and decoder, scoring and mask decoder are not implemented yet.
public final class SAM3Model: Sendable {
    public let config: SAM3Config
    public let vision: SAM3VisionEncoder

    /// Top-level prefixes of the checkpoint's parts that are not implemented yet: their tensors are
    /// accepted without a shape check. Every other key must be used by a loaded part.
    public static let pendingPrefixes = ["vision_encoder.neck.", "text_encoder.", "text_projection.", "geometry_encoder.", "detr_encoder.",
                                         "detr_decoder.", "mask_decoder.", "dot_product_scoring."]

    public init(config: SAM3Config, weights: SafetensorsFile) throws {
        if let problem = config.problem() { throw SAM3Error.invalidConfig(file: "(in memory)", reason: problem) }
        self.config = config
        var loader = WeightLoader(file: weights)
        vision = try SAM3VisionEncoder(config: config.visionConfig, loader: &loader)
        let unused = weights.keys.filter { key in
            !loader.used.contains(key) && !Self.pendingPrefixes.contains { key.hasPrefix($0) }
        }
        if !unused.isEmpty { throw CLIPError.unusedKeys(unused, file: weights.path) }
    }

    /// Loads `config.json` and `model.safetensors` from a folder in Hugging Face layout.
    public static func load(directory: String) throws -> SAM3Model {
        let config = try SAM3Config.load(file: directory + "/config.json")
        return try SAM3Model(config: config, weights: SafetensorsFile(path: directory + "/model.safetensors"))
    }
}
