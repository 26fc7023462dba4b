// config.json as Codable structs with Hugging Face key names and transformers' defaults.
public import Foundation
public import Tensor

/// `text_config` of a CLIPConfig (transformers `CLIPTextConfig`).
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var projectionDim = 512
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = Activation.quickGELU
    public var layerNormEps: Float = 1e-5
    public var padTokenId = 1
    public var bosTokenId = 49406
    /// 2 in configs written before transformers PR #24773: then the pooled token is the argmax of the ids.
    public var eosTokenId = 49407

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case projectionDim = "projection_dim", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        func value(_ key: CodingKeys, _ fallback: Int) throws -> Int { try ConfigChecks.integer(c, key) ?? fallback }
        vocabSize = try value(.vocabSize, vocabSize)
        hiddenSize = try value(.hiddenSize, hiddenSize)
        intermediateSize = try value(.intermediateSize, intermediateSize)
        projectionDim = try value(.projectionDim, projectionDim)
        numHiddenLayers = try value(.numHiddenLayers, numHiddenLayers)
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
        maxPositionEmbeddings = try value(.maxPositionEmbeddings, maxPositionEmbeddings)
        hiddenAct = try value(.hiddenAct, hiddenAct)
        layerNormEps = try value(.layerNormEps, layerNormEps)
        padTokenId = try (c.decodeIfPresent(IntOrList.self, forKey: .padTokenId)?.first) ?? padTokenId
        bosTokenId = try (c.decodeIfPresent(IntOrList.self, forKey: .bosTokenId)?.first) ?? bosTokenId
        eosTokenId = try (c.decodeIfPresent(IntOrList.self, forKey: .eosTokenId)?.first) ?? eosTokenId
    }
}

/// `vision_config` of a CLIPConfig (transformers `CLIPVisionConfig`).
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var projectionDim = 512
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var numChannels = 3
    public var imageSize = 224
    public var patchSize = 32
    public var hiddenAct = Activation.quickGELU
    public var layerNormEps: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", projectionDim = "projection_dim"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        func value(_ key: CodingKeys, _ fallback: Int) throws -> Int { try ConfigChecks.integer(c, key) ?? fallback }
        hiddenSize = try value(.hiddenSize, hiddenSize)
        intermediateSize = try value(.intermediateSize, intermediateSize)
        projectionDim = try value(.projectionDim, projectionDim)
        numHiddenLayers = try value(.numHiddenLayers, numHiddenLayers)
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
        numChannels = try value(.numChannels, numChannels)
        imageSize = try (c.decodeIfPresent(IntOrList.self, forKey: .imageSize)?.first) ?? imageSize
        patchSize = try (c.decodeIfPresent(IntOrList.self, forKey: .patchSize)?.first) ?? patchSize
        hiddenAct = try value(.hiddenAct, hiddenAct)
        layerNormEps = try value(.layerNormEps, layerNormEps)
    }

    /// Patches per side of the trained grid.
    public var gridSize: Int { imageSize / patchSize }
}

/// transformers `CLIPConfig`.
public struct CLIPConfig: Codable, Sendable, Equatable {
    public var textConfig = CLIPTextConfig()
    public var visionConfig = CLIPVisionConfig()
    public var projectionDim = 512
    public var logitScaleInitValue: Float = 2.6592

    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config", visionConfig = "vision_config", projectionDim = "projection_dim"
        case logitScaleInitValue = "logit_scale_init_value"
        case textConfigDict = "text_config_dict", visionConfigDict = "vision_config_dict"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Old configs carry `*_config_dict`, which transformers applies over `*_config`.
        textConfig = try c.decodeIfPresent(CLIPTextConfig.self, forKey: .textConfigDict)
            ?? c.decodeIfPresent(CLIPTextConfig.self, forKey: .textConfig) ?? CLIPTextConfig()
        visionConfig = try c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfigDict)
            ?? c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfig) ?? CLIPVisionConfig()
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? projectionDim
        logitScaleInitValue = try c.decodeIfPresent(Float.self, forKey: .logitScaleInitValue) ?? logitScaleInitValue
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(projectionDim, forKey: .projectionDim)
        try c.encode(logitScaleInitValue, forKey: .logitScaleInitValue)
    }

    /// Reads a config.json.
    public static func load(file: String) throws -> CLIPConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw CLIPError.invalidConfig(file: file, reason: "cannot read file")
        }
        return try decode(data: data, file: file)
    }

    /// Decodes and checks the bytes of a config.json; `file` names it in messages. The fuzz
    /// target FuzzConfig enters here.
    public static func decode(data: Data, file: String) throws -> CLIPConfig {
        let config: CLIPConfig
        do { config = try JSONDecoder().decode(CLIPConfig.self, from: data) } catch let error as DecodingError {
            throw CLIPError.invalidConfig(file: file, reason: Self.describe(error))
        }
        if let problem = config.problem { throw CLIPError.invalidConfig(file: file, reason: problem) }
        return config
    }

    /// The first value out of range, as "field: value must be ..."; nil for a config this code
    /// can run. Checked before anything is allocated, so a hostile config.json cannot divide by
    /// zero, trap, overflow or ask for terabytes.
    public var problem: String? {
        var checks = ConfigChecks()
        let t = textConfig, v = visionConfig
        checks.range("text_config.vocab_size", t.vocabSize, 1...1_000_000)
        checks.transformer("text_config", hidden: t.hiddenSize, intermediate: t.intermediateSize, layers: t.numHiddenLayers, heads: t.numAttentionHeads)
        checks.range("text_config.max_position_embeddings", t.maxPositionEmbeddings, 2...4096)
        checks.range("text_config.projection_dim", t.projectionDim, 1...16384)
        checks.positive("text_config.layer_norm_eps", t.layerNormEps)
        checks.range("text_config.pad_token_id", t.padTokenId, 0...max(0, t.vocabSize - 1))
        checks.range("text_config.bos_token_id", t.bosTokenId, 0...max(0, t.vocabSize - 1))
        checks.range("text_config.eos_token_id", t.eosTokenId, 0...max(0, t.vocabSize - 1))
        checks.transformer("vision_config", hidden: v.hiddenSize, intermediate: v.intermediateSize, layers: v.numHiddenLayers, heads: v.numAttentionHeads)
        checks.range("vision_config.num_channels", v.numChannels, 3...3)
        checks.range("vision_config.image_size", v.imageSize, 1...4096)
        checks.range("vision_config.patch_size", v.patchSize, 1...max(1, v.imageSize))
        checks.range("vision_config.projection_dim", v.projectionDim, 1...16384)
        checks.positive("vision_config.layer_norm_eps", v.layerNormEps)
        checks.range("projection_dim", projectionDim, 1...16384)
        if !logitScaleInitValue.isFinite { checks.fail("logit_scale_init_value: \(logitScaleInitValue) must be a finite number") }
        if checks.problem == nil {
            // Parameters, roughly: each layer's attention (4 h^2) and MLP (2 h i); at most 4 G
            // (16 GB of Float32), far above any CLIP published.
            let layers = Double(t.numHiddenLayers) * Double(t.hiddenSize) * (4 * Double(t.hiddenSize) + 2 * Double(t.intermediateSize))
                + Double(v.numHiddenLayers) * Double(v.hiddenSize) * (4 * Double(v.hiddenSize) + 2 * Double(v.intermediateSize))
            if layers > 4e9 { checks.fail("the model would have about \(Int(layers / 1e9)) billion parameters; at most 4 billion are supported") }
        }
        return checks.problem
    }

    /// A decoding error as "path.to.field: what is wrong", for one-line config errors (SAM 3's
    /// config uses it too).
    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .keyNotFound(_, context):
            return "\(path(context)): \(context.debugDescription)"
        case let .dataCorrupted(context):
            return "\(path(context).isEmpty ? "" : path(context) + ": ")\(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A config value written either as an integer or as a list of integers (first one used).
struct IntOrList: Decodable {
    let first: Int
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let value = try? c.decode(Int.self) {
            first = value
        } else {
            let list = try c.decode([Int].self)
            guard let head = list.first else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "empty list")
            }
            first = head
        }
    }
}

/// Range checks of config fields: the first failure is kept, as one line naming the field.
struct ConfigChecks {
    /// An integer field, with a message that names it when the JSON holds a fraction, a huge
    /// number or a string (Foundation's decoder says only "not valid JSON" for 64.5).
    static func integer<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> Int? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let d = try? c.decode(Double.self, forKey: key) {
            guard d == d.rounded(), abs(d) <= 9.0e18 else {
                throw DecodingError.typeMismatch(Int.self, .init(codingPath: c.codingPath + [key], debugDescription: "\(d) is not a whole number in range"))
            }
            if let i = try? c.decode(Int.self, forKey: key) { return i }
            return Int(d)
        }
        throw DecodingError.typeMismatch(Int.self, .init(codingPath: c.codingPath + [key], debugDescription: "expected a whole number"))
    }

    private(set) var problem: String?

    mutating func fail(_ message: String) { if problem == nil { problem = message } }

    mutating func range(_ field: String, _ value: Int, _ allowed: ClosedRange<Int>) {
        if !allowed.contains(value) {
            fail(allowed.lowerBound == allowed.upperBound ? "\(field): \(value) must be \(allowed.lowerBound)"
                 : "\(field): \(value) must be from \(allowed.lowerBound) to \(allowed.upperBound)")
        }
    }

    mutating func positive(_ field: String, _ value: Float) {
        if !(value.isFinite && value > 0) { fail("\(field): \(value) must be a positive finite number") }
    }

    /// Width, MLP width, depth and heads of a transformer: heads divide the width.
    mutating func transformer(_ part: String, hidden: Int, intermediate: Int, layers: Int, heads: Int) {
        range("\(part).hidden_size", hidden, 1...16384)
        range("\(part).intermediate_size", intermediate, 1...65536)
        range("\(part).num_hidden_layers", layers, 1...256)
        range("\(part).num_attention_heads", heads, 1...max(1, hidden))
        if problem == nil, hidden % heads != 0 {
            fail("\(part).num_attention_heads: \(heads) does not divide hidden_size \(hidden)")
        }
    }
}
