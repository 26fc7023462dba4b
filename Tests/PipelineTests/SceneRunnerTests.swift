import Foundation
import GeoIO
import Pipeline
import Segmentation
import TestSupport
import Testing
import Tiling

/// A deterministic stand-in for the model, for tests only: class 0 scores the tile's red value,
/// class 1 its green value, class 2 a constant; so the stitched argmax is known per pixel.
struct ColourSegmenter: Segmenter {
    var channelCount: Int { 3 }
    let calls = Counter()

    func segment(_ image: TileImage) async throws -> [Float] {
        calls.increment()
        let n = image.tile.width * image.tile.height
        return Array(image.pixels[0..<(2 * n)]) + Array(repeating: 100, count: n)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// Reports three steps inside every tile, as the SAM 3 engine reports its queries.
struct ThreeSteps: Segmenter {
    var channelCount: Int { 1 }
    func segment(_ image: TileImage) async throws -> [Float] {
        Array(repeating: 1, count: image.tile.width * image.tile.height)
    }

    func segment(_ image: TileImage, steps: @escaping @Sendable (Int, Int) -> Void) async throws -> [Float] {
        for step in 1...3 { steps(step, 3) }
        return try await segment(image)
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [RunProgress] = []
    func add(_ p: RunProgress) { lock.lock(); items.append(p); lock.unlock() }
    var all: [RunProgress] { lock.lock(); defer { lock.unlock() }; return items }
}

struct Failing: Segmenter, Error {
    var channelCount: Int { 1 }
    func segment(_ image: TileImage) async throws -> [Float] { throw self }
}

@Suite("Scene runner: reader -> segmenter -> stitcher -> COG")
struct SceneRunnerTests {
    /// A UTM scene of three regions (red-ish, green-ish, dark) with a nodata block in one corner
    /// large enough to hold a whole tile.
    static func scene(in dir: URL) -> String {
        let path = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: path, width: 900, height: 700, bands: 3, nodata: 0) { b, x, y in
            if x >= 600 && y >= 400 { return 0 }
            if x < 300 { return b == 1 ? 200 : 20 }
            if x < 600 { return b == 2 ? 200 : 20 }
            return 30
        }
        return path
    }

    @Test("the class map is on the scene's grid, right per region, nodata stays nodata, all-nodata tiles are not encoded")
    func wholeScene() async throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scene = try RasterDataset(path: Self.scene(in: dir))
        let grid = try TileGrid(width: 900, height: 700, size: 256, overlap: 64)
        let out = dir.appendingPathComponent("map.tif").path
        let classes = [OutputClass(name: "red", color: RGBA(255, 0, 0)), OutputClass(name: "green", color: RGBA(0, 255, 0)),
                       OutputClass(name: "dark", color: RGBA(40, 40, 40))]
        let output = try SegmentOutputs(classMap: out, probabilities: nil, scene: scene, classes: classes,
                                        decision: SegmentOutputs.argmax, overwrite: false)
        let segmenter = ColourSegmenter()
        let progress = Counter()
        let stats = try await SceneRunner.run(reader: try TileReader(scene: scene, bands: [1, 2, 3]), grid: grid, segmenter: segmenter,
                                              progress: { _ in progress.increment() }, sink: output.write)
        try output.finish()

        let skipped = grid.tiles.filter { $0.col >= 600 && $0.row >= 400 }.count
        #expect(skipped > 0)
        #expect(stats.tiles == grid.tileCount && progress.value == grid.tileCount)
        #expect(stats.encodedTiles == grid.tileCount - skipped && segmenter.calls.value == stats.encodedTiles)

        let map = try RasterDataset(path: out)
        #expect(map.metadata(domain: "IMAGE_STRUCTURE")["LAYOUT"] == "COG")
        #expect(map.width == 900 && map.height == 700 && map.geoTransform == scene.geoTransform)
        #expect(map.spatialReference?.epsg == scene.spatialReference?.epsg)
        #expect(map.categoryNames(band: 1) == ["red", "green", "dark"])
        let values = try map.read(window: PixelWindow(col: 0, row: 0, width: 900, height: 700), bands: [1])
        var wrong = 0
        for y in 0..<700 {
            for x in 0..<900 {
                let expected: Float = (x >= 600 && y >= 400) ? 255 : x < 300 ? 0 : x < 600 ? 1 : 2
                if values[y * 900 + x] != expected { wrong += 1 }
            }
        }
        // Blending is linear: near a region border the blend of two tiles' scores is still the
        // per-pixel score, so no pixel may be wrong.
        #expect(wrong == 0)
    }

    @Test("steps an engine reports inside a tile reach the progress with the tiles done before it")
    func stepsInsideTiles() async throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scene = try RasterDataset(path: Self.scene(in: dir))
        let grid = try TileGrid(width: 900, height: 700)
        let log = ProgressLog()
        _ = try await SceneRunner.run(reader: try TileReader(scene: scene, bands: [1, 2, 3]), grid: grid, segmenter: ThreeSteps(),
                                      progress: { log.add($0) }, sink: { _ in })
        let inside = log.all.filter { $0.tileSteps > 0 }
        // Every encoded tile reports steps 1, 2, 3 of 3 with the count of tiles finished before it.
        #expect(!inside.isEmpty && inside.count % 3 == 0)
        #expect(inside.allSatisfy { $0.tileSteps == 3 && $0.tilesTotal == grid.tileCount && $0.tilesDone < grid.tileCount })
        #expect(inside.map(\.tileStepsDone) == Array(repeating: [1, 2, 3], count: inside.count / 3).flatMap { $0 })
        let tileEnds = log.all.filter { $0.tileSteps == 0 }.map(\.tilesDone)
        #expect(tileEnds == Array(1...grid.tileCount))
    }

    @Test("a failing segmenter stops the run with its error and leaves no output")
    func failure() async throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scene = try RasterDataset(path: Self.scene(in: dir))
        let out = dir.appendingPathComponent("map.tif").path
        let output = try SegmentOutputs(classMap: out, probabilities: nil, scene: scene,
                                        classes: [OutputClass(name: "x", color: RGBA(1, 2, 3))], decision: SegmentOutputs.argmax, overwrite: false)
        await #expect(throws: Failing.self) {
            try await SceneRunner.run(reader: try TileReader(scene: scene, bands: [1, 2, 3]), grid: try TileGrid(width: 900, height: 700),
                                      segmenter: Failing(), sink: output.write)
        }
        output.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["scene.tif"])
    }

    @Test("one band is replicated to grey RGB; bands outside the scene are an error of their kind")
    func bands() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("pan.tif").path
        SyntheticRaster.write(path: path, width: 40, height: 30, bands: 1, type: "UInt16") { _, x, _ in Double(x) }
        let scene = try RasterDataset(path: path)
        let tile = try TileGrid(width: 40, height: 30).tiles[0]
        let image = try TileReader(scene: scene, bands: [1]).read(tile)
        #expect(image.pixels[0..<1200] == image.pixels[1200..<2400] && image.pixels[0..<1200] == image.pixels[2400..<3600])
        #expect(image.pixels[5] == 5)
        let e = #expect(throws: GeoIOError.self) { try TileReader(scene: scene, bands: [1, 2, 3]) }
        #expect(e?.kind == .noSuchBand(band: 2, bandCount: 1) && e?.message.contains(path) == true, "\(String(describing: e))")
    }
}
