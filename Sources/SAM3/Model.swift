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
    public func callAsFunction(_ pixels: Tensor, threads: Int? = nil) throws -> SAM3VisionOutput {
        let hidden = try backbone(pixels, threads: threads)
        let (b, d, g) = (hidden.shape[0], hidden.shape[2], backbone.config.gridSize)
        // [B, T, D] -> [B, D, g, g]
        let spatial = hidden.swappingLastAxes(workers: max(1, threads ?? defaultThreads())).reshaped([b, d, g, g])
        let (levels, positions) = neck(spatial)
        return SAM3VisionOutput(lastHiddenState: hidden, fpnHiddenStates: levels, fpnPositionEncodings: positions)
    }
}

/// A SAM 3 model: the image path with text prompts runs (`segment`); the geometry encoder (box
/// prompts) is not implemented yet, but its tensors must be present with the shapes the config
/// implies (`SAM3Checkpoint.layout`).
public final class SAM3Model: Sendable {
    public let config: SAM3Config
    public let vision: SAM3VisionEncoder
    public let text: SAM3TextEncoder
    public let detrEncoder: SAM3DetrEncoder
    public let detrDecoder: SAM3DetrDecoder
    public let scoring: SAM3DotProductScoring
    public let maskDecoder: SAM3MaskDecoder
    /// The precision of the linear layers' products.
    public var precision: MatrixPrecision { vision.backbone.layers.first?.qkvProj.precision ?? .f32 }

    /// Parts of the checkpoint the model runs; the others are checked against
    /// `SAM3Checkpoint.layout` (key, shape, dtype) without being read.
    public static let runParts: Set<SAM3Checkpoint.Part> = [.vision, .text, .textProjection, .detrEncoder, .detrDecoder, .scoring, .maskDecoder]

    /// `precision` is that of the linear layers' products (bf16: `MatrixPrecision`).
    public init(config: SAM3Config, weights: SafetensorsFile, precision: MatrixPrecision = .f32) throws {
        if let problem = config.problem() { throw SAM3Error.invalidConfig(file: "(in memory)", reason: problem) }
        self.config = config
        var loader = try WeightLoader(file: weights, precision: precision)
        vision = try SAM3VisionEncoder(config: config.visionConfig, loader: &loader)
        text = try SAM3TextEncoder(config: config, loader: &loader)
        detrEncoder = try SAM3DetrEncoder(config: config.detrEncoderConfig, loader: &loader)
        detrDecoder = try SAM3DetrDecoder(config: config.detrDecoderConfig, loader: &loader)
        scoring = try SAM3DotProductScoring(config: config, loader: &loader)
        maskDecoder = try SAM3MaskDecoder(config: config.maskDecoderConfig, loader: &loader)
        for (key, shape) in SAM3Checkpoint.layout(config) {
            guard let part = SAM3Checkpoint.Part.of(key), !Self.runParts.contains(part) else { continue }
            try loader.check(key, shape: shape)
        }
        try loader.finish()
    }

    /// Loads `config.json` and `model.safetensors` from a folder in Hugging Face layout.
    public static func load(directory: String, precision: MatrixPrecision = .f32) throws -> SAM3Model {
        let config = try SAM3Config.load(file: directory + "/config.json")
        return try SAM3Model(config: config, weights: SafetensorsFile(path: directory + "/model.safetensors"), precision: precision)
    }

    /// transformers `Sam3Model.forward(pixel_values, input_ids, attention_mask)` without box prompts:
    /// one text prompt per image. `ids` [B][L] (L <= max_position_embeddings), `mask` true for real
    /// tokens (nil: all real; padding must be on the right).
    public func segment(pixels: Tensor, ids: [[Int]], mask: [[Bool]]? = nil, threads: Int? = nil) throws -> SAM3Output {
        try Self.checkPrompts(ids: ids, mask: mask, images: pixels.rank == 4 ? pixels.shape[0] : 0)
        let workers = max(1, threads ?? defaultThreads())
        let vision = try self.vision(pixels, threads: workers)
        return try segment(vision: vision, ids: ids, mask: mask, threads: workers)
    }

    /// One prompt per image; a mask has the shape of the ids, padding on the right.
    static func checkPrompts(ids: [[Int]], mask: [[Bool]]?, images b: Int) throws {
        guard ids.count == b else { throw SAM3Error.invalidInput("\(ids.count) prompts for \(b) images: one prompt per image") }
        if let mask {
            guard mask.count == b, zip(mask, ids).allSatisfy({ $0.count == $1.count }) else {
                throw SAM3Error.invalidInput("the prompt mask must have the shape of the ids")
            }
            for row in mask where row.contains(true) {
                let real = row.prefix { $0 }.count
                guard !row[real...].contains(true) else { throw SAM3Error.invalidInput("prompt padding must be on the right") }
            }
        }
    }

    /// `segment` on vision features computed once (`vision(pixels)`), for several prompts on
    /// one image: `ids` holds one prompt per image of the batch the features were computed for.
    public func segment(vision: SAM3VisionOutput, ids: [[Int]], mask: [[Bool]]? = nil, threads: Int? = nil) throws -> SAM3Output {
        let b = vision.lastHiddenState.shape[0]
        try Self.checkPrompts(ids: ids, mask: mask, images: b)
        let workers = max(1, threads ?? defaultThreads())
        return try segment(vision: vision, text: try self.text.features(ids: ids, threads: workers), mask: mask, threads: workers)
    }

    /// `segment` on vision features and text features both computed once (`text.features(ids:)`
    /// [B, L, D], one prompt per image of the batch): the DETR encoder and decoder, scoring and
    /// mask decoder only, as SegEarth-OV3 runs every class prompt on a tile's features.
    public func segment(vision: SAM3VisionOutput, text: Tensor, mask: [[Bool]]? = nil, threads: Int? = nil) throws -> SAM3Output {
        let b = vision.lastHiddenState.shape[0]
        guard text.rank == 3, text.shape[0] == b else { throw SAM3Error.invalidInput("text features for \(text.shape.first ?? 0) prompts and \(b) images: one prompt per image") }
        if let mask, mask.count != b || mask.contains(where: { $0.count != text.shape[1] }) {
            throw SAM3Error.invalidInput("the prompt mask must have the shape of the text features")
        }
        let workers = max(1, threads ?? defaultThreads())
        // Sam3Model drops the coarsest FPN level and runs the encoder on the last remaining one.
        let levels = Array(vision.fpnHiddenStates.dropLast()), positions = Array(vision.fpnPositionEncodings.dropLast())
        guard let level = levels.last, let position = positions.last else {
            throw SAM3Error.invalidInput("SAM 3 needs at least two FPN levels")
        }
        let (d, h, w) = (level.shape[1], level.shape[2], level.shape[3])
        // Token rows [B, H * W, D] of the level and its positions; the positions serve the encoder and the decoder.
        let flatPosition = position.reshaped([b, d, h * w]).swappingLastAxes(workers: workers)
        let encoded = try detrEncoder.encode(tokens: level.reshaped([b, d, h * w]).swappingLastAxes(workers: workers),
                                             positions: flatPosition, prompt: text, promptMask: mask, layerCount: nil, workers: workers)
        let decoded = try detrDecoder(vision: encoded, position: flatPosition, height: h, width: w, prompt: text,
                                      promptMask: mask, threads: workers)
        let layers = decoded.intermediateHiddenStates.shape[0], q = decoded.intermediateHiddenStates.shape[2]
        let l = text.shape[1], e = text.shape[2]
        let (h0, w0) = (levels[0].shape[2], levels[0].shape[3])
        // The mask logits are the largest output (200 queries at 288 x 288: 66 MB an image): one
        // image's are returned as the decoder wrote them, several are copied once into room
        // reserved for all (appending would copy them again as the array grows).
        var logits = [Float](), masks = [Float](), semantic = [Float]()
        masks.reserveCapacity(b > 1 ? b * q * h0 * w0 : 0)
        var onlyMasks: Tensor?
        for image in 0..<b {
            let start = ((layers - 1) * b + image) * q * d
            let queries = Tensor(shape: [q, d], storage: Array(decoded.intermediateHiddenStates.storage[start ..< start + q * d]))
            let prompt = text.slice(image..<image + 1).reshaped([l, e])
            logits += scoring.logits(queries: queries, prompt: prompt, promptMask: mask?[image])
            let out = maskDecoder(queries: queries, levels: levels.map { $0.slice(image..<image + 1) },
                                  encoded: encoded.slice(image..<image + 1).reshaped([h * w, d]),
                                  prompt: prompt, promptMask: mask?[image], workers: workers)
            if b == 1 { onlyMasks = out.masks } else { masks += out.masks.storage }
            semantic += out.semantic.storage
        }
        var corners = decoded.finalBoxes
        for i in 0..<b * q {
            let (cx, cy, bw, bh) = (corners.storage[4 * i], corners.storage[4 * i + 1], corners.storage[4 * i + 2], corners.storage[4 * i + 3])
            corners.storage.replaceSubrange(4 * i ..< 4 * i + 4, with: [cx - 0.5 * bw, cy - 0.5 * bh, cx + 0.5 * bw, cy + 0.5 * bh])
        }
        let presence = Array(decoded.presenceLogits.storage[(layers - 1) * b ..< layers * b])
        return SAM3Output(predLogits: Tensor(shape: [b, q], storage: logits), predBoxes: corners,
                          presenceLogits: Tensor(shape: [b, 1], storage: presence),
                          predMasks: onlyMasks?.reshaped([b, q, h0, w0]) ?? Tensor(shape: [b, q, h0, w0], storage: masks),
                          semanticSeg: Tensor(shape: [b, 1, h0, w0], storage: semantic))
    }
}

/// transformers `Sam3ImageSegmentationOutput` (the final layer's values).
public struct SAM3Output: Sendable {
    /// Query logits against the prompt, [B, Q] (clamped to -12...12).
    public var predLogits: Tensor
    /// Boxes (x1, y1, x2, y2), relative to the image (0...1), [B, Q, 4].
    public var predBoxes: Tensor
    /// Whether the prompt is present at all, [B, 1] (clamped to -10...10).
    public var presenceLogits: Tensor
    /// Instance mask logits at the finest FPN level (4x the patch grid), [B, Q, h0, w0].
    public var predMasks: Tensor
    /// Semantic logits at the same level, [B, 1, h0, w0].
    public var semanticSeg: Tensor
}
