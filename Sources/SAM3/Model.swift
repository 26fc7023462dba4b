// Loading a SAM 3 folder in Hugging Face layout (transformers `Sam3Model`) and its image path.
import Foundation
public import CLIP
public import Tensor

/// The vision encoder's outputs for a batch (transformers `Sam3VisionEncoderOutput`).
public struct SAM3VisionOutput: Sendable {
    /// [B, g * g, D].
    public var lastHiddenState: Tensor
    /// One [B, fpn, h, w] per scale factor.
    public var fpnHiddenStates: [Tensor]
    /// The sine position encoding of each level, same shapes.
    public var fpnPositionEncodings: [Tensor]
}

/// transformers `Sam3VisionModel`: backbone and neck.
public final class SAM3VisionEncoder: Sendable {
    public let config: SAM3VisionConfig
    public let backbone: SAM3ViTBackbone
    public let neck: SAM3VisionNeck

    init(config: SAM3VisionConfig, loader: inout WeightLoader) throws {
        self.config = config
        backbone = try SAM3ViTBackbone(config: config.backboneConfig, loader: &loader, prefix: "vision_encoder.backbone.")
        neck = try SAM3VisionNeck(config: config, loader: &loader, prefix: "vision_encoder.neck.")
    }

    /// Pixels [B, C, image_size, image_size] (normalised with SAM 3's mean and std 0.5).
    public func callAsFunction(_ pixels: Tensor) throws -> SAM3VisionOutput {
        let hidden = try backbone(pixels)
        let (b, n, d) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
        let g = backbone.config.gridSize
        var spatial = Tensor(shape: [b, d, g, g]) // [B, T, D] -> [B, D, g, g]
        for image in 0..<b { for t in 0..<n { for c in 0..<d {
            spatial.storage[(image * d + c) * n + t] = hidden.storage[(image * n + t) * d + c]
        } } }
        let (levels, positions) = neck(spatial)
        return SAM3VisionOutput(lastHiddenState: hidden, fpnHiddenStates: levels, fpnPositionEncodings: positions)
    }
}

/// A SAM 3 model. So far the image path's vision encoder runs; the text encoder, geometry encoder,
/// DETR encoder and decoder, scoring and mask decoder are not implemented yet.
public final class SAM3Model: Sendable {
    public let config: SAM3Config
    public let vision: SAM3VisionEncoder

    /// Top-level prefixes of the checkpoint's parts that are not implemented yet: their tensors are
    /// accepted without a shape check. Every other key must be used by a loaded part.
    public static let pendingPrefixes = ["text_encoder.", "text_projection.", "geometry_encoder.", "detr_encoder.",
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
