/// One object an engine found in one tile (SAM 3's instances, docs/METHOD.md section 9): its
/// class, score and mask, placed on the scene grid. The mask covers the box `col, row, width,
/// height` in scene pixels, row-major, true inside the object.
public struct TileObject: Sendable, Equatable {
    public var classIndex: Int
    public var score: Float
    /// The tile it was seen in (its scene window decides the shared area with other tiles).
    public var tile: Tile
    public var col: Int, row: Int, width: Int, height: Int
    public var mask: [Bool]

    public init(classIndex: Int, score: Float, tile: Tile, col: Int, row: Int, width: Int, height: Int, mask: [Bool]) {
        precondition(mask.count == width * height)
        self.classIndex = classIndex; self.score = score; self.tile = tile
        self.col = col; self.row = row; self.width = width; self.height = height; self.mask = mask
    }

    /// Whether scene pixel (x, y) is inside the object.
    public func contains(x: Int, y: Int) -> Bool {
        x >= col && x < col + width && y >= row && y < row + height && mask[(y - row) * width + x - col]
    }

    /// Pixels inside the object.
    public var pixelCount: Int { mask.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// The object from a tile-local mask (`tile.width x tile.height`, row-major), cut to its
    /// bounding box; nil when the mask is empty.
    public init?(classIndex: Int, score: Float, tile: Tile, localMask: [Bool]) {
        precondition(localMask.count == tile.width * tile.height)
        var (x0, y0, x1, y1) = (Int.max, Int.max, -1, -1)
        for y in 0..<tile.height {
            for x in 0..<tile.width where localMask[y * tile.width + x] {
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        guard x1 >= 0 else { return nil }
        let (w, h) = (x1 - x0 + 1, y1 - y0 + 1)
        var cut = [Bool](repeating: false, count: w * h)
        for y in 0..<h { for x in 0..<w { cut[y * w + x] = localMask[(y + y0) * tile.width + x + x0] } }
        self.init(classIndex: classIndex, score: score, tile: tile, col: tile.col + x0, row: tile.row + y0, width: w, height: h, mask: cut)
    }
}

/// Receives the objects of each tile as the engine finds them (from the segmenting task).
public protocol TileObjectSink: Sendable {
    func add(_ objects: [TileObject], tile: Tile)
}
