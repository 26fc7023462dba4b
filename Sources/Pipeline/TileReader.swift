public import GeoIO
public import Tiling

/// Reads tiles of a scene as RGB in [0, 255]: chosen bands (one band is replicated to grey
/// RGB), scaled per band by `scaling`, and the validity mask of METHOD.md section 6.
public struct TileReader: Sendable {
    public let scene: RasterDataset
    public let bands: [Int]
    public let scaling: BandScaling

    /// - Parameter bands: 1-based; one band or three.
    public init(scene: RasterDataset, bands: [Int], scaling: BandScaling = .identity) throws {
        guard bands.count == 1 || bands.count == 3 else {
            throw GeoIOError("option --bands: give one band or three (R,G,B), got \(bands.count)")
        }
        try scene.validate(bands: bands)
        self.scene = scene
        self.bands = bands
        self.scaling = scaling
    }

    /// The default band choice: the first three bands, or the only band.
    public static func defaultBands(for scene: RasterDataset) -> [Int] {
        scene.bandCount >= 3 ? [1, 2, 3] : [1]
    }

    public func read(_ tile: Tile) throws -> TileImage {
        let window = Window(col: tile.col, row: tile.row, width: tile.width, height: tile.height)
        let raw = try scene.read(window: window, bands: bands)
        let valid = try scene.validity(window: window, bands: bands, values: raw)
        let n = window.pixelCount
        var rgb = [Float](repeating: 0, count: 3 * n)
        for c in 0..<3 {
            let src = bands.count == 1 ? 0 : c
            let (offset, scale) = scaling.transform(band: src)
            for i in 0..<n {
                let v = (raw[src * n + i] - offset) * scale
                rgb[c * n + i] = valid[i] == 0 ? 0 : min(255, max(0, v))
            }
        }
        return TileImage(tile: tile, pixels: rgb, valid: valid)
    }
}

/// A linear map of each chosen band's values to [0, 255]: value' = (value - offset) * scale,
/// clamped. Identity for 8-bit imagery.
public struct BandScaling: Sendable, Equatable {
    public var offsets: [Float]
    public var scales: [Float]

    public static let identity = BandScaling(offsets: [], scales: [])

    public init(offsets: [Float], scales: [Float]) {
        precondition(offsets.count == scales.count)
        self.offsets = offsets; self.scales = scales
    }

    func transform(band i: Int) -> (offset: Float, scale: Float) {
        i < offsets.count ? (offsets[i], scales[i]) : (0, 1)
    }
}
