import CLIP
import Foundation
import SAM3
@testable import Segmentation
import Tensor
import Testing
import Tiling

/// The SAM 3 engine (`SAM3Segmenter`, docs/METHOD.md section 9) against the independent PyTorch
/// reference Tools/sam3_segment_reference.py (goldens `sam3*` in Fixtures, written by its
/// `goldens` command) on the tiny random SAM 3 with the cut CLIP tokenizer, a 90 x 70 crop of
/// the fixture scene holding its nodata corner, 48-pixel tiles overlapping by 16, rotations 0
/// and 90, synonyms, object threshold 0.2 and a background class under threshold 0.265.
@Suite("METHOD.md section 9 parity with the PyTorch reference (SAM 3 engine)")
struct SAM3MethodParityTests {
    typealias Fixtures = MethodParityTests

    struct Golden: Decodable {
        struct Class: Decodable { let name: String; let prompts: [String] }
        struct Crop: Decodable { let x: Int; let y: Int; let width: Int; let height: Int }
        struct Object: Decodable { let query: Int; let score: Float; let pixels: Int }
        let crop: Crop
        let width: Int, height: Int
        let classes: [Class]
        let background_index: Int
        let threshold: Float
        let rotations: [Int]
        let tile: Int, overlap: Int
        let object_threshold: Float
        let tiles: Int, encoded: Int
        let first_tile_objects: [Object]
    }

    static let golden = try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: Fixtures.fixtures.appendingPathComponent("sam3.json")))
    static let model = try! SAM3Model.load(directory: Fixtures.tests.appendingPathComponent("SAM3Tests/Fixtures/tiny-sam3").path)
    static let tokenizer = try! CLIPTokenizer(directory: Fixtures.tests.appendingPathComponent("CLITests/Fixtures/predict"))

    /// Collects the objects handed over, tile by tile.
    final class Sink: TileObjectSink, @unchecked Sendable {
        let lock = NSLock()
        var objects: [TileObject] = []
        func add(_ objects: [TileObject], tile: Tile) { lock.lock(); self.objects += objects; lock.unlock() }
    }

    static func vocabulary() -> Vocabulary {
        Vocabulary(classes: golden.classes.filter { !$0.prompts.isEmpty }.map { Vocabulary.Class(name: $0.name, prompts: $0.prompts) },
                   templates: [])
    }

    static func segmenter(rotations: [Int], objects: (any TileObjectSink)? = nil) throws -> SAM3Segmenter {
        let text = try SAM3TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: vocabulary())
        return SAM3Segmenter(model: model, text: text, rotations: rotations, objectThreshold: golden.object_threshold, threads: 2,
                             objects: objects, instanceClasses: objects == nil ? [] : Set(0..<3))
    }

    static func scene() throws -> (rgb: [Float], valid: [UInt8]) {
        let g = golden
        let json = "{\"name\":\"sam3\",\"width\":\(g.width),\"height\":\(g.height),\"classes\":[],\"background_index\":null,\"threshold\":0,\"template_list\":[],\"rotations\":[0],\"tile\":\(g.tile),\"overlap\":\(g.overlap),\"logit_scale\":1,\"cls_lambda\":0,\"queries_shape\":[],\"crop\":{\"x\":\(g.crop.x),\"y\":\(g.crop.y),\"width\":\(g.width),\"height\":\(g.height)}}"
        return try Fixtures.scene(JSONDecoder().decode(MethodParityTests.Config.self, from: Data(json.utf8)))
    }

    @Test("the first tile's score maps per rotation, and its kept objects, as the reference's", arguments: [0, 90])
    func tile(degrees: Int) throws {
        let sink = Sink()
        let segmenter = try Self.segmenter(rotations: [degrees], objects: sink)
        let (rgb, valid) = try Self.scene()
        let grid = try TileGrid(width: Self.golden.width, height: Self.golden.height, size: Self.golden.tile, overlap: Self.golden.overlap)
        let tile = grid.tiles[0]
        let map = try segmenter.scores(MethodParityTests.tileImage(tile, rgb: rgb, valid: valid, sceneWidth: Self.golden.width))
        let reference = try Fixtures.floats("sam3_tile_r\(degrees).f32")
        #expect(map.count == reference.count && map.count == 5 * tile.width * tile.height)
        let worst = zip(map, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4, "largest score difference \(worst)")
        #expect(map.contains { $0 > 0.2 }, "the maps are not all zero")
        if degrees == 0 {
            // The reference's objects of the first tile at rotation 0: the same count, scores and pixel counts.
            let expected = Self.golden.first_tile_objects
            #expect(sink.objects.count == expected.count)
            let ours = sink.objects.map { ($0.classIndex, $0.score, $0.pixelCount) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            let queryClass = Self.vocabulary().queryClass
            let theirs = expected.map { (queryClass[$0.query], $0.score, $0.pixels) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            for (a, b) in zip(ours, theirs) {
                #expect(a.0 == b.0 && abs(a.1 - b.1) <= 1e-4 && abs(a.2 - b.2) <= 2, "object \(a) vs \(b)")
            }
        }
    }

    @Test("the whole crop: class scores within 1e-4, identical classes except near-ties, nodata kept")
    func scene() async throws {
        let g = Self.golden
        let segmenter = try Self.segmenter(rotations: g.rotations)
        let (rgb, valid) = try Self.scene()
        let grid = try TileGrid(width: g.width, height: g.height, size: g.tile, overlap: g.overlap)
        var stitcher = StripStitcher(grid: grid, classCount: segmenter.channelCount)
        let decision = ClassDecision.scores(queryClass: Self.vocabulary().queryClass, threshold: g.threshold, backgroundIndex: g.background_index)
        let n = g.width * g.height
        var scores = [Float](repeating: 0, count: g.classes.count * n), classes = [UInt8](repeating: 0, count: n)
        var encoded = 0
        for tile in grid.tiles {
            let image = MethodParityTests.tileImage(tile, rgb: rgb, valid: valid, sceneWidth: g.width)
            let values = image.hasValidPixels ? try await segmenter.segment(image) : nil
            if values != nil { encoded += 1 }
            guard let rows = stitcher.add(tile: tile, values: values, valid: image.valid) else { continue }
            let result = decision.apply(rows)
            let m = rows.rowCount * rows.width
            for k in 0..<decision.classCount {
                for i in 0..<m { scores[k * n + rows.row * g.width + i] = result.probabilities[k * m + i] }
            }
            for i in 0..<m { classes[rows.row * g.width + i] = result.classes[i] }
        }
        let reference = try Fixtures.floats("sam3_scores.f32"), referenceClasses = try Fixtures.bytes("sam3_classes.u8")
        let margin = try Fixtures.floats("sam3_margin.f32")
        var worst: Float = 0, mismatches = 0, ties = 0
        var seen = Set<UInt8>()
        for i in 0..<n {
            #expect((classes[i] == 255) == (valid[i] == 0))
            guard valid[i] == 1 else { continue }
            for k in 0..<decision.classCount { worst = max(worst, abs(scores[k * n + i] - reference[k * n + i])) }
            seen.insert(referenceClasses[i])
            if margin[i] < 5e-6 { ties += 1; continue }
            if classes[i] != referenceClasses[i] { mismatches += 1 }
        }
        #expect(encoded == g.encoded && grid.tiles.count == g.tiles)
        #expect(worst <= 1e-4, "largest score difference \(worst)")
        #expect(mismatches == 0, "\(mismatches) class differences outside \(ties) near-ties")
        #expect(seen.contains(UInt8(g.background_index)) && seen.count >= 2, "background and at least one class occur: \(seen)")
        #expect(ties < n / 2, "\(ties) near-ties: the test would check little")
    }
}
