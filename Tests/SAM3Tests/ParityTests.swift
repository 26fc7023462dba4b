// SAM 3 (vision encoder, text features, DETR encoder and decoder) against transformers on the tiny random model, stage by stage
// (goldens from Tools/make_sam3_fixtures.py). Tolerance: max abs diff <= 1e-4 x max |golden| per stage.
import Testing
import Tensor
import CLIP
import SAM3

@Suite("SAM 3 parity with transformers")
struct SAM3ParityTests {
    @Test("backbone stages: embeddings (tiled position embeddings), layer norm, each layer (windowed + global RoPE); 1 and 2 workers",
          arguments: ["base", "window6"], [1, 2])
    func backbone(_ variant: String, threads: Int) throws {
        // window6: the same weights with window_size 6, so the 16 x 16 grid pads to 18 x 18 in windowed layers.
        let model = try SAM3Fixtures.model(windowSize: variant == "window6" ? 6 : nil)
        let stages = try model.vision.backbone.stages(SAM3Fixtures.pixels(), threads: threads)
        expectClose(stages.embeddings, SAM3Fixtures.golden(variant + ".embeddings"), variant + " embeddings")
        expectClose(stages.preLayers, SAM3Fixtures.golden(variant + ".pre_layers"), variant + " pre_layers")
        #expect(stages.layers.count == 4)
        for (i, layer) in stages.layers.enumerated() {
            expectClose(layer, SAM3Fixtures.golden(variant + ".layer\(i)"), variant + " layer\(i)")
        }
        expectClose(try model.vision.backbone(SAM3Fixtures.pixels()), SAM3Fixtures.golden(variant + ".last_hidden_state"),
                    variant + " last_hidden_state")
    }

    @Test("FPN levels (scale 4, 2, 1, 0.5) and their sine position encodings")
    func neck() throws {
        let model = try SAM3Fixtures.model()
        let out = try model.vision(SAM3Fixtures.pixels())
        expectClose(out.lastHiddenState, SAM3Fixtures.golden("base.last_hidden_state"), "vision last_hidden_state")
        #expect(out.fpnHiddenStates.count == 4 && out.fpnPositionEncodings.count == 4)
        for level in 0..<4 {
            expectClose(out.fpnHiddenStates[level], SAM3Fixtures.golden("base.fpn\(level)"), "fpn\(level)")
            expectClose(out.fpnPositionEncodings[level], SAM3Fixtures.golden("base.fpn_pos\(level)"), tolerance: 1e-5,
                        "fpn_pos\(level)")
        }
    }

    @Test("text features: text_projection of every token's final-layer-normed state (no mask); with the processor's mask the real tokens agree")
    func text() throws {
        let model = try SAM3Fixtures.model()
        let ids = SAM3Fixtures.meta.text_ids
        let features = try model.text.features(ids: ids)
        expectClose(features, SAM3Fixtures.golden("text.features"), "text features")
        // Right padding under causal attention: the padding mask changes only padded positions.
        let masked = SAM3Fixtures.golden("text.features_masked")
        let (l, e) = (features.shape[1], features.shape[2])
        var kept = [Float](), expected = [Float]()
        for (s, mask) in SAM3Fixtures.meta.text_mask.enumerated() {
            for (i, m) in mask.enumerated() where m == 1 {
                kept += features.storage[(s * l + i) * e ..< (s * l + i + 1) * e]
                expected += masked.storage[(s * l + i) * e ..< (s * l + i + 1) * e]
            }
        }
        #expect(kept.count < features.count, "the fixture has padded positions")
        expectClose(Tensor(shape: [kept.count / e, e], storage: kept), Tensor(shape: [expected.count / e, e], storage: expected),
                    "text features, real tokens, masked golden")
        #expect(throws: CLIPError.self) { try model.text.features(ids: [[1, 2, 1024]]) }
        #expect(throws: CLIPError.self) { try model.text.features(ids: [Array(repeating: 1, count: 33)]) }
    }

    @Test("DETR encoder on the scale-1 level with a masked (padded) prompt and a full one; 1 and 2 workers",
          arguments: [0, 2], [1, 2])
    func detrEncoder(_ prompt: Int, threads: Int) throws {
        let model = try SAM3Fixtures.model()
        let vision = SAM3Fixtures.golden("base.fpn2"), position = SAM3Fixtures.golden("base.fpn_pos2")
        let text = SAM3Fixtures.golden("detr_encoder.prompt\(prompt).text_features")
        let mask = [SAM3Fixtures.meta.text_mask[prompt].map { $0 == 1 }]
        let name = "detr_encoder.prompt\(prompt)"
        expectClose(try model.detrEncoder(vision: vision, position: position, prompt: text, promptMask: mask, layerCount: 1,
                                          threads: threads),
                    SAM3Fixtures.golden(name + ".layer0"), name + " layer0")
        expectClose(try model.detrEncoder(vision: vision, position: position, prompt: text, promptMask: mask, threads: threads),
                    SAM3Fixtures.golden(name + ".last_hidden_state"), name + " last_hidden_state")
    }

    @Test("DETR decoder: per-layer query states, reference boxes, presence logits (box RPB on); 1 and 2 workers",
          arguments: [0, 2], [1, 2])
    func detrDecoder(_ prompt: Int, threads: Int) throws {
        let model = try SAM3Fixtures.model()
        let encoded = SAM3Fixtures.golden("detr_encoder.prompt\(prompt).last_hidden_state")
        let pos = SAM3Fixtures.golden("base.fpn_pos2") // [1, D, 16, 16] -> [1, 256, D]
        let (d, n) = (pos.shape[1], pos.shape[2] * pos.shape[3])
        var flat = Tensor(shape: [1, n, d])
        for c in 0..<d { for t in 0..<n { flat.storage[t * d + c] = pos.storage[c * n + t] } }
        let text = SAM3Fixtures.golden("detr_encoder.prompt\(prompt).text_features")
        let mask = [SAM3Fixtures.meta.text_mask[prompt].map { $0 == 1 }]
        let out = try model.detrDecoder(vision: encoded, position: flat, height: 16, width: 16, prompt: text, promptMask: mask,
                                        threads: threads)
        let name = "detr_decoder.prompt\(prompt)"
        expectClose(out.intermediateHiddenStates, SAM3Fixtures.golden(name + ".intermediate_hidden_states"), name + " hidden states")
        expectClose(out.referenceBoxes, SAM3Fixtures.golden(name + ".reference_boxes"), name + " reference boxes")
        expectClose(out.presenceLogits, SAM3Fixtures.golden(name + ".presence_logits"), name + " presence logits")
    }

    @Test("the whole image path with a text prompt (Sam3Model.forward): logits, boxes, presence, masks, semantic map",
          arguments: [1, 2])
    func segment(threads: Int) throws {
        let model = try SAM3Fixtures.model()
        let out = try model.segment(pixels: SAM3Fixtures.pixels(), ids: [SAM3Fixtures.meta.text_ids[0]],
                                    mask: [SAM3Fixtures.meta.text_mask[0].map { $0 == 1 }], threads: threads)
        expectClose(out.predLogits, SAM3Fixtures.golden("segment.pred_logits"), "pred_logits")
        expectClose(out.predBoxes, SAM3Fixtures.golden("segment.pred_boxes"), "pred_boxes")
        expectClose(out.presenceLogits, SAM3Fixtures.golden("segment.presence_logits"), "presence_logits")
        expectClose(out.predMasks, SAM3Fixtures.golden("segment.pred_masks"), "pred_masks")
        expectClose(out.semanticSeg, SAM3Fixtures.golden("segment.semantic_seg"), "semantic_seg")
    }

    @Test("segment on a batch of two (prompt 0 and prompt 2) equals the two single runs")
    func segmentBatch() throws {
        let model = try SAM3Fixtures.model()
        let one = SAM3Fixtures.pixels()
        let two = Tensor(shape: [2] + one.shape.dropFirst(), storage: one.storage + one.storage)
        let ids = [SAM3Fixtures.meta.text_ids[0], SAM3Fixtures.meta.text_ids[2]]
        let masks = [SAM3Fixtures.meta.text_mask[0].map { $0 == 1 }, SAM3Fixtures.meta.text_mask[2].map { $0 == 1 }]
        let batch = try model.segment(pixels: two, ids: ids, mask: masks)
        for i in 0..<2 {
            let single = try model.segment(pixels: one, ids: [ids[i]], mask: [masks[i]])
            func half(_ t: Tensor) -> Tensor {
                let n = t.count / 2
                return Tensor(shape: [1] + t.shape.dropFirst(), storage: Array(t.storage[i * n ..< (i + 1) * n]))
            }
            expectClose(half(batch.predLogits), single.predLogits, tolerance: 1e-5, "batch logits \(i)")
            expectClose(half(batch.predBoxes), single.predBoxes, tolerance: 1e-5, "batch boxes \(i)")
            expectClose(half(batch.presenceLogits), single.presenceLogits, tolerance: 1e-5, "batch presence \(i)")
            expectClose(half(batch.predMasks), single.predMasks, tolerance: 1e-5, "batch masks \(i)")
            expectClose(half(batch.semanticSeg), single.semanticSeg, tolerance: 1e-5, "batch semantic \(i)")
        }
        // The prompts differ, so the two halves must too.
        #expect(batch.predLogits.storage[..<20] != batch.predLogits.storage[20...])
    }

    @Test("segment refuses a prompt count other than the image count, and left padding")
    func segmentInputs() throws {
        let model = try SAM3Fixtures.model()
        let ids = SAM3Fixtures.meta.text_ids[0]
        #expect(throws: SAM3Error.self) { try model.segment(pixels: SAM3Fixtures.pixels(), ids: [ids, ids]) }
        #expect(throws: SAM3Error.self) {
            try model.segment(pixels: SAM3Fixtures.pixels(), ids: [ids], mask: [[false] + Array(repeating: true, count: 31)])
        }
    }

    @Test("DETR encoder end to end from pixels and token ids (prompt 0)")
    func detrEncoderFromInputs() throws {
        let model = try SAM3Fixtures.model()
        let vision = try model.vision(SAM3Fixtures.pixels())
        let text = try model.text.features(ids: [SAM3Fixtures.meta.text_ids[0]])
        let mask = [SAM3Fixtures.meta.text_mask[0].map { $0 == 1 }]
        let encoded = try model.detrEncoder(vision: vision.fpnHiddenStates[2], position: vision.fpnPositionEncodings[2],
                                            prompt: text, promptMask: mask)
        expectClose(encoded, SAM3Fixtures.golden("detr_encoder.prompt0.last_hidden_state"), "detr encoder from inputs")
        #expect(throws: SAM3Error.self) {
            try model.detrEncoder(vision: vision.fpnHiddenStates[2], position: vision.fpnPositionEncodings[2],
                                  prompt: text, promptMask: [Array(repeating: false, count: 32)])
        }
    }

    @Test("the box bias MLP with kept hidden buffers gives the bytes of fresh ones, the buffers reused at other row counts",
          arguments: [1, 2])
    func mlpKeptBuffers(threads: Int) throws {
        let model = try SAM3Fixtures.model()
        let hidden = (1..<3).map { _ in ScratchBuffer() }
        for (mlp, rows) in [(model.detrDecoder.boxRPBEmbedX, 700), (model.detrDecoder.boxRPBEmbedY, 90), (model.detrDecoder.boxRPBEmbedX, 333)] {
            let x = Tensor(shape: [rows, 2], storage: (0..<rows * 2).map { Float(($0 * 37) % 101) / 50 - 1 })
            let kept = mlp(x, workers: threads, hidden: hidden), fresh = mlp(x, workers: threads)
            #expect(kept.shape == fresh.shape && kept.storage == fresh.storage, "rows \(rows)")
        }
    }

    @Test("a batch of two equal images gives the single-image result twice")
    func batch() throws {
        let model = try SAM3Fixtures.model()
        let one = SAM3Fixtures.pixels()
        let two = Tensor(shape: [2] + one.shape.dropFirst(), storage: one.storage + one.storage)
        let hidden = try model.vision.backbone(two)
        let golden = SAM3Fixtures.golden("base.last_hidden_state")
        expectClose(hidden, Tensor(shape: [2] + golden.shape.dropFirst(), storage: golden.storage + golden.storage), "batch of 2")
    }

    @Test("the input must be [B, 3, image_size, image_size]")
    func inputShape() throws {
        let model = try SAM3Fixtures.model()
        #expect(throws: SAM3Error.self) { try model.vision(Tensor(shape: [1, 3, 112, 112])) }
        #expect(throws: SAM3Error.self) { try model.vision(Tensor(shape: [1, 1, 224, 224])) }
    }
}
