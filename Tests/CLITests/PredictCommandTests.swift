import CLIP
import Foundation
import GeoIO
import SAM3
import Tensor
import TestSupport
import Testing

/// `landscribe predict` on the tiny SAM 3 of Tests/SAM3Tests/Fixtures with the cut CLIP
/// tokenizer and image of Tests/CLITests/Fixtures/predict (Tools/make_predict_golden.py).
enum PredictFixtures {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let folder = tests.appendingPathComponent("CLITests/Fixtures/predict")
    static let image = folder.appendingPathComponent("image.png").path
    static let tinySAM3 = tests.appendingPathComponent("SAM3Tests/Fixtures/tiny-sam3")
    static let tinyCLIP = tests.appendingPathComponent("CLIPTests/Fixtures/tiny-clip")

    struct Golden: Decodable {
        struct Prompt: Decodable {
            let text: String
            let input_ids: [Int]
            let attention_mask: [Int]
            let untruncated_tokens: Int
            let pred_logits: [Float]
            let pred_boxes: [[Float]]
            let presence_logits: [Float]
        }
        let prompts: [Prompt]
    }

    static let golden: Golden = try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: folder.appendingPathComponent("golden.json")))

    /// A complete SAM 3 folder in `dir`: the tiny model's config and weights, the cut tokenizer.
    static func model(in dir: URL) throws -> String {
        let m = dir.appendingPathComponent("sam3")
        try FileManager.default.createDirectory(at: m, withIntermediateDirectories: true)
        for (from, name) in [(tinySAM3, "config.json"), (tinySAM3, "model.safetensors"), (folder, "vocab.json"), (folder, "merges.txt")] {
            try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: m.appendingPathComponent(name))
        }
        return m.path
    }

    /// max |a - b| <= tolerance * max |b|.
    static func expectClose(_ a: [Float], _ b: [Float], _ tolerance: Float, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
        let diff = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        #expect(scale > 0 && diff <= tolerance * scale, "\(what): max abs diff \(diff), scale \(scale)", sourceLocation: sourceLocation)
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

@Suite("predict: SAM 3 on one image")
struct PredictCommandTests {
    @Test("--dump holds SAM3Model.segment's outputs on the same input, and transformers' within 1e-4")
    func dumpMatchesLibraryAndReference() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let dump = dir.appendingPathComponent("out.safetensors").path
        let golden = PredictFixtures.golden.prompts
        let r = try CLI.run(["predict", "--model", model, "--image", PredictFixtures.image, "--text", golden[0].text,
                             "--text", golden[1].text, "--dump", dump, "--object-threshold", "0", "--threads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let file = try SafetensorsFile(path: dump)
        #expect(Set(file.keys) == ["input_ids", "attention_mask", "pred_logits", "pred_boxes", "presence_logits", "pred_masks", "semantic_seg"])
        #expect(file.entries["input_ids"]?.dtype == .I32 && file.entries["attention_mask"]?.dtype == .I32)
        #expect(file.entries["input_ids"]?.shape == [32])
        #expect(file.entries["pred_logits"]?.shape == [20] && file.entries["pred_boxes"]?.shape == [20, 4])
        #expect(file.entries["presence_logits"]?.shape == [1])
        #expect(file.entries["pred_masks"]?.shape == [20, 64, 64] && file.entries["semantic_seg"]?.shape == [64, 64])

        // The Python reference (Tools/make_predict_golden.py): tokens exactly, outputs within 1e-4 of scale.
        #expect(try file.int32s("input_ids").map(Int.init) == golden[0].input_ids)
        #expect(try file.int32s("attention_mask").map(Int.init) == golden[0].attention_mask)
        PredictFixtures.expectClose(try file.tensor("pred_logits").storage, golden[0].pred_logits, 1e-4, "pred_logits vs transformers")
        PredictFixtures.expectClose(try file.tensor("pred_boxes").storage, golden[0].pred_boxes.flatMap { $0 }, 1e-4, "pred_boxes vs transformers")
        PredictFixtures.expectClose(try file.tensor("presence_logits").storage, golden[0].presence_logits, 1e-4, "presence vs transformers")

        // The library on the same input, read and prepared independently of the command.
        let ds = try RasterDataset(path: PredictFixtures.image)
        #expect((ds.width, ds.height, ds.bandCount) == (53, 41, 3))
        let planar = try ds.read(window: PixelWindow(width: 53, height: 41), bands: [1, 2, 3])
        let plane = 53 * 41
        let rgb = (0..<3 * plane).map { planar[($0 % 3) * plane + $0 / 3] }
        let sam = try SAM3Model.load(directory: model)
        let pixels = Tensor(shape: [1, 3, 224, 224], storage: SAM3ImageInput.normalized(rgb: rgb, height: 41, width: 53, size: 224))
        let prompt = SAM3Prompt(golden[0].text, tokenizer: try CLIPTokenizer(directory: URL(fileURLWithPath: model)), length: 32)
        let out = try sam.segment(pixels: pixels, ids: [prompt.ids], mask: [prompt.mask], threads: 2)
        for (name, t) in [("pred_logits", out.predLogits), ("pred_boxes", out.predBoxes), ("presence_logits", out.presenceLogits),
                          ("pred_masks", out.predMasks), ("semantic_seg", out.semanticSeg)] {
            PredictFixtures.expectClose(try file.tensor(name).storage, t.storage, 1e-6, "\(name) vs SAM3Model.segment")
        }

        // The printed summary: presence of both prompts (the second on the reused vision features)
        // against transformers, every object (threshold 0) with its box, score and mask area.
        let summary = try PredictFixtures.json(r.stdout)
        let prompts = try #require(summary["prompts"] as? [[String: Any]])
        #expect(prompts.count == 2)
        for (p, g) in zip(prompts, golden) {
            let presence = try #require((p["presence"] as? NSNumber)?.floatValue)
            #expect(abs(presence - PredictFixtures.sigmoid(g.presence_logits[0])) <= 1e-5, "\(g.text): presence \(presence)")
            #expect(p["tokens"] as? Int == g.untruncated_tokens && p["truncated"] as? Bool == false)
        }
        let objects = try #require(prompts[0]["objects"] as? [[String: Any]])
        #expect(objects.count == 20)
        let logits = try file.tensor("pred_logits").storage, boxes = try file.tensor("pred_boxes").storage
        let masks = try file.tensor("pred_masks").storage
        let presence = PredictFixtures.sigmoid(try file.tensor("presence_logits").storage[0])
        var previous = Float.infinity
        for o in objects {
            let q = try #require(o["query"] as? Int)
            let score = try #require((o["score"] as? NSNumber)?.floatValue)
            #expect(abs(score - PredictFixtures.sigmoid(logits[q]) * presence) <= 1e-6)
            #expect(score <= previous, "objects are sorted by score")
            previous = score
            let box = try #require(o["box"] as? [Double])
            let expected = [Double(boxes[4 * q]) * 53, Double(boxes[4 * q + 1]) * 41, Double(boxes[4 * q + 2]) * 53, Double(boxes[4 * q + 3]) * 41]
            #expect(zip(box, expected).allSatisfy { abs($0 - $1) <= 1e-4 }, "query \(q): box \(box) vs \(expected)")
            #expect(o["mask_pixels"] as? Int == Self.maskArea(Array(masks[q * 4096 ..< (q + 1) * 4096]), side: 64, width: 53, height: 41))
        }

        // A threshold in the widest gap between consecutive scores lists exactly the objects above it.
        let scores = objects.compactMap { ($0["score"] as? NSNumber)?.doubleValue }
        let gaps: [Double] = (1..<scores.count).map { (i: Int) -> Double in scores[i - 1] - scores[i] }
        let widest: Double = gaps.max() ?? 0
        let k: Int = (gaps.firstIndex(of: widest) ?? 0) + 1
        #expect(scores[k - 1] > scores[k])
        let threshold = (scores[k - 1] + scores[k]) / 2
        let top = try CLI.run(["predict", "--model", model, "--image", PredictFixtures.image, "--text", golden[0].text,
                               "--object-threshold", String(threshold), "--json"])
        #expect(top.status == 0, "\(top.stderr)")
        let topObjects = try #require((try PredictFixtures.json(top.stdout)["prompts"] as? [[String: Any]])?.first?["objects"] as? [[String: Any]])
        #expect(topObjects.compactMap { $0["query"] as? Int } == objects.prefix(k).compactMap { $0["query"] as? Int })
    }

    @Test("band rules: 1 band is grey (as the band given three times), 4 bands give their first three")
    func bands() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        func value(_ b: Int, _ x: Int, _ y: Int) -> Double { Double((x * 7 + y * 13 + b * 50) % 256) }
        let tif = { (name: String) in dir.appendingPathComponent(name).path }
        SyntheticRaster.write(path: tif("grey.tif"), width: 30, height: 20, bands: 1) { _, x, y in value(1, x, y) }
        SyntheticRaster.write(path: tif("grey3.tif"), width: 30, height: 20, bands: 3) { _, x, y in value(1, x, y) }
        SyntheticRaster.write(path: tif("rgb.tif"), width: 30, height: 20, bands: 3) { b, x, y in value(b, x, y) }
        SyntheticRaster.write(path: tif("rgbn.tif"), width: 30, height: 20, bands: 4) { b, x, y in b == 4 ? 255 - value(1, y, x) : value(b, x, y) }
        var dumps = [String: SafetensorsFile]()
        for name in ["grey", "grey3", "rgb", "rgbn"] {
            let r = try CLI.run(["predict", "--model", model, "--image", tif(name + ".tif"), "--text", "a red car",
                                 "--dump", tif(name + ".safetensors"), "--json"])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            dumps[name] = try SafetensorsFile(path: tif(name + ".safetensors"))
        }
        for (a, b) in [("grey", "grey3"), ("rgbn", "rgb")] {
            #expect(try dumps[a]!.tensor("pred_masks") == dumps[b]!.tensor("pred_masks"), "\(a) vs \(b)")
            #expect(try dumps[a]!.tensor("pred_logits") == dumps[b]!.tensor("pred_logits"), "\(a) vs \(b)")
        }
        #expect(try dumps["grey"]!.tensor("pred_masks") != dumps["rgb"]!.tensor("pred_masks"))
    }

    /// Pixels of a width x height image where the side x side logits, upsampled with PyTorch's
    /// bilinear (align_corners=False), are above 0; written out here in Double.
    static func maskArea(_ m: [Float], side: Int, width: Int, height: Int) -> Int {
        func tap(_ o: Int, _ out: Int) -> (Int, Int, Double) {
            let s = max(0, (Double(o) + 0.5) * Double(side) / Double(out) - 0.5)
            let i = min(Int(s), side - 1)
            return (i, min(i + 1, side - 1), s - Double(i))
        }
        var count = 0
        for y in 0..<height {
            let (y0, y1, ly) = tap(y, height)
            for x in 0..<width {
                let (x0, x1, lx) = tap(x, width)
                let v = (1 - ly) * ((1 - lx) * Double(m[y0 * side + x0]) + lx * Double(m[y0 * side + x1]))
                    + ly * ((1 - lx) * Double(m[y1 * side + x0]) + lx * Double(m[y1 * side + x1]))
                if v > 0 { count += 1 }
            }
        }
        return count
    }

    @Test("a prompt longer than the context is truncated as transformers does, with a one-line warning")
    func longPrompt() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let g = PredictFixtures.golden.prompts[2]
        #expect(g.untruncated_tokens > 32)
        let dump = dir.appendingPathComponent("long.safetensors").path
        let r = try CLI.run(["predict", "--model", model, "--image", PredictFixtures.image, "--text", g.text, "--dump", dump, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("warning") && lines[0].contains("tree tree") && lines[0].contains("\(g.untruncated_tokens) tokens"), "\(r.stderr)")
        let file = try SafetensorsFile(path: dump)
        #expect(try file.int32s("input_ids").map(Int.init) == g.input_ids)
        #expect(try file.int32s("attention_mask").allSatisfy { $0 == 1 })
        PredictFixtures.expectClose(try file.tensor("pred_logits").storage, g.pred_logits, 1e-4, "pred_logits of the truncated prompt")
        let p = try #require((try PredictFixtures.json(r.stdout)["prompts"] as? [[String: Any]])?.first)
        #expect(p["truncated"] as? Bool == true && p["tokens"] as? Int == 32)
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        let label: String
        let args: [String]
        let message: String
        var status: Int32 = 1
        var testDescription: String { label }
    }

    static let bad: [BadCase] = [
        BadCase(label: "2-band image", args: ["--image", "$D/two.tif", "--text", "car"], message: "has 2 bands"),
        BadCase(label: "missing image", args: ["--image", "$D/none.png", "--text", "car"], message: "none.png"),
        BadCase(label: "existing --dump without --overwrite", args: ["--image", "$I", "--text", "car", "--dump", "$D/old.safetensors"],
                message: "option --dump: '$D/old.safetensors' exists; pass --overwrite"),
        BadCase(label: "--dump over the image", args: ["--image", "$I2", "--text", "car", "--dump", "$I2", "--overwrite"],
                message: "option --dump"),
        BadCase(label: "a CLIP folder", args: ["--model", "$C", "--image", "$I", "--text", "car"], message: "is a CLIP model; predict needs a SAM 3 model"),
        BadCase(label: "neither CLIP nor SAM 3", args: ["--model", "$B", "--image", "$I", "--text", "car"], message: "model_type 'bert'"),
        BadCase(label: "no --text", args: ["--image", "$I"], message: "give at least one --text", status: 64),
        BadCase(label: "threshold out of range", args: ["--image", "$I", "--text", "car", "--object-threshold", "2"], message: "--object-threshold", status: 64),
    ]

    @Test("bad input: one line, exit status, nothing written", arguments: bad)
    func badInput(_ c: BadCase) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let model = try PredictFixtures.model(in: dir)
        SyntheticRaster.write(path: dir.appendingPathComponent("two.tif").path, width: 20, height: 10, bands: 2) { b, x, y in Double(b * x + y) }
        try fm.copyItem(atPath: PredictFixtures.image, toPath: dir.appendingPathComponent("image2.png").path)
        try Data("keep".utf8).write(to: dir.appendingPathComponent("old.safetensors"))
        let bert = dir.appendingPathComponent("bert")
        try fm.createDirectory(at: bert, withIntermediateDirectories: true)
        try Data(#"{"model_type": "bert"}"#.utf8).write(to: bert.appendingPathComponent("config.json"))
        try Data().write(to: bert.appendingPathComponent("model.safetensors"))
        func expand(_ s: String) -> String {
            s.replacingOccurrences(of: "$I2", with: dir.appendingPathComponent("image2.png").path)
                .replacingOccurrences(of: "$I", with: PredictFixtures.image)
                .replacingOccurrences(of: "$C", with: PredictFixtures.tinyCLIP.path)
                .replacingOccurrences(of: "$B", with: bert.path)
                .replacingOccurrences(of: "$D", with: dir.path)
        }
        let before = try Self.snapshot(dir)
        var args = ["predict"] + c.args.map(expand)
        if !c.args.contains("--model") { args += ["--model", model] }
        let r = try CLI.run(args)
        #expect(r.status == c.status, "\(c.label): \(r.stderr)")
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains(expand(c.message)), "\(c.label): \(r.stderr)")
        if c.status == 1 { #expect(r.stderr.split(separator: "\n").count == 1, "\(c.label): \(r.stderr)") }
        #expect(r.stdout.isEmpty)
        #expect(try Self.snapshot(dir) == before, "\(c.label): the folder changed")
    }

    /// Every file under `dir` with its contents.
    static func snapshot(_ dir: URL) throws -> [String: Data] {
        var out = [String: Data]()
        let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
        for case let url as URL in e where !url.hasDirectoryPath {
            out[url.path] = try Data(contentsOf: url)
        }
        return out
    }
}
