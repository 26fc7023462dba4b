import Foundation
import Testing
import Tiling

@Suite("Tile grid and blending (METHOD.md section 5)")
struct TileGridTests {
    /// METHOD.md's origins, written independently: 0, stride, ... while origin + S < N, then N - S.
    static func expectedOrigins(_ n: Int, _ s: Int, _ o: Int) -> [Int] {
        if n <= s { return [0] }
        return Array(Swift.stride(from: 0, to: n - s, by: s - o)) + [n - s]
    }

    @Test("origins follow the formula", arguments: [
        (1000, 512, 128), (1024, 512, 128), (512, 512, 128), (300, 512, 128), (513, 512, 128),
        (2000, 512, 0), (5450, 512, 128), (100, 32, 31), (97, 16, 4),
    ])
    func origins(n: Int, size: Int, overlap: Int) throws {
        let grid = try TileGrid(width: n, height: 7, size: size, overlap: overlap)
        #expect(grid.columnOrigins == Self.expectedOrigins(n, size, overlap))
        #expect(grid.columnOrigins.last! + grid.tileWidth == n, "the last tile is flush with the edge")
        #expect(grid.rowOrigins == [0] && grid.tileHeight == 7, "an axis shorter than a tile has one tile of its length")
        #expect(grid.tileCount == grid.columnOrigins.count)
    }

    @Test("weights are the product of linear ramps across the overlap, 1 on scene edges")
    func weights() throws {
        let grid = try TileGrid(width: 1000, height: 1000, size: 512, overlap: 128)
        let tiles = grid.tiles
        #expect(tiles.count == 9)
        let middle = tiles[4]  // starts at 384, ends at 896: ramps on both sides
        let (wx, _) = grid.weights(for: middle)
        for t in 0..<512 {
            let a = min(1.0, (Double(t) + 0.5) / 128), b = min(1.0, (Double(511 - t) + 0.5) / 128)
            #expect(abs(Double(wx[t]) - a * b) < 1e-6)
        }
        let first = grid.weights(for: tiles[0]).x  // starts on the scene edge
        #expect(first[0] == 1 && first[100] == 1 && abs(Double(first[511]) - 0.5 / 128) < 1e-7)
        let noOverlap = try TileGrid(width: 1000, height: 600, size: 256, overlap: 0)
        for tile in noOverlap.tiles {
            let (x, y) = noOverlap.weights(for: tile)
            #expect((x + y).allSatisfy { $0 == 1 })
        }
    }

    @Test("invalid sizes and overlaps are errors of their kind")
    func invalid() {
        let size = #expect(throws: TileGrid.InvalidParameters.self) { try TileGrid(width: 10, height: 10, size: 0, overlap: 0) }
        #expect(size?.kind == .tileSize)
        let e = #expect(throws: TileGrid.InvalidParameters.self) { try TileGrid(width: 10, height: 10, size: 64, overlap: 64) }
        #expect(e?.kind == .overlap && e?.description.contains("overlap") == true)
    }
}

@Suite("Strip stitcher")
struct StripStitcherTests {
    /// A smooth function of the global pixel position, one per class.
    static func field(_ k: Int, _ x: Int, _ y: Int) -> Float {
        Float(k + 1) * (0.01 * Float(x) - 0.003 * Float(y)) + Float(k) * 0.5 + Float(sin(Double(x + 2 * y) * 0.01))
    }

    /// Runs every tile of `grid` through a segmenter whose output is `field` at the tile's
    /// global positions; returns the stitched scene, class-major.
    static func stitch(_ grid: TileGrid, classes: Int, valid: ((Int, Int) -> Bool)? = nil) -> (values: [Float], weights: [Float], maxBuffer: Int) {
        var stitcher = StripStitcher(grid: grid, classCount: classes)
        var values = [Float](repeating: .nan, count: classes * grid.width * grid.height)
        var weights = [Float](repeating: -1, count: grid.width * grid.height)
        var maxBuffer = 0
        var nextRow = 0
        for tile in grid.tiles {
            var v = [Float](repeating: 0, count: classes * tile.width * tile.height)
            var mask = [UInt8](repeating: 1, count: tile.width * tile.height)
            for k in 0..<classes {
                for y in 0..<tile.height {
                    for x in 0..<tile.width {
                        v[(k * tile.height + y) * tile.width + x] = field(k, tile.col + x, tile.row + y)
                        if let valid, !valid(tile.col + x, tile.row + y) { mask[y * tile.width + x] = 0 }
                    }
                }
            }
            let rows = stitcher.add(tile: tile, values: v, valid: mask)
            maxBuffer = max(maxBuffer, stitcher.bufferCapacity)
            guard let rows else { continue }
            #expect(rows.row == nextRow, "rows arrive in order without gaps")
            nextRow = rows.row + rows.rowCount
            for k in 0..<classes {
                for r in 0..<rows.rowCount {
                    for x in 0..<rows.width {
                        values[(k * grid.height + rows.row + r) * grid.width + x] = rows.value(class: k, row: r, col: x)
                    }
                }
            }
            for i in 0..<(rows.rowCount * rows.width) { weights[rows.row * grid.width + i] = rows.weights[i] }
        }
        #expect(nextRow == grid.height, "every row is handed out")
        return (values, weights, maxBuffer)
    }

    @Test("a function of the global position is reconstructed exactly: no seams", arguments: [
        (1000, 900, 512, 128), (700, 1300, 256, 64), (300, 200, 512, 128), (530, 530, 128, 0), (97, 61, 16, 15),
    ])
    func seamless(width: Int, height: Int, size: Int, overlap: Int) throws {
        let grid = try TileGrid(width: width, height: height, size: size, overlap: overlap)
        let (values, weights, _) = Self.stitch(grid, classes: 3)
        var worst: Float = 0
        for k in 0..<3 {
            for y in 0..<height {
                for x in 0..<width {
                    let expected = Self.field(k, x, y)
                    worst = max(worst, abs(values[(k * height + y) * width + x] - expected) / max(1, abs(expected)))
                }
            }
        }
        #expect(worst < 1e-5, "largest relative error \(worst)")
        #expect(weights.allSatisfy { $0 > 0 })
    }

    /// Stitches tiles from the first grid row reaching `startRow` on, each tile's values its own
    /// (the field plus a per-tile offset, so that a missing or extra tile shows); returns the
    /// scene rows from `startRow` down, class-major, with NaN where no row was handed out.
    static func stitchTail(_ grid: TileGrid, classes: Int, from startRow: Int) -> [Float] {
        let first = grid.firstGridRow(reaching: startRow)
        var stitcher = StripStitcher(grid: grid, classCount: classes, startingAt: first)
        var values = [Float](repeating: .nan, count: classes * grid.width * grid.height)
        for tile in grid.tiles where tile.gridRow >= first {
            var v = [Float](repeating: 0, count: classes * tile.width * tile.height)
            for k in 0..<classes {
                for y in 0..<tile.height {
                    for x in 0..<tile.width { v[(k * tile.height + y) * tile.width + x] = field(k, tile.col + x, tile.row + y) + 0.37 * Float(tile.index % 7) }
                }
            }
            guard let rows = stitcher.add(tile: tile, values: v, valid: nil) else { continue }
            for k in 0..<classes {
                for r in 0..<rows.rowCount where rows.row + r >= startRow {
                    for x in 0..<rows.width { values[(k * grid.height + rows.row + r) * grid.width + x] = rows.value(class: k, row: r, col: x) }
                }
            }
        }
        return values
    }

    @Test("a run that starts at a later strip (resume, shard) gives the same bits below it as a whole run", arguments: [
        (700, 1000, 256, 64), (300, 533, 128, 32), (200, 700, 128, 0),
    ])
    func resumedRowsAreTheSameBits(width: Int, height: Int, size: Int, overlap: Int) throws {
        let grid = try TileGrid(width: width, height: height, size: size, overlap: overlap)
        let whole = Self.stitchTail(grid, classes: 2, from: 0)
        // Every row where a strip ends (the grid row origins) is a place a killed run can resume from.
        for startRow in grid.rowOrigins.dropFirst() {
            #expect(grid.firstGridRow(reaching: startRow) <= grid.rowOrigins.firstIndex(of: startRow)!)
            let tail = Self.stitchTail(grid, classes: 2, from: startRow)
            var same = true
            for k in 0..<2 {
                for i in (startRow * width)..<(height * width) where whole[k * height * width + i].bitPattern != tail[k * height * width + i].bitPattern { same = false }
            }
            #expect(same, "rows from \(startRow) differ from the whole run's")
        }
        #expect(grid.firstGridRow(reaching: 0) == 0 && grid.firstGridRow(reaching: height) == grid.rowOrigins.count)
    }

    @Test("nodata pixels get weight 0 and do not leak into their neighbours")
    func nodata() throws {
        let grid = try TileGrid(width: 600, height: 600, size: 256, overlap: 64)
        let hole: (Int, Int) -> Bool = { x, y in !(x < 300 && y < 250) }
        let (values, weights, _) = Self.stitch(grid, classes: 2, valid: hole)
        for y in stride(from: 0, to: 600, by: 7) {
            for x in stride(from: 0, to: 600, by: 7) {
                if hole(x, y) {
                    #expect(weights[y * 600 + x] > 0)
                    #expect(abs(values[y * 600 + x] - Self.field(0, x, y)) < 1e-4)
                } else {
                    #expect(weights[y * 600 + x] == 0)
                }
            }
        }
    }

    @Test("memory is bounded by width x (tile + overlap) x classes, whatever the height")
    func memoryBound() throws {
        let classes = 8
        for height in [2048, 20000] {
            let grid = try TileGrid(width: 2048, height: height, size: 512, overlap: 128)
            var stitcher = StripStitcher(grid: grid, classCount: classes)
            var peak = stitcher.bufferCapacity
            var rowsOut = 0
            let blank = [Float](repeating: 0.5, count: classes * 512 * 512)
            for tile in grid.tiles {
                // Real values in the first grid row only: the buffer's size does not depend on them.
                let values = tile.gridRow == 0 ? blank : nil
                if let rows = stitcher.add(tile: tile, values: values, valid: nil) { rowsOut += rows.rowCount }
                peak = max(peak, stitcher.bufferCapacity)
            }
            #expect(rowsOut == height)
            // The bound, in floats: width x (tile + overlap) x classes.
            #expect(peak <= 2048 * (512 + 128) * classes, "height \(height): \(peak) floats")
        }
    }
}
