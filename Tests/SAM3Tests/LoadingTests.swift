// SAM 3 config decoding and validation, and strict loading by checkpoint key.
import Foundation
import Testing
import Tensor
import CLIP
import SAM3

@Suite("SAM 3 config and strict loading")
struct SAM3LoadingTests {
    @Test("the tiny config decodes with Hugging Face key names")
    func tinyConfig() throws {
        let c = try SAM3Fixtures.config()
        let b = c.visionConfig.backboneConfig
        #expect(b.hiddenSize == 64 && b.intermediateSize == 160 && b.numHiddenLayers == 4 && b.numAttentionHeads == 4)
        #expect(b.imageSize == 224 && b.patchSize == 14 && b.pretrainImageSize == 112 && b.windowSize == 8)
        #expect(b.globalAttnIndexes == [1, 3] && b.hiddenAct == .gelu && b.layerNormEps == 1e-6 && b.ropeTheta == 10_000)
        #expect(b.gridSize == 16 && b.pretrainGridSize == 8 && b.layerScaleInitValue == nil)
        #expect(c.visionConfig.fpnHiddenSize == 32 && c.visionConfig.scaleFactors == [4, 2, 1, 0.5])
        #expect(c.textConfig.hiddenSize == 64 && c.textConfig.vocabSize == 1024 && c.textConfig.maxPositionEmbeddings == 32)
        #expect(c.geometryEncoderConfig.numLayers == 1 && c.geometryEncoderConfig.roiSize == 7)
        #expect(c.detrEncoderConfig.numLayers == 2 && c.detrDecoderConfig.numQueries == 20)
        #expect(c.maskDecoderConfig.hiddenSize == 32 && c.maskDecoderConfig.numUpsamplingStages == 3)
    }

    @Test("an empty config gives the facebook/sam3 defaults")
    func defaults() throws {
        let c = try JSONDecoder().decode(SAM3Config.self, from: Data(#"{"model_type": "sam3"}"#.utf8))
        let b = c.visionConfig.backboneConfig
        #expect(b.hiddenSize == 1024 && b.numHiddenLayers == 32 && b.imageSize == 1008 && b.windowSize == 24)
        #expect(b.gridSize == 72 && b.pretrainGridSize == 24 && b.globalAttnIndexes == [7, 15, 23, 31])
        #expect(c.visionConfig.fpnHiddenSize == 256 && c.textConfig.hiddenSize == 1024 && c.textConfig.numHiddenLayers == 24)
        #expect(c.geometryEncoderConfig.numLayers == 3 && c.detrEncoderConfig.numLayers == 6 && c.detrDecoderConfig.numQueries == 200)
        #expect(c.problem() == nil)
    }

    @Test("out-of-range values are refused with one line naming the field", arguments: [
        (#"{"vision_config": {"backbone_config": {"num_attention_heads": 5}}}"#, "vision_config.backbone_config.num_attention_heads"),
        (#"{"vision_config": {"backbone_config": {"hidden_size": 0}}}"#, "vision_config.backbone_config.hidden_size"),
        (#"{"vision_config": {"backbone_config": {"hidden_size": 96, "num_attention_heads": 16}}}"#, "vision_config.backbone_config.hidden_size / num_attention_heads"),
        (#"{"vision_config": {"backbone_config": {"image_size": 1000}}}"#, "vision_config.backbone_config.image_size"),
        (#"{"vision_config": {"backbone_config": {"image_size": 140000}}}"#, "vision_config.backbone_config.image_size"),
        (#"{"vision_config": {"backbone_config": {"image_size": 14000, "patch_size": 14}}}"#, "tokens"),
        (#"{"vision_config": {"backbone_config": {"global_attn_indexes": [7, 40]}}}"#, "vision_config.backbone_config.global_attn_indexes"),
        (#"{"vision_config": {"backbone_config": {"window_size": -1}}}"#, "vision_config.backbone_config.window_size"),
        (#"{"vision_config": {"scale_factors": [4, 3]}}"#, "vision_config.scale_factors"),
        (#"{"vision_config": {"fpn_hidden_size": 30}}"#, "vision_config.fpn_hidden_size"),
        (#"{"text_config": {"hidden_size": 100, "num_attention_heads": 3}}"#, "text_config.num_attention_heads"),
        (#"{"detr_encoder_config": {"hidden_size": 256, "num_attention_heads": 7}}"#, "detr_encoder_config.num_attention_heads"),
        (#"{"detr_decoder_config": {"num_queries": 0}}"#, "detr_decoder_config.num_queries"),
        (#"{"mask_decoder_config": {"num_upsampling_stages": 0}}"#, "mask_decoder_config.num_upsampling_stages"),
        (#"{"mask_decoder_config": {"num_upsampling_stages": 1}}"#, "mask_decoder_config.num_upsampling_stages"),
        (#"{"mask_decoder_config": {"hidden_size": 36, "num_attention_heads": 4}}"#, "mask_decoder_config.hidden_size"),
        (#"{"detr_decoder_config": {"hidden_size": 128}}"#, "detr_decoder_config.hidden_size 128 differs"),
        (#"{"vision_config": {"scale_factors": [1]}}"#, "vision_config.scale_factors"),
    ])
    func invalid(_ json: String, _ field: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sam3-config-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(json.utf8).write(to: URL(fileURLWithPath: file))
        do {
            _ = try SAM3Config.load(file: file)
            Issue.record("accepted \(json)")
        } catch let error as SAM3Error {
            let text = error.description
            #expect(text.contains(field), "\(text)")
            #expect(!text.contains("\n"))
        }
    }

    @Test("a config of another model type, or with a non-axial RoPE, does not decode")
    func wrongType() throws {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SAM3Config.self, from: Data(#"{"model_type": "clip"}"#.utf8)) }
        let rope = #"{"vision_config": {"backbone_config": {"rope_parameters": {"rope_type": "default"}}}}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SAM3Config.self, from: Data(rope.utf8)) }
    }

    /// The fixture's tensors, changed by `edit`, written to a temporary F32 file and loaded.
    private func load(editing edit: (inout [(String, Tensor)]) -> Void) throws -> SAM3Model {
        let source = try SafetensorsFile(path: SAM3Fixtures.tinyModel + "/model.safetensors")
        var tensors = try source.keys.map { ($0, try source.tensor($0)) }
        edit(&tensors)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sam3-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeSafetensors(tensors, to: path)
        return try SAM3Model(config: SAM3Fixtures.config(), weights: SafetensorsFile(path: path))
    }

    @Test("the unchanged tensors load (F32 copy of the F16 fixture)")
    func unchanged() throws {
        let model = try load { _ in }
        #expect(model.vision.backbone.layers.count == 4)
        #expect(model.vision.backbone.layers.map(\.windowSize) == [8, 0, 8, 0])
        #expect(model.vision.neck.levels.map(\.upsampling.count) == [2, 1, 0, 0])
    }

    @Test("at bf16 every linear layer's product is bf16, the stacked ones too (q | k | v of the backbone, q | k of self-attention)",
          .enabled(if: MatrixPrecision.bf16.unavailableReason() == nil,
                   "bf16 products do not run here: \(MatrixPrecision.bf16.unavailableReason() ?? "")"))
    func bf16Layers() throws {
        let model = try SAM3Model(config: SAM3Fixtures.config(),
                                  weights: SafetensorsFile(path: SAM3Fixtures.tinyModel + "/model.safetensors"), precision: .bf16)
        #expect(model.precision == .bf16)
        for layer in model.vision.backbone.layers {
            #expect([layer.qkvProj, layer.oProj, layer.fc1, layer.fc2].allSatisfy { $0.precision == .bf16 })
        }
        let selfAttentions = model.detrEncoder.layers.map(\.selfAttention) + model.detrDecoder.layers.map(\.selfAttention)
        #expect(!selfAttentions.isEmpty)
        for attention in selfAttentions {
            #expect(attention.queryKeyProj?.precision == .bf16)
            #expect([attention.qProj, attention.kProj, attention.vProj, attention.oProj].allSatisfy { $0.precision == .bf16 })
        }
    }

    @Test("a missing tensor, run or only checked, is an error naming the key", arguments: [
        "vision_encoder.backbone.layers.2.attention.k_proj.bias", "vision_encoder.neck.fpn_layers.3.proj2.bias",
        "geometry_encoder.label_embed.weight", "text_encoder.text_projection.weight", "mask_decoder.pixel_decoder.norms.2.bias",
    ])
    func missing(_ key: String) throws {
        do {
            _ = try load { $0.removeAll { $0.0 == key } }
            Issue.record("loaded without \(key)")
        } catch let CLIPError.missingKey(name, _) {
            #expect(name == key)
        }
    }

    @Test("a tensor of the wrong shape is an error naming the key and both shapes", arguments: [
        ("vision_encoder.backbone.layers.1.mlp.fc1.weight", [64, 160], [160, 64]),
        ("vision_encoder.neck.fpn_layers.0.scale_layers.2.weight", [32, 16, 1, 4], [32, 16, 2, 2]),
        ("geometry_encoder.boxes_pool_project.weight", [32, 32, 5, 5], [32, 32, 7, 7]),  // checked, not run yet
        ("detr_decoder.box_rpb_embed_x.layer2.weight", [8, 32], [4, 32]),
    ])
    func wrongShape(_ key: String, _ bad: [Int], _ expected: [Int]) throws {
        do {
            _ = try load { t in
                let i = t.firstIndex { $0.0 == key }!
                t[i].1 = Tensor(shape: bad, repeating: 0.5)
            }
            Issue.record("loaded a wrong shape")
        } catch let CLIPError.wrongShape(name, wanted, found, _) {
            #expect(name == key && wanted == expected && found == bad)
        }
    }

    @Test("an unused tensor, in any part or outside every part, is an error naming it",
          arguments: ["vision_encoder.backbone.layers.0.layer_scale1.lambda1", "something_else.weight",
                      "detr_decoder.layers.2.mlp.fc1.weight", "geometry_encoder.extra.bias"])
    func unused(_ key: String) throws {
        do {
            _ = try load { $0.append((key, Tensor(shape: [64], repeating: 1))) }
            Issue.record("loaded with an unused \(key)")
        } catch let CLIPError.unusedKeys(keys, _) {
            #expect(keys == [key])
        }
    }

    /// The layouts transformers writes (Tools/make_sam3_fixtures.py: layouts.json).
    private static let layouts: [String: [String: [Int]]] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: SAM3Fixtures.directory + "/layouts.json"))
        return try! JSONDecoder().decode([String: [String: [Int]]].self, from: data)
    }()

    @Test("the checkpoint layout (every key and shape) equals transformers' Sam3Model for the facebook/sam3 defaults and the tiny fixture",
          arguments: ["default", "tiny"])
    func layout(_ name: String) throws {
        let config = name == "tiny" ? try SAM3Fixtures.config()
            : try JSONDecoder().decode(SAM3Config.self, from: Data(#"{"model_type": "sam3"}"#.utf8))
        let ours = SAM3Checkpoint.layout(config)
        let mine = Dictionary(ours.map { ($0.key, $0.shape) }, uniquingKeysWith: { a, _ in a })
        #expect(mine.count == ours.count, "duplicate keys in the layout")
        let theirs = try #require(Self.layouts[name])
        let missing = Set(theirs.keys).subtracting(mine.keys).sorted(), extra = Set(mine.keys).subtracting(theirs.keys).sorted()
        #expect(missing.isEmpty, "not in the Swift layout: \(missing.prefix(5))")
        #expect(extra.isEmpty, "not in transformers' layout: \(extra.prefix(5))")
        let wrong = theirs.filter { mine[$0.key] != nil && mine[$0.key] != $0.value }.keys.sorted()
        #expect(wrong.isEmpty, "shapes differ: \(wrong.prefix(5))")
        if name == "default" { #expect(theirs.count == 1468) }
    }
}
