/// Rows of the stitched scene that no later tile can change: per-class values (the weighted mean
/// of every tile covering each pixel) and the summed weight (0 where no valid tile pixel fell:
/// nodata).
public struct StitchedRows: Sendable {
    /// First scene row, and how many rows.
    public let row: Int, rowCount: Int
    public let width: Int
    public let classCount: Int
    /// Class-major: values[(k * rowCount + r) * width + x].
    public let values: [Float]
    /// Row-major: weights[r * width + x].
    public let weights: [Float]

    public func value(class k: Int, row r: Int, col x: Int) -> Float { values[(k * rowCount + r) * width + x] }
}

/// Blends per-tile class maps into the scene (docs/METHOD.md section 5) holding only the band of
/// rows that tiles still overlap: the current tile row's `tile` rows, so memory is
/// width x tile x classes floats (within the width x (tile + overlap) x classes bound)
/// whatever the scene's height. Tiles must arrive grid row by grid row, as `TileGrid.tiles`
/// lists them; finished rows come back from `add` as soon as a grid row is complete.
public struct StripStitcher: Sendable {
    public let grid: TileGrid
    public let classCount: Int
    /// The first scene row held in the buffer.
    public private(set) var bufferRow: Int = 0
    private let bufferRows: Int
    private var sums: [Float]
    private var weightSums: [Float]
    private var addedInGridRow = 0
    private var gridRow = 0

    /// - Parameter gridRow: the first grid row that will arrive (a run that resumes, or a shard):
    ///   rows above its origin get no tiles, and the rows handed back start at its origin.
    public init(grid: TileGrid, classCount: Int, startingAt gridRow: Int = 0) {
        precondition(classCount > 0 && gridRow >= 0 && gridRow < grid.rowOrigins.count)
        self.grid = grid
        self.classCount = classCount
        self.gridRow = gridRow
        bufferRow = grid.rowOrigins[gridRow]
        bufferRows = grid.tileHeight
        sums = [Float](repeating: 0, count: classCount * bufferRows * grid.width)
        weightSums = [Float](repeating: 0, count: bufferRows * grid.width)
    }

    /// Floats the stitcher holds (its two buffers together): what the memory bound is about.
    public var bufferCapacity: Int { sums.capacity + weightSums.capacity }

    /// Adds one tile's class map.
    /// - Parameters:
    ///   - values: class-major tile values, values[(k * tile.height + y) * tile.width + x];
    ///     nil for a tile that was skipped (all nodata): it contributes nothing.
    ///   - valid: 1 for valid pixels, 0 for nodata (weight 0); nil when all are valid.
    /// - Returns: the scene rows finished by this tile, or nil.
    public mutating func add(tile: Tile, values: [Float]?, valid: [UInt8]?) -> StitchedRows? {
        precondition(tile.gridRow == gridRow, "tiles must arrive grid row by grid row")
        if let values {
            precondition(values.count == classCount * tile.width * tile.height)
            let (wx, wy) = grid.weights(for: tile)
            let w = grid.width, plane = bufferRows * w, tw = tile.width, th = tile.height
            let r0 = tile.row - bufferRow
            sums.withUnsafeMutableBufferPointer { acc in
                weightSums.withUnsafeMutableBufferPointer { ws in
                    values.withUnsafeBufferPointer { v in
                        var weights = [Float](repeating: 0, count: tw)
                        weights.withUnsafeMutableBufferPointer { weights in
                            for y in 0..<th {
                                let dst = (r0 + y) * w + tile.col
                                var everyPixel = true
                                for x in 0..<tw {
                                    var weight = wx[x] * wy[y]
                                    if let valid, valid[y * tw + x] == 0 { weight = 0 }
                                    weights[x] = weight
                                    everyPixel = everyPixel && weight > 0
                                }
                                if everyPixel {
                                    // The same sums, a class plane at a time (contiguous, vectorised).
                                    for x in 0..<tw { ws[dst + x] += weights[x] }
                                    for k in 0..<classCount {
                                        let sum = acc.baseAddress! + k * plane + dst, row = v.baseAddress! + (k * th + y) * tw
                                        for x in 0..<tw { sum[x] += weights[x] * row[x] }
                                    }
                                    continue
                                }
                                for x in 0..<tw where weights[x] > 0 {
                                    ws[dst + x] += weights[x]
                                    for k in 0..<classCount {
                                        acc[k * plane + dst + x] += weights[x] * v[(k * th + y) * tw + x]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        addedInGridRow += 1
        guard addedInGridRow == grid.columnOrigins.count else { return nil }
        addedInGridRow = 0
        gridRow += 1
        let end = gridRow < grid.rowOrigins.count ? grid.rowOrigins[gridRow] : grid.height
        return flush(upTo: end)
    }

    /// Hands back rows [bufferRow, end) normalised by their weights and shifts the rest up.
    private mutating func flush(upTo end: Int) -> StitchedRows {
        let w = grid.width, n = end - bufferRow, plane = bufferRows * w
        let done = n * w, keep = plane - done
        let weights = Array(weightSums[0..<done])
        let classes = classCount
        let values = [Float](unsafeUninitializedCapacity: classes * done) { out, count in
            sums.withUnsafeBufferPointer { acc in
                weights.withUnsafeBufferPointer { ws in
                    for k in 0..<classes {
                        let src = acc.baseAddress! + k * plane, dst = out.baseAddress! + k * done
                        for i in 0..<done { dst[i] = ws[i] > 0 ? src[i] / ws[i] : 0 }
                    }
                }
            }
            count = classes * done
        }
        sums.withUnsafeMutableBufferPointer { acc in
            for k in 0..<classes {
                let base = acc.baseAddress! + k * plane
                base.update(from: base + done, count: keep)
                (base + keep).update(repeating: 0, count: done)
            }
        }
        weightSums.withUnsafeMutableBufferPointer { ws in
            ws.baseAddress!.update(from: ws.baseAddress! + done, count: keep)
            (ws.baseAddress! + keep).update(repeating: 0, count: done)
        }
        let out = StitchedRows(row: bufferRow, rowCount: n, width: w, classCount: classes, values: values, weights: weights)
        bufferRow = end
        return out
    }
}
