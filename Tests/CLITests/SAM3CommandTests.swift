import CLIP
import Foundation
import TestSupport
import Testing

/// `bench encoder` and `model inspect` on a SAM 3 folder (the tiny fixture).
@Suite("SAM 3 in bench encoder and model inspect")
struct SAM3CommandTests {
    @Test("bench encoder times the vision backbone and neck at the model's size, with every JSON field")
    func bench() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let r = try CLI.run(["bench", "encoder", "--model", model, "--size", "224", "--batch", "1", "--runs", "2", "--threads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try PredictFixtures.json(r.stdout)
        for key in ["size", "batch", "runs", "median_seconds", "seconds_per_image", "gflops_per_second", "threads", "seconds", "kernels"] {
            #expect(json[key] != nil, "no \(key)")
        }
        #expect(json["size"] as? Int == 224 && json["threads"] as? Int == 2)
        #expect(((json["gflops_per_second"] as? NSNumber)?.doubleValue ?? 0) > 0)
        let wrong = try CLI.run(["bench", "encoder", "--model", model, "--size", "1008"])
        #expect(wrong.status == 1 && wrong.stderr.split(separator: "\n").count == 1)
        #expect(wrong.stderr.contains("option --size") && wrong.stderr.contains("224"), "\(wrong.stderr)")
    }

    @Test("model inspect describes a SAM 3 folder: parts and their parameters from the header")
    func inspect() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let r = try CLI.run(["model", "inspect", model, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try PredictFixtures.json(r.stdout)
        #expect(json["model_type"] as? String == "sam3")
        let parts = try #require(json["parts"] as? [String: Int])
        #expect(Set(parts.keys) == ["vision_encoder", "text_encoder", "text_projection", "geometry_encoder", "detr_encoder",
                                    "detr_decoder", "mask_decoder", "dot_product_scoring"])
        let weights = try SafetensorsFile(path: model + "/model.safetensors")
        let total = weights.entries.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(json["parameters"] as? Int == total && parts.values.reduce(0, +) == total)
        let vision = weights.entries.filter { $0.key.hasPrefix("vision_encoder.") }.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(parts["vision_encoder"] == vision)
        #expect((json["vision"] as? [String: Any])?["image_size"] as? Int == 224)
        #expect((json["detr"] as? [String: Any])?["queries"] as? Int == 20)
        let text = try CLI.run(["model", "inspect", model])
        #expect(text.status == 0 && text.stdout.contains("SAM 3") && text.stdout.contains("20 queries"), "\(text.stdout)")
    }
}
