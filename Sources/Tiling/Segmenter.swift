/// One tile's pixels as the model sees them: RGB planes with values in [0, 255] and a
/// validity mask (METHOD.md section 3's input).
public struct TileImage: Sendable {
    public let tile: Tile
    /// Channel-major RGB: pixels[(c * tile.height + y) * tile.width + x], c = 0 (R), 1, 2.
    public var pixels: [Float]
    /// 1 for valid pixels, 0 for nodata, row-major.
    public var valid: [UInt8]

    public init(tile: Tile, pixels: [Float], valid: [UInt8]) {
        precondition(pixels.count == 3 * tile.width * tile.height && valid.count == tile.width * tile.height)
        self.tile = tile; self.pixels = pixels; self.valid = valid
    }

    /// True when at least one pixel is valid: a tile with none is never encoded.
    public var hasValidPixels: Bool { valid.contains(1) }
}

/// The seam between geospatial code and the model: an RGB tile in, one value per output
/// channel and pixel out (class-major, `channelCount` planes of tile.height x tile.width).
/// The CLIP segmenter returns per-query logits; tests drive the pipeline with small
/// deterministic segmenters.
public protocol Segmenter: Sendable {
    /// Planes per tile (the number of text queries for the CLIP segmenter).
    var channelCount: Int { get }
    /// Model forwards per encoded tile (rotations), for statistics.
    var encoderRunsPerTile: Int { get }
    func segment(_ image: TileImage) async throws -> [Float]
}

extension Segmenter {
    public var encoderRunsPerTile: Int { 1 }
}

/// Progress inside one tile, for engines whose tiles take long (SAM 3: a minute or more a
/// tile, one head per text query): while a tile runs, the scene runner binds `report`, and the
/// segmenter calls it with the steps of the tile done and their number (queries x rotations),
/// so the progress line and its time left move within a tile.
public enum TileProgress {
    @TaskLocal public static var report: (@Sendable (_ done: Int, _ total: Int) -> Void)?
}

