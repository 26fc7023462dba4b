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
    /// `segment`, telling `steps` how far into the tile it is: the steps done and their
    /// number (SAM 3: text queries x rotations), so the progress and its time left move within
    /// tiles that take minutes. Engines with quick tiles need not report (the default).
    func segment(_ image: TileImage, steps: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) async throws -> [Float]
}

extension Segmenter {
    public var encoderRunsPerTile: Int { 1 }
    public func segment(_ image: TileImage, steps: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) async throws -> [Float] {
        try await segment(image)
    }
}
