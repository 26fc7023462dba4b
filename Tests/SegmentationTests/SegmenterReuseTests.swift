import CLIP
@testable import Segmentation
import Testing
import Tiling

/// The segmenter keeps its buffers from tile to tile and shares its work among workers in two
/// ways (one rotation per worker, or the workers inside one rotation). A user relies on a tile's
/// map being the same whatever came before it and however many threads ran it.
/// Tolerances: OpenBLAS's results move in the last bits with its thread count, which is
/// process-wide and which concurrently running tests change; a stale or misplaced buffer moves
/// them by the size of the logits.
@Suite("Segmenter buffers and workers")
struct SegmenterReuseTests {
    /// The segmenter of config "a" and the tiles with valid pixels of configs "a" (128 x 128)
    /// and "c" (one 100 x 90 tile, so its turned shapes differ).
    static func setUp(threads: Int?, rotations: [Int]? = nil) throws -> (DenseCLIPSegmenter, [TileImage]) {
        let a = try MethodParityTests.config("a")
        let (parity, _) = try MethodParityTests.segmenter(a)
        let segmenter = DenseCLIPSegmenter(model: parity.model, queries: parity.queries, rotations: rotations ?? a.rotations,
                                           clsLambda: a.cls_lambda, threads: threads)
        let images = try ["a", "c"].flatMap { name in
            let c = try MethodParityTests.config(name)
            let (rgb, valid) = try MethodParityTests.scene(c)
            let grid = try TileGrid(width: c.width, height: c.height, size: c.tile, overlap: c.overlap)
            return grid.tiles.map { MethodParityTests.tileImage($0, rgb: rgb, valid: valid, sceneWidth: c.width) }
        }
        return (segmenter, images.filter(\.hasValidPixels))
    }

    static func worstDifference(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    @Test("a tile's map is the same after tiles of other sizes ran in the same buffers")
    func reuse() throws {
        let (segmenter, images) = try Self.setUp(threads: 2)
        #expect(Set(images.map { [$0.tile.width, $0.tile.height] }).count == 2)
        let (small, large) = (images.last!, images.first!)
        let (fresh, _) = try Self.setUp(threads: 2)
        let expectedSmall = try fresh.logits(small)
        let (freshLarge, _) = try Self.setUp(threads: 2)
        let expectedLarge = try freshLarge.logits(large)
        let scale = expectedLarge.map { abs($0) }.max() ?? 0
        for image in images { _ = try segmenter.logits(image) }      // large tiles, then the small one
        #expect(Self.worstDifference(try segmenter.logits(large), expectedLarge) <= 1e-5 * scale)
        #expect(Self.worstDifference(try segmenter.logits(small), expectedSmall) <= 1e-5 * scale)
    }

    @Test("the map does not depend on the number of workers", arguments: [[0, 90, 180, 270], [0]])
    func workers(rotations: [Int]) throws {
        let maps = try [1, 2, 3].map { threads in
            let (segmenter, images) = try Self.setUp(threads: threads, rotations: rotations)
            return try images.map { try segmenter.logits($0) }
        }
        let scale = maps[0].joined().map { abs($0) }.max() ?? 0
        #expect(scale > 0)
        for other in maps.dropFirst() {
            let worst = Self.worstDifference(Array(maps[0].joined()), Array(other.joined()))
            #expect(worst <= 1e-5 * scale, "largest difference \(worst) at scale \(scale)")
        }
    }
}
