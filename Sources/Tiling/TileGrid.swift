/// One tile of a scene: its place in the grid and the scene pixels it covers.
public struct Tile: Equatable, Hashable, Sendable, Codable {
    /// Position in the grid (row-major order of processing).
    public let index: Int
    public let gridRow: Int, gridCol: Int
    /// Scene pixel of the tile's top-left corner, and its size (smaller than the tile size at
    /// nothing but scenes smaller than a tile).
    public let col: Int, row: Int, width: Int, height: Int

    /// A window of the scene outside any grid (an exemplar's window, METHOD.md 10.1): index 0.
    public static func window(col: Int, row: Int, width: Int, height: Int) -> Tile {
        Tile(index: 0, gridRow: 0, gridCol: 0, col: col, row: row, width: width, height: height)
    }
}

/// The tiling of docs/METHOD.md section 5: tiles of `size` pixels overlapping by `overlap`,
/// origins 0, stride, 2*stride, ... while origin + size < N, and a last tile flush with the far
/// edge; an axis no longer than a tile has one tile covering it.
public struct TileGrid: Sendable, Equatable {
    public let width: Int, height: Int
    public let size: Int, overlap: Int
    /// Tile origins along x (columns) and y (rows).
    public let columnOrigins: [Int], rowOrigins: [Int]

    /// Why a grid cannot be made; `kind` says which parameter is at fault.
    public struct InvalidParameters: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable, Equatable { case emptyScene, tileSize, overlap }
        public let kind: Kind
        public let description: String
    }

    public init(width: Int, height: Int, size: Int = 512, overlap: Int = 128) throws {
        guard width > 0, height > 0 else { throw InvalidParameters(kind: .emptyScene, description: "the scene is empty (\(width)x\(height))") }
        guard size > 0 else { throw InvalidParameters(kind: .tileSize, description: "the tile size must be positive (got \(size))") }
        guard overlap >= 0, overlap < size else {
            throw InvalidParameters(kind: .overlap, description: "the overlap must be at least 0 and less than the tile size \(size) (got \(overlap))")
        }
        self.width = width; self.height = height; self.size = size; self.overlap = overlap
        columnOrigins = Self.origins(length: width, size: size, stride: size - overlap)
        rowOrigins = Self.origins(length: height, size: size, stride: size - overlap)
    }

    /// Origins along one axis of length n.
    public static func origins(length n: Int, size: Int, stride: Int) -> [Int] {
        guard n > size else { return [0] }
        var out: [Int] = []
        var o = 0
        while o + size < n { out.append(o); o += stride }
        out.append(n - size)
        return out
    }

    public var tileCount: Int { columnOrigins.count * rowOrigins.count }

    /// The first grid row whose tiles reach scene row `row`: no earlier grid row touches `row` or
    /// any row below it, so a run that starts there (a resumed run, a shard) adds exactly the
    /// tile contributions of a whole run to those rows, in the same order.
    public func firstGridRow(reaching row: Int) -> Int {
        rowOrigins.firstIndex { $0 + tileHeight > row } ?? rowOrigins.count
    }

    /// Length of the tiles along an axis: the tile size, or the axis length when shorter.
    public var tileWidth: Int { min(size, width) }
    public var tileHeight: Int { min(size, height) }

    /// All tiles, row by row.
    public var tiles: [Tile] {
        var out: [Tile] = []
        out.reserveCapacity(tileCount)
        for (r, y) in rowOrigins.enumerated() {
            for (c, x) in columnOrigins.enumerated() {
                out.append(Tile(index: out.count, gridRow: r, gridCol: c, col: x, row: y, width: tileWidth, height: tileHeight))
            }
        }
        return out
    }

    /// The blend weights along one axis for a tile of length `length` starting at `origin` on an
    /// axis of length `axisLength`: w(t) = a(t) * b(length - 1 - t), a = 1 when the tile starts
    /// on the scene edge else min(1, (t + 0.5) / overlap), b likewise at the far edge.
    public func axisWeights(origin: Int, length: Int, axisLength: Int) -> [Float] {
        let startsOnEdge = origin == 0 || overlap == 0
        let endsOnEdge = origin + length >= axisLength || overlap == 0
        let o = Double(overlap)
        return (0..<length).map { t in
            let a = startsOnEdge ? 1 : min(1, (Double(t) + 0.5) / o)
            let b = endsOnEdge ? 1 : min(1, (Double(length - 1 - t) + 0.5) / o)
            return Float(a * b)
        }
    }

    /// Column and row blend weights of a tile; the weight of pixel (x, y) is wx[x] * wy[y].
    public func weights(for tile: Tile) -> (x: [Float], y: [Float]) {
        (axisWeights(origin: tile.col, length: tile.width, axisLength: width),
         axisWeights(origin: tile.row, length: tile.height, axisLength: height))
    }
}
