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

/// A SAM 3 model. So far the vision encoder, the text features, the DETR encoder and decoder run;
/// the geometry encoder, scoring and mask decoder are not implemented yet, but their tensors
/// must be present with the shapes the config implies (`SAM3Checkpoint.layout`).
public final class SAM3Model: Sendable {
    public let config: SAM3Config
    public let vision: SAM3VisionEncoder
    public let text: SAM3TextEncoder
    public let detrEncoder: SAM3DetrEncoder
    public let detrDecoder: SAM3DetrDecoder

    /// Parts of the checkpoint the model runs; the others are checked against
    /// `SAM3Checkpoint.layout` (key, shape, dtype) without being read.
    public static let runParts: Set<SAM3Checkpoint.Part> = [.vision, .text, .textProjection, .detrEncoder, .detrDecoder]

    public init(config: SAM3Config, weights: SafetensorsFile) throws {
        if let problem = config.problem() { throw SAM3Error.invalidConfig(file: "(in memory)", reason: problem) }
        self.config = config
        var loader = WeightLoader(file: weights)
        vision = try SAM3VisionEncoder(config: config.visionConfig, loader: &loader)
        text = try SAM3TextEncoder(config: config, loader: &loader)
        detrEncoder = try SAM3DetrEncoder(config: config.detrEncoderConfig, loader: &loader)
        detrDecoder = try SAM3DetrDecoder(config: config.detrDecoderConfig, loader: &loader)
        for (key, shape) in SAM3Checkpoint.layout(config) {
            guard let part = SAM3Checkpoint.Part.of(key), !Self.runParts.contains(part) else { continue }
            try loader.check(key, shape: shape)
        }
        try loader.finish()
    }

    /// Loads `config.json` and `model.safetensors` from a folder in Hugging Face layout.
    public static func load(directory: String) throws -> SAM3Model {
        let config = try SAM3Config.load(file: directory + "/config.json")
        return try SAM3Model(config: config, weights: SafetensorsFile(path: directory + "/model.safetensors"))
    }
}
