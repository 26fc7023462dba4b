// config.json of `facebook/sam3` (transformers `Sam3Config`) as Codable structs with Hugging Face
// key names and transformers' defaults, and the range checks a config must pass before any weight
// is read.
import Foundation
public import CLIP
public import Tensor

/// `vision_config.backbone_config` (transformers `Sam3ViTConfig`).
public struct SAM3ViTConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 1024
    public var intermediateSize = 4736
    public var numHiddenLayers = 32
    public var numAttentionHeads = 16
    public var numChannels = 3
    public var imageSize = 1008
    public var patchSize = 14
    public var hiddenAct = Activation.gelu
    public var layerNormEps: Float = 1e-6
    public var windowSize = 24
    public var globalAttnIndexes = [7, 15, 23, 31]
    /// Read and range-checked; transformers' `Sam3ViTLayer` has no layer scale (no `lambda1`
    /// parameters exist in its checkpoints), so a value here changes nothing, as there.
    public var layerScaleInitValue: Float? = nil
    public var pretrainImageSize = 336
    public var ropeTheta: Float = 10_000

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numChannels = "num_channels", imageSize = "image_size"
        case patchSize = "patch_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
        case windowSize = "window_size", globalAttnIndexes = "global_attn_indexes"
        case layerScaleInitValue = "layer_scale_init_value", pretrainImageSize = "pretrain_image_size"
        case ropeParameters = "rope_parameters"
    }

    struct RopeParameters: Codable { var rope_theta: Float?; var rope_type: String? }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        hiddenSize = try value(.hiddenSize, hiddenSize)
        intermediateSize = try value(.intermediateSize, intermediateSize)
        numHiddenLayers = try value(.numHiddenLayers, numHiddenLayers)
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
        numChannels = try value(.numChannels, numChannels)
        imageSize = try c.decodeIfPresent(SquareSize.self, forKey: .imageSize)?.value ?? imageSize
        patchSize = try c.decodeIfPresent(SquareSize.self, forKey: .patchSize)?.value ?? patchSize
        hiddenAct = try value(.hiddenAct, hiddenAct)
        layerNormEps = try value(.layerNormEps, layerNormEps)
        windowSize = try value(.windowSize, windowSize)
        globalAttnIndexes = try c.decodeIfPresent([Int]?.self, forKey: .globalAttnIndexes).flatMap { $0 } ?? globalAttnIndexes
        layerScaleInitValue = try c.decodeIfPresent(Float.self, forKey: .layerScaleInitValue)
        pretrainImageSize = try c.decodeIfPresent(SquareSize.self, forKey: .pretrainImageSize)?.value ?? pretrainImageSize
        if let rope = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters) {
            if let type = rope.rope_type, type != "axial" {
                throw DecodingError.dataCorruptedError(forKey: .ropeParameters, in: c,
                                                       debugDescription: "rope_type '\(type)' is not 'axial'")
            }
            ropeTheta = rope.rope_theta ?? ropeTheta
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize); try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers); try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numChannels, forKey: .numChannels); try c.encode(imageSize, forKey: .imageSize)
        try c.encode(patchSize, forKey: .patchSize); try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(layerNormEps, forKey: .layerNormEps); try c.encode(windowSize, forKey: .windowSize)
        try c.encode(globalAttnIndexes, forKey: .globalAttnIndexes)
        try c.encodeIfPresent(layerScaleInitValue, forKey: .layerScaleInitValue)
        try c.encode(pretrainImageSize, forKey: .pretrainImageSize)
        try c.encode(RopeParameters(rope_theta: ropeTheta, rope_type: "axial"), forKey: .ropeParameters)
    }

    /// Patches per side of the input grid (image_size / patch_size).
    public var gridSize: Int { imageSize / patchSize }
    /// Patches per side of the trained position-embedding table (pretrain_image_size / patch_size).
    public var pretrainGridSize: Int { pretrainImageSize / patchSize }
    public var headDim: Int { hiddenSize / numAttentionHeads }
}

/// `vision_config` (transformers `Sam3VisionConfig`).
public struct SAM3VisionConfig: Codable, Sendable, Equatable {
    public var backboneConfig = SAM3ViTConfig()
    public var fpnHiddenSize = 256
    public var backboneFeatureSizes = [[288, 288], [144, 144], [72, 72]]
    public var scaleFactors: [Float] = [4, 2, 1, 0.5]

    enum CodingKeys: String, CodingKey {
        case backboneConfig = "backbone_config", fpnHiddenSize = "fpn_hidden_size"
        case backboneFeatureSizes = "backbone_feature_sizes", scaleFactors = "scale_factors"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backboneConfig = try c.decodeIfPresent(SAM3ViTConfig.self, forKey: .backboneConfig) ?? backboneConfig
        fpnHiddenSize = try c.decodeIfPresent(Int.self, forKey: .fpnHiddenSize) ?? fpnHiddenSize
        backboneFeatureSizes = try c.decodeIfPresent([[Int]]?.self, forKey: .backboneFeatureSizes).flatMap { $0 } ?? backboneFeatureSizes
        scaleFactors = try c.decodeIfPresent([Float]?.self, forKey: .scaleFactors).flatMap { $0 } ?? scaleFactors
    }
}

/// `geometry_encoder_config`, `detr_encoder_config`, `detr_decoder_config` (transformers
/// `Sam3GeometryEncoderConfig`, `Sam3DETREncoderConfig`, `Sam3DETRDecoderConfig`): the fields they share,
/// plus `num_queries` (decoder) and `roi_size` (geometry encoder).
public struct SAM3StackConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 256
    public var numLayers = 6
    public var numAttentionHeads = 8
    public var intermediateSize = 2048
    public var hiddenAct = "relu"
    public var layerNormEps: Float = 1e-6
    public var numQueries = 200
    public var roiSize = 7

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numLayers = "num_layers", numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
        case numQueries = "num_queries", roiSize = "roi_size"
    }

    public init(numLayers: Int = 6) { self.numLayers = numLayers }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        hiddenSize = try value(.hiddenSize, hiddenSize)
        numLayers = try value(.numLayers, -1) // -1: absent, the owner fills in its default
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
        intermediateSize = try value(.intermediateSize, intermediateSize)
        hiddenAct = try value(.hiddenAct, hiddenAct)
        layerNormEps = try value(.layerNormEps, layerNormEps)
        numQueries = try value(.numQueries, numQueries)
        roiSize = try value(.roiSize, roiSize)
    }
}

/// `mask_decoder_config` (transformers `Sam3MaskDecoderConfig`).
public struct SAM3MaskDecoderConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 256
    public var numUpsamplingStages = 3
    public var layerNormEps: Float = 1e-6
    public var numAttentionHeads = 8

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numUpsamplingStages = "num_upsampling_stages"
        case layerNormEps = "layer_norm_eps", numAttentionHeads = "num_attention_heads"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        hiddenSize = try value(.hiddenSize, hiddenSize)
        numUpsamplingStages = try value(.numUpsamplingStages, numUpsamplingStages)
        layerNormEps = try value(.layerNormEps, layerNormEps)
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
    }
}

/// transformers `Sam3Config` (`model_type: sam3`).
public struct SAM3Config: Codable, Sendable, Equatable {
    public var visionConfig = SAM3VisionConfig()
    /// The CLIP text encoder; transformers' SAM 3 defaults when absent (width 1024, 24 layers, context 32).
    public var textConfig = SAM3Config.defaultTextConfig
    public var geometryEncoderConfig = SAM3StackConfig(numLayers: 3)
    public var detrEncoderConfig = SAM3StackConfig(numLayers: 6)
    public var detrDecoderConfig = SAM3StackConfig(numLayers: 6)
    public var maskDecoderConfig = SAM3MaskDecoderConfig()

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case visionConfig = "vision_config", textConfig = "text_config"
        case geometryEncoderConfig = "geometry_encoder_config", detrEncoderConfig = "detr_encoder_config"
        case detrDecoderConfig = "detr_decoder_config", maskDecoderConfig = "mask_decoder_config"
    }

    public static var defaultTextConfig: CLIPTextConfig {
        var t = CLIPTextConfig()
        t.hiddenSize = 1024; t.intermediateSize = 4096; t.projectionDim = 512; t.numHiddenLayers = 24
        t.numAttentionHeads = 16; t.maxPositionEmbeddings = 32; t.hiddenAct = .gelu
        return t
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let type = try c.decodeIfPresent(String.self, forKey: .modelType), type != "sam3" {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c, debugDescription: "model_type is '\(type)', not 'sam3'")
        }
        visionConfig = try c.decodeIfPresent(SAM3VisionConfig.self, forKey: .visionConfig) ?? visionConfig
        textConfig = try c.decodeIfPresent(CLIPTextConfig.self, forKey: .textConfig) ?? textConfig
        func stack(_ key: CodingKeys, layers: Int) throws -> SAM3StackConfig {
            var s = try c.decodeIfPresent(SAM3StackConfig.self, forKey: key) ?? SAM3StackConfig(numLayers: layers)
            if s.numLayers == -1 { s.numLayers = layers }
            return s
        }
        geometryEncoderConfig = try stack(.geometryEncoderConfig, layers: 3)
        detrEncoderConfig = try stack(.detrEncoderConfig, layers: 6)
        detrDecoderConfig = try stack(.detrDecoderConfig, layers: 6)
        maskDecoderConfig = try c.decodeIfPresent(SAM3MaskDecoderConfig.self, forKey: .maskDecoderConfig) ?? maskDecoderConfig
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("sam3", forKey: .modelType)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(geometryEncoderConfig, forKey: .geometryEncoderConfig)
        try c.encode(detrEncoderConfig, forKey: .detrEncoderConfig)
        try c.encode(detrDecoderConfig, forKey: .detrDecoderConfig)
        try c.encode(maskDecoderConfig, forKey: .maskDecoderConfig)
    }

    /// Reads and validates a config.json.
    public static func load(file: String) throws -> SAM3Config {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw SAM3Error.invalidConfig(file: file, reason: "cannot read file")
        }
        let config: SAM3Config
        do { config = try JSONDecoder().decode(SAM3Config.self, from: data) } catch let error as DecodingError {
            throw SAM3Error.invalidConfig(file: file, reason: CLIPConfig.describe(error))
        }
        if let problem = config.problem() { throw SAM3Error.invalidConfig(file: file, reason: problem) }
        return config
    }

    /// Largest size any width, count or image side may have; a config beyond is refused before
    /// anything is allocated.
    public static let sizeLimit = 1 << 16
    /// Most tokens the vision backbone may run (the full model has 72 x 72 = 5184).
    public static let tokenLimit = 1 << 18

    /// The first value out of range, as one line naming the field; nil when the config is usable.
    public func problem() -> String? {
        let b = visionConfig.backboneConfig
        let v = "vision_config.", bb = "vision_config.backbone_config."
        func size(_ field: String, _ value: Int, minimum: Int = 1) -> String? {
            value < minimum || value > Self.sizeLimit ? "\(field) is \(value), outside \(minimum)...\(Self.sizeLimit)" : nil
        }
        func divides(_ field: String, _ heads: Int, _ width: Int, _ widthField: String) -> String? {
            width % heads == 0 ? nil : "\(field) \(heads) does not divide \(widthField) \(width)"
        }
        let checks: [() -> String?] = [
            { size(bb + "hidden_size", b.hiddenSize) }, { size(bb + "intermediate_size", b.intermediateSize) },
            { size(bb + "num_hidden_layers", b.numHiddenLayers) }, { size(bb + "num_attention_heads", b.numAttentionHeads) },
            { size(bb + "num_channels", b.numChannels) }, { size(bb + "image_size", b.imageSize) },
            { size(bb + "patch_size", b.patchSize) }, { size(bb + "pretrain_image_size", b.pretrainImageSize) },
            { size(bb + "window_size", b.windowSize) },
            { divides(bb + "num_attention_heads", b.numAttentionHeads, b.hiddenSize, "hidden_size") },
            { b.headDim % 4 == 0 ? nil : bb + "hidden_size / num_attention_heads is \(b.headDim), not a multiple of 4 (axial RoPE)" },
            { b.hiddenSize % 4 == 0 ? nil : bb + "hidden_size \(b.hiddenSize) is not a multiple of 4 (the FPN's 4x level)" },
            { b.imageSize % b.patchSize == 0 ? nil : bb + "image_size \(b.imageSize) is not a multiple of patch_size \(b.patchSize)" },
            { b.pretrainImageSize % b.patchSize == 0 ? nil : bb + "pretrain_image_size \(b.pretrainImageSize) is not a multiple of patch_size \(b.patchSize)" },
            { b.gridSize * b.gridSize <= Self.tokenLimit ? nil : bb + "image_size / patch_size gives \(b.gridSize * b.gridSize) tokens, more than \(Self.tokenLimit)" },
            { b.globalAttnIndexes.allSatisfy { (0..<b.numHiddenLayers).contains($0) } ? nil
                : bb + "global_attn_indexes \(b.globalAttnIndexes) outside 0..<\(b.numHiddenLayers)" },
            { b.layerNormEps > 0 && b.layerNormEps.isFinite ? nil : bb + "layer_norm_eps \(b.layerNormEps) is not positive" },
            { b.ropeTheta > 1 && b.ropeTheta.isFinite ? nil : bb + "rope_parameters.rope_theta \(b.ropeTheta) is not above 1" },
            { b.layerScaleInitValue.map { $0.isFinite } ?? true ? nil : bb + "layer_scale_init_value is not finite" },
            { size(v + "fpn_hidden_size", visionConfig.fpnHiddenSize) },
            { visionConfig.fpnHiddenSize % 4 == 0 ? nil : v + "fpn_hidden_size \(visionConfig.fpnHiddenSize) is not a multiple of 4 (sine position encoding)" },
            { !visionConfig.scaleFactors.isEmpty && visionConfig.scaleFactors.count <= 8
                && visionConfig.scaleFactors.allSatisfy({ [4, 2, 1, 0.5].contains($0) }) ? nil
                : v + "scale_factors \(visionConfig.scaleFactors): each must be 4, 2, 1 or 0.5" },
            { size("text_config.hidden_size", textConfig.hiddenSize) },
            { size("text_config.num_attention_heads", textConfig.numAttentionHeads) },
            { divides("text_config.num_attention_heads", textConfig.numAttentionHeads, textConfig.hiddenSize, "hidden_size") },
            { size("text_config.vocab_size", textConfig.vocabSize, minimum: 1) },
            { size("text_config.max_position_embeddings", textConfig.maxPositionEmbeddings) },
            { size("text_config.num_hidden_layers", textConfig.numHiddenLayers) },
            { size("text_config.intermediate_size", textConfig.intermediateSize) },
            { size("text_config.projection_dim", textConfig.projectionDim) },
        ] + stackChecks("geometry_encoder_config", geometryEncoderConfig)
          + stackChecks("detr_encoder_config", detrEncoderConfig)
          + stackChecks("detr_decoder_config", detrDecoderConfig) + [
            { size("detr_decoder_config.num_queries", detrDecoderConfig.numQueries) },
            { size("geometry_encoder_config.roi_size", geometryEncoderConfig.roiSize) },
            { size("mask_decoder_config.hidden_size", maskDecoderConfig.hiddenSize) },
            { size("mask_decoder_config.num_attention_heads", maskDecoderConfig.numAttentionHeads) },
            { divides("mask_decoder_config.num_attention_heads", maskDecoderConfig.numAttentionHeads,
                      maskDecoderConfig.hiddenSize, "hidden_size") },
            { maskDecoderConfig.hiddenSize % 8 == 0 ? nil
                : "mask_decoder_config.hidden_size \(maskDecoderConfig.hiddenSize) is not a multiple of 8 (GroupNorm of 8 groups)" },
            { size("mask_decoder_config.num_upsampling_stages", maskDecoderConfig.numUpsamplingStages) },
        ]
        for check in checks { if let problem = check() { return problem } }
        // Widths the parts hand to each other (transformers fails on a mismatch only when it runs).
        let fpn = visionConfig.fpnHiddenSize
        let widths: [(String, Int)] = [("detr_encoder_config.hidden_size", detrEncoderConfig.hiddenSize),
                                       ("detr_decoder_config.hidden_size", detrDecoderConfig.hiddenSize),
                                       ("mask_decoder_config.hidden_size", maskDecoderConfig.hiddenSize),
                                       ("geometry_encoder_config.hidden_size", geometryEncoderConfig.hiddenSize)]
        for (field, width) in widths where width != fpn {
            return "\(field) \(width) differs from vision_config.fpn_hidden_size \(fpn)"
        }
        let levels = visionConfig.scaleFactors.count - 1 // Sam3Model drops the coarsest level
        if levels < 1 { return v + "scale_factors \(visionConfig.scaleFactors): SAM 3 needs at least two levels" }
        if maskDecoderConfig.numUpsamplingStages < levels - 1 {
            return "mask_decoder_config.num_upsampling_stages \(maskDecoderConfig.numUpsamplingStages) is fewer than the \(levels - 1) the FPN levels need"
        }
        return nil
    }

    private func stackChecks(_ name: String, _ s: SAM3StackConfig) -> [() -> String?] {
        func size(_ field: String, _ value: Int) -> String? {
            value < 1 || value > Self.sizeLimit ? "\(name).\(field) is \(value), outside 1...\(Self.sizeLimit)" : nil
        }
        return [
            { size("hidden_size", s.hiddenSize) }, { size("num_layers", s.numLayers) },
            { size("num_attention_heads", s.numAttentionHeads) }, { size("intermediate_size", s.intermediateSize) },
            { s.hiddenSize % s.numAttentionHeads == 0 ? nil
                : "\(name).num_attention_heads \(s.numAttentionHeads) does not divide hidden_size \(s.hiddenSize)" },
        ]
    }
}

/// A size written as one integer or as [height, width] with equal sides (SAM 3 is square).
struct SquareSize: Decodable {
    let value: Int
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) { value = v; return }
        let list = try c.decode([Int].self)
        guard let first = list.first, list.allSatisfy({ $0 == first }) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "sizes \(list) are not one square size")
        }
        value = first
    }
}
