// The Swift encoders against transformers on the tiny random CLIP (goldens from Tools/make_clip_fixtures.py).
import Testing
import Tensor
import CLIP

@Suite("CLIP parity with transformers")
struct ParityTests {
    @Test("get_text_features", arguments: ["text77", "text12"])
    func textFeatures(_ name: String) throws {
        let model = try Fixtures.model()
        let ids = name == "text77" ? Fixtures.meta.ids77 : Fixtures.meta.ids12
        expectClose(try model.textFeatures(ids: ids), Fixtures.golden(name + ".features"), name)
    }

    @Test("get_image_features, interpolated position embeddings", arguments: ["image224", "image512", "image320x480"], [1, 2])
    func imageFeatures(_ name: String, threads: Int) throws {
        let model = try Fixtures.model()
        let pixels = Fixtures.pixels(Fixtures.meta.images[name]!)
        expectClose(try model.imageFeatures(pixels: pixels, threads: threads), Fixtures.golden(name + ".features"), name)
    }

    @Test("a batch of 3 on 2 workers (two images one per worker, one split) matches 1 worker")
    func oddBatchOnTwoWorkers() throws {
        let model = try Fixtures.model()
        let pair = Fixtures.pixels(Fixtures.meta.images["image224"]!) // 2 images
        let plane = pair.count / 2
        let pixels = Tensor(shape: [3] + pair.shape.dropFirst(), storage: pair.storage + pair.storage[plane...])
        let one = try model.imageFeatures(pixels: pixels, threads: 1)
        expectClose(try model.imageFeatures(pixels: pixels, threads: 2), one, tolerance: 1e-5, "batch 3, 2 workers")
        expectClose(Tensor(shape: [2] + one.shape.dropFirst(), storage: Array(one.storage[..<(2 * one.shape[1])])),
                    Fixtures.golden("image224.features"), "batch 3, first two")
    }

    @Test("hidden states: last layer input and last_hidden_state", arguments: ["image512", "image320x480"])
    func hiddenStates(_ name: String) throws {
        let model = try Fixtures.model()
        let pixels = Fixtures.pixels(Fixtures.meta.images[name]!)
        let stride = Fixtures.meta.token_stride[name]!
        let before = try model.vision.hiddenStateBeforeLastLayer(pixels: pixels)
        let spec = Fixtures.meta.images[name]!
        #expect(before.shape == [1, 1 + (spec.height / 16) * (spec.width / 16), 64])
        expectClose(everyNthToken(before, stride), Fixtures.golden(name + ".before_last_layer"), name + " before last")
        let last = try model.vision.hiddenStates(pixels: pixels, layerCount: model.vision.layers.count)
        expectClose(everyNthToken(last, stride), Fixtures.golden(name + ".last_hidden_state"), name + " last")
    }

    @Test("hidden_act gelu (erf)", arguments: ["text77", "image224", "image512", "image320x480"])
    func geluVariant(_ name: String) throws {
        let model = try Fixtures.model(activation: .gelu)
        let actual = name.hasPrefix("text")
            ? try model.textFeatures(ids: Fixtures.meta.ids77)
            : try model.imageFeatures(pixels: Fixtures.pixels(Fixtures.meta.images[name]!))
        expectClose(actual, Fixtures.golden("gelu." + name + ".features"), "gelu " + name)
    }

    @Test("the image tower's linear layers pack their weights on the onednn backend; the text tower's never do")
    func packedImageTower() throws {
        let model = try Fixtures.model()
        let onednn = MatrixBackend.current.kind == .onednn
        let image = model.vision.layers.flatMap { [$0.qProj, $0.kProj, $0.vProj, $0.outProj, $0.fc1, $0.fc2] }
            + [model.vision.patchEmbedding, model.visualProjection]
        let text = model.text.layers.flatMap { [$0.qProj, $0.kProj, $0.vProj, $0.outProj, $0.fc1, $0.fc2] } + [model.textProjection]
        #expect(image.allSatisfy { ($0.packed != nil) == onednn && $0.precision == .f32 })
        #expect(text.allSatisfy { $0.packed == nil })
    }

    @Test("last layer pieces are exposed")
    func lastLayerPieces() throws {
        let model = try Fixtures.model()
        let last = try #require(model.vision.layers.last)
        #expect(last.heads == 4 && last.headDim == 16)
        #expect(last.qProj.weight.shape == [64, 64] && last.qProj.bias?.shape == [64])
        #expect(model.visualProjection.weight.shape == [32, 64] && model.visualProjection.bias == nil)
        #expect(model.vision.postLayerNorm.dim == 64)
        // Finishing the last layer by hand with the public blocks equals the library's own result.
        let pixels = Fixtures.pixels(Fixtures.meta.images["image224"]!)
        let x = try model.vision.hiddenStateBeforeLastLayer(pixels: pixels).slice(0..<1).reshaped([197, 64])
        let y = last.layerNorm1(x)
        let q = last.qProj(y), k = last.kProj(y), v = last.vProj(y)
        var heads = [Tensor]()
        for h in 0..<4 {
            let cols = h * 16 ..< (h + 1) * 16
            heads.append(BLAS.matmul(Attention.weights(q.columns(cols), k.columns(cols), scale: last.scale), v.columns(cols)))
        }
        var concat = [Float]()
        for r in 0..<197 { for h in heads { concat += h.storage[r * 16 ..< (r + 1) * 16] } }
        let h1 = x + last.outProj(Tensor(shape: [197, 64], storage: concat))
        let h2 = h1 + last.fc2(activate(last.fc1(last.layerNorm2(h1))))
        let pooled = model.vision.postLayerNorm(h2.slice(0..<1))
        let features = try model.imageFeatures(pixels: pixels)
        expectClose(model.visualProjection(pooled), features.slice(0..<1), "hand-built last layer")
    }

    private func activate(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, storage: x.storage.map { $0 / (1 + Foundation.exp(-1.702 * $0)) })
    }
}

import Foundation
