@testable import Instances
import Testing
import Tiling

/// SAM 3's objects across tiles (`ObjectMerger`, docs/detect.md "Objects from SAM 3"), with
/// chosen instances in place of the model: what each tile would see of a set of objects.
@Suite("merging SAM 3 objects across tiles")
struct ObjectMergerTests {
    /// A scene of `width` x `height`, tiles of 48 overlapping by 16.
    static func tiles(width: Int, height: Int) throws -> [Tile] {
        try TileGrid(width: width, height: height, size: 48, overlap: 16).tiles
    }

    /// What `tile` sees of a rectangle of the scene (columns x0...x1, rows y0...y1): nil when nothing.
    static func seen(_ tile: Tile, x0: Int, x1: Int, y0: Int, y1: Int, classIndex: Int = 0, score: Float = 0.8) -> TileObject? {
        var local = [Bool](repeating: false, count: tile.width * tile.height)
        for y in 0..<tile.height {
            for x in 0..<tile.width {
                let (sx, sy) = (tile.col + x, tile.row + y)
                local[y * tile.width + x] = sx >= x0 && sx <= x1 && sy >= y0 && sy <= y1
            }
        }
        return TileObject(classIndex: classIndex, score: score, tile: tile, localMask: local)
    }

    /// Every tile adds what it sees of the rectangles; returns the merged objects.
    static func run(width: Int, height: Int, _ rects: [(x0: Int, x1: Int, y0: Int, y1: Int, classIndex: Int)]) throws -> [SceneObject] {
        let merger = ObjectMerger()
        for (i, tile) in try tiles(width: width, height: height).enumerated() {
            let objects = rects.compactMap { r in seen(tile, x0: r.x0, x1: r.x1, y0: r.y0, y1: r.y1, classIndex: r.classIndex,
                                                       score: 0.5 + 0.01 * Float(i)) }
            merger.add(objects, tile: tile)
        }
        return merger.finish(sceneWidth: width)
    }

    static func pixels(_ o: SceneObject) -> Int { o.mask.filter { $0 }.count }

    @Test("an object across a tile border comes out once, whole, with the highest score of its parts")
    func acrossBorder() throws {
        let objects = try Self.run(width: 80, height: 48, [(25, 40, 10, 20, 0)])
        #expect(objects.count == 1)
        let o = try #require(objects.first)
        #expect(o.parts == 2 && o.col == 25 && o.width == 16 && o.row == 10 && o.height == 11)
        #expect(Self.pixels(o) == 16 * 11)
        #expect(o.score == 0.51)
    }

    @Test("an object across the corner of four tiles is one object")
    func acrossCorner() throws {
        let objects = try Self.run(width: 80, height: 80, [(28, 44, 28, 44, 0)])
        #expect(objects.count == 1)
        #expect(objects.first?.parts == 4 && objects.first.map(Self.pixels) == 17 * 17)
        #expect(objects.first?.score == 0.53)
    }

    @Test("two touching objects of one class stay two; the same place in two classes is two objects")
    func touching() throws {
        let objects = try Self.run(width: 80, height: 48, [(20, 35, 10, 20, 0), (36, 45, 10, 20, 0), (60, 70, 30, 40, 0), (60, 70, 30, 40, 1)])
        #expect(objects.count == 4)
        #expect(objects.map(\.col) == [20, 36, 60, 60] && objects.map(\.classIndex) == [0, 0, 0, 1])
        #expect(objects.map(Self.pixels) == [16 * 11, 10 * 11, 11 * 11, 11 * 11])
    }

    @Test("duplicates inside a tile (IoU >= 0.5, one class) are kept once, the highest score")
    func duplicates() throws {
        let tile = try Self.tiles(width: 40, height: 40)[0]
        let merger = ObjectMerger()
        let a = try #require(Self.seen(tile, x0: 5, x1: 14, y0: 5, y1: 14, score: 0.6))      // 100 pixels
        let b = try #require(Self.seen(tile, x0: 5, x1: 14, y0: 7, y1: 16, score: 0.9))      // IoU 80 / 120
        let c = try #require(Self.seen(tile, x0: 5, x1: 14, y0: 12, y1: 21, score: 0.7))     // IoU with b 50 / 150
        let d = try #require(Self.seen(tile, x0: 5, x1: 14, y0: 5, y1: 14, classIndex: 1, score: 0.5))
        merger.add([a, b, c, d], tile: tile)
        let kept = merger.tileObjects
        #expect(kept.count == 3)
        #expect(Set(kept.map(\.score)) == [0.9, 0.7, 0.5])
        #expect(merger.finish(sceneWidth: 40).count == 3)
    }

    @Test("an object larger than a tile, seen in parts by four tiles in a row, is one object")
    func largerThanTile() throws {
        #expect(try Self.tiles(width: 120, height: 40).count == 4)
        let objects = try Self.run(width: 120, height: 40, [(5, 115, 10, 20, 0)])
        #expect(objects.count == 1)
        #expect(objects.first?.parts == 4 && objects.first.map(Self.pixels) == 111 * 11)
    }

    @Test("parts that overlap by less than half of the smaller inside the shared area stay apart")
    func smallOverlap() throws {
        let grid = try Self.tiles(width: 80, height: 48)
        let merger = ObjectMerger()
        // Tile 0 sees an object at columns 20..35 (4 pixels a row inside the shared columns 32..47);
        // tile 1 one at 35..45: 1 column in common, 1 / 4 stays apart; at 34..45, 2 / 4 = 0.5 merges.
        merger.add([try #require(Self.seen(grid[0], x0: 20, x1: 35, y0: 0, y1: 9))], tile: grid[0])
        merger.add([try #require(Self.seen(grid[1], x0: 35, x1: 45, y0: 0, y1: 9))], tile: grid[1])
        #expect(merger.finish(sceneWidth: 80).count == 2)
        let again = ObjectMerger()
        again.add([try #require(Self.seen(grid[0], x0: 20, x1: 35, y0: 0, y1: 9))], tile: grid[0])
        again.add([try #require(Self.seen(grid[1], x0: 34, x1: 45, y0: 0, y1: 9))], tile: grid[1])
        #expect(again.finish(sceneWidth: 80).count == 1)
    }
}
