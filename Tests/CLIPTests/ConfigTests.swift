// config.json decoding: Hugging Face key names, transformers defaults, old `*_config_dict` configs.
import Foundation
import Testing
import Tensor
import CLIP

@Suite("CLIP config")
struct ConfigTests {
    func decode(_ json: String) throws -> CLIPConfig {
        try JSONDecoder().decode(CLIPConfig.self, from: Data(json.utf8))
    }

    @Test("an empty config gets transformers' defaults")
    func defaults() throws {
        let c = try decode("{}")
        #expect(c.projectionDim == 512)
        #expect(c.visionConfig.patchSize == 32 && c.visionConfig.imageSize == 224 && c.visionConfig.hiddenSize == 768)
        #expect(c.textConfig.vocabSize == 49408 && c.textConfig.eosTokenId == 49407 && c.textConfig.maxPositionEmbeddings == 77)
        #expect(c.textConfig.hiddenAct == .quickGELU && c.visionConfig.layerNormEps == 1e-5)
    }

    @Test("ViT-B/32, B/16 and L/14 shapes", arguments: [(32, 768, 12, 12, 512), (16, 768, 12, 12, 512), (14, 1024, 24, 16, 768)])
    func architectures(_ arch: (Int, Int, Int, Int, Int)) throws {
        let (patch, hidden, layers, heads, proj) = arch
        let c = try decode("""
        {"projection_dim": \(proj), "logit_scale_init_value": 2.6592,
         "text_config": {"hidden_size": \(proj), "num_attention_heads": \(proj / 64), "eos_token_id": 2, "bos_token_id": 0},
         "text_config_dict": {"hidden_size": \(proj), "num_attention_heads": \(proj / 64), "intermediate_size": \(proj * 4),
                              "eos_token_id": 2, "projection_dim": \(proj)},
         "vision_config": null,
         "vision_config_dict": {"hidden_size": \(hidden), "intermediate_size": \(hidden * 4), "num_hidden_layers": \(layers),
                                "num_attention_heads": \(heads), "patch_size": \(patch), "image_size": 224, "hidden_act": "quick_gelu"}}
        """)
        #expect(c.visionConfig.patchSize == patch && c.visionConfig.hiddenSize == hidden)
        #expect(c.visionConfig.numHiddenLayers == layers && c.visionConfig.numAttentionHeads == heads)
        #expect(c.visionConfig.gridSize == 224 / patch)
        #expect(c.textConfig.eosTokenId == 2 && c.textConfig.intermediateSize == proj * 4 && c.projectionDim == proj)
    }

    @Test("gelu, list-valued sizes and a bad activation")
    func variants() throws {
        let c = try decode(#"{"vision_config": {"hidden_act": "gelu", "image_size": [336, 336], "patch_size": [14, 14]}, "text_config": {"eos_token_id": [49407]}}"#)
        #expect(c.visionConfig.hiddenAct == .gelu && c.visionConfig.imageSize == 336 && c.visionConfig.patchSize == 14)
        #expect(c.textConfig.eosTokenId == 49407)
        #expect(throws: (any Error).self) { try decode(#"{"vision_config": {"hidden_act": "swish"}}"#) }
    }

    @Test("a bad config.json is an error naming the file")
    func badFile() throws {
        let dir = TempDir()
        let file = dir.write("config.json", Array("{\"projection_dim\": \"x\"}".utf8))
        #expect { try CLIPConfig.load(file: file) } throws: { "\($0)".contains(file) && "\($0)".contains("projection_dim") }
    }

    @Test("the tiny fixture's config")
    func tiny() throws {
        let c = try CLIPConfig.load(file: Fixtures.tinyModel + "/config.json")
        #expect(c.visionConfig.hiddenSize == 64 && c.visionConfig.patchSize == 16 && c.textConfig.hiddenSize == 24)
    }
}

@Suite("bicubic resize")
struct BicubicTests {
    @Test("equals F.interpolate(bicubic, align_corners=False)", arguments: ["9x4", "3x11", "5x7", "32x32"])
    func resize(_ size: String) {
        let parts = size.split(separator: "x").map { Int($0)! }
        let input = Fixtures.golden("bicubic.input")
        expectClose(input.resizedBicubic(height: parts[0], width: parts[1]), Fixtures.golden("bicubic." + size), tolerance: 1e-6, size)
    }

    @Test("text pooling: first end-of-text, or argmax for legacy eos_token_id 2")
    func pooling() throws {
        let model = try Fixtures.model()
        #expect(model.text.pooledPosition([49406, 5, 49407, 49407]) == 2)
        #expect(model.text.pooledPosition([49406, 5, 7]) == 0)
    }
}
