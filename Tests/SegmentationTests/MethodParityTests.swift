import CLIP
import Foundation
@testable import Segmentation
import Tensor
import Testing
import Tiling

/// The Swift segmentation against the independent PyTorch reference of docs/METHOD.md
/// (Tools/segment_reference.py; goldens from Tools/make_segment_goldens.py, layouts in
/// Fixtures/README.md) on the tiny random CLIP of the encoder parity tests.
@Suite("METHOD.md parity with the PyTorch reference")
struct MethodParityTests {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = tests.appendingPathComponent("SegmentationTests/Fixtures")

    struct Config: Decodable {
        struct Class: Decodable { let name: String; let prompts: [String] }
        struct Crop: Decodable { let x: Int; let y: Int; let width: Int; let height: Int }
        let name: String
        let width: Int, height: Int
        let classes: [Class]
        let background_index: Int?
        let threshold: Float
        let template_list: [String]
        let rotations: [Int]
        let tile: Int, overlap: Int
        let logit_scale: Float, cls_lambda: Float
        let queries_shape: [Int]
        let crop: Crop?
        // METHOD.md section 10 (configs d, e, f)
        struct Exemplar: Decodable {
            let cls: String, class_index: Int
            let polygons: [[[[Double]]]]
            let window: [Int], cells: [Int], fallback: Bool
        }
        let dec_keep: Double?
        let channels: [Int]?
        let exemplar_weight: Float?
        let exemplars: [Exemplar]?
        let keys_shape: [Int]?
    }

    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }

    static let model: CLIPModel = try! CLIPModel.load(directory: tests.appendingPathComponent("CLIPTests/Fixtures/tiny-clip").path)
    static let tokenizer = try! CLIPTokenizer(directory: tests.appendingPathComponent("CLIPTests/Fixtures/clip-tokenizer"))

    /// The scene of a config as RGB (channel-major) and validity, cropped when the config says so.
    static func scene(_ c: Config) throws -> (rgb: [Float], valid: [UInt8]) {
        let full = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("scene.json"))) as! [String: Any]
        let (fw, fh) = (full["width"] as! Int, full["height"] as! Int)
        let rgb = try bytes("scene_rgb.u8"), valid = try bytes("scene_valid.u8")
        let (x0, y0) = (c.crop?.x ?? 0, c.crop?.y ?? 0)
        var outRGB = [Float](repeating: 0, count: 3 * c.width * c.height), outValid = [UInt8](repeating: 0, count: c.width * c.height)
        for y in 0..<c.height {
            for x in 0..<c.width {
                let src = (y + y0) * fw + x + x0, dst = y * c.width + x
                precondition(y + y0 < fh)
                outValid[dst] = valid[src]
                for ch in 0..<3 { outRGB[ch * c.width * c.height + dst] = Float(rgb[3 * src + ch]) }
            }
        }
        return (outRGB, outValid)
    }

    static func config(_ name: String) throws -> Config {
        try JSONDecoder().decode(Config.self, from: Data(contentsOf: fixtures.appendingPathComponent("\(name).json")))
    }

    /// The config's segmenter, with `dec` and the exemplar cache when it has them (the keys
    /// from the Swift side's own `exemplarKeys`).
    static func segmenter(_ c: Config) throws -> (DenseCLIPSegmenter, Vocabulary) {
        let vocabulary = Vocabulary(classes: c.classes.filter { !$0.prompts.isEmpty }.map { Vocabulary.Class(name: $0.name, prompts: $0.prompts) },
                                    templates: c.template_list)
        let queries = try TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: vocabulary)
        let channels = c.dec_keep.map { ChannelSelection(queries: queries, keep: $0) }
        var segmenter = DenseCLIPSegmenter(model: model, queries: queries, rotations: c.rotations, clsLambda: c.cls_lambda, channels: channels)
        if c.exemplars != nil {
            let keys = try segmenter.exemplarKeys(try exemplarWindows(c)).keys
            segmenter = segmenter.with(cache: ExemplarCache(keys: keys, classes: c.exemplars!.map(\.class_index), weight: c.exemplar_weight!),
                                       queryClass: vocabulary.queryClass)
        }
        return (segmenter, vocabulary)
    }

    /// The config's exemplars as the segmenter takes them: the reference's window cut out of the
    /// scene, inside by the even-odd rule at pixel centres (the rasterizer's pixel-centre rule),
    /// and the point-on-surface of a rectangle (the fixtures' fallback exemplar is one).
    static func exemplarWindows(_ c: Config) throws -> [ExemplarWindow] {
        let (rgb, valid) = try scene(c)
        return c.exemplars!.map { e in
            let (x0, y0, w, h) = (e.window[0], e.window[1], e.window[2], e.window[3])
            let tile = Tile.window(col: x0, row: y0, width: w, height: h)
            let rings = e.polygons.flatMap { $0 }
            let xs = rings.flatMap { $0.map { $0[0] } }, ys = rings.flatMap { $0.map { $0[1] } }
            let centre = ((xs.min()! + xs.max()!) / 2 - Double(x0), (ys.min()! + ys.max()!) / 2 - Double(y0))
            return ExemplarWindow(image: tileImage(tile, rgb: rgb, valid: valid, sceneWidth: c.width), classIndex: e.class_index,
                                  pointOnSurface: centre) { x, y in
                let (sx, sy) = (x + x0, y + y0)
                guard sx >= 0, sx < c.width, sy >= 0, sy < c.height else { return false }
                let (px, py) = (Double(sx) + 0.5, Double(sy) + 0.5)
                var inside = false
                for ring in rings {
                    for (i, a) in ring.enumerated() {
                        let b = ring[(i + 1) % ring.count]
                        if (a[1] > py) != (b[1] > py), px < a[0] + (py - a[1]) * (b[0] - a[0]) / (b[1] - a[1]) { inside.toggle() }
                    }
                }
                return inside
            }
        }
    }

    /// The pixels and validity of `tile` cut out of a scene from `scene(_:)`.
    static func tileImage(_ tile: Tile, rgb: [Float], valid: [UInt8], sceneWidth width: Int) -> TileImage {
        let n = valid.count
        var pixels = [Float](repeating: 0, count: 3 * tile.width * tile.height), mask = [UInt8](repeating: 0, count: tile.width * tile.height)
        for y in 0..<tile.height {
            for x in 0..<tile.width {
                let src = (tile.row + y) * width + tile.col + x
                mask[y * tile.width + x] = valid[src]
                for ch in 0..<3 { pixels[(ch * tile.height + y) * tile.width + x] = rgb[ch * n + src] }
            }
        }
        return TileImage(tile: tile, pixels: pixels, valid: mask)
    }

    @Test("text queries", arguments: ["a", "b", "c", "d", "e", "f"])
    func queries(name: String) throws {
        let c = try Self.config(name)
        let (segmenter, _) = try Self.segmenter(c)
        #expect(segmenter.queries.shape == c.queries_shape)
        let reference = try Self.floats("\(name)_queries.f32")
        let worst = zip(segmenter.queries.storage, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    @Test("per-rotation logit maps of one padded tile, before the ensemble mean (c; d with dec)",
          arguments: ["c", "d"], [0, 90, 180, 270])
    func rotation(name: String, degrees: Int) throws {
        let c = try Self.config(name)
        let (segmenter, _) = try Self.segmenter(c)
        let (rgb, valid) = try Self.scene(c)
        let tile = try TileGrid(width: c.width, height: c.height, size: c.tile, overlap: c.overlap).tiles[0]
        let map = try segmenter.rotatedLogits(TileImage(tile: tile, pixels: rgb, valid: valid), rotations: [degrees])[0]
        let reference = try Self.floats("\(name)_logits_r\(degrees).f32")
        #expect(map.count == reference.count)
        let worst = zip(map, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest logit difference \(worst)")
    }

    @Test("whole scenes: probabilities within 1e-4, identical classes except near-ties", arguments: ["a", "b", "c", "d", "e", "f"])
    func scene(name: String) async throws {
        let c = try Self.config(name)
        let (segmenter, vocabulary) = try Self.segmenter(c)
        let (rgb, valid) = try Self.scene(c)
        let grid = try TileGrid(width: c.width, height: c.height, size: c.tile, overlap: c.overlap)
        var stitcher = StripStitcher(grid: grid, classCount: segmenter.channelCount)
        let decision = ClassDecision(queryClass: vocabulary.queryClass, logitScale: c.logit_scale, threshold: c.threshold,
                                     backgroundIndex: c.background_index)
        let n = c.width * c.height
        var probabilities = [Float](repeating: 0, count: c.classes.count * n), classes = [UInt8](repeating: 0, count: n)
        var encoded = 0
        for tile in grid.tiles {
            let image = Self.tileImage(tile, rgb: rgb, valid: valid, sceneWidth: c.width)
            let values = image.hasValidPixels ? try await segmenter.segment(image) : nil
            if values != nil { encoded += 1 }
            guard let rows = stitcher.add(tile: tile, values: values, valid: image.valid) else { continue }
            let result = decision.apply(rows)
            let m = rows.rowCount * rows.width
            for k in 0..<decision.classCount {
                for i in 0..<m { probabilities[k * n + rows.row * c.width + i] = result.probabilities[k * m + i] }
            }
            for i in 0..<m { classes[rows.row * c.width + i] = result.classes[i] }
        }
        let reference = try Self.floats("\(name)_probs.f32"), referenceClasses = try Self.bytes("\(name)_classes.u8")
        let margin = try Self.floats("\(name)_margin.f32")
        var worst: Float = 0, mismatches = 0, ties = 0
        for i in 0..<n {
            #expect((classes[i] == 255) == (valid[i] == 0))
            guard valid[i] == 1 else { continue }
            for k in 0..<c.classes.count { worst = max(worst, abs(probabilities[k * n + i] - reference[k * n + i])) }
            if margin[i] < 1e-5 { ties += 1; continue }
            if classes[i] != referenceClasses[i] { mismatches += 1 }
        }
        #expect(encoded == grid.tiles.count - (c.crop != nil ? 0 : 1), "the all-nodata tile is skipped")
        #expect(worst <= 1e-4, "largest probability difference \(worst)")
        #expect(mismatches == 0, "\(mismatches) class differences outside \(ties) near-ties")
    }
}
