public import GeoIO
public import Tiling

/// Reads tiles of a scene as RGB in [0, 255]: chosen bands (one band is replicated to grey
/// RGB), scaled per band by `scaling`, and the validity mask of METHOD.md section 6.
public struct TileReader: Sendable {
    public let scene: RasterDataset
    public let bands: [Int]
    public let scaling: BandScaling
    /// Pixels outside these polygons are nodata (a polygon `--aoi`); nil: none.
    public let mask: AreaMask?

    /// - Parameter bands: 1-based; one band or three.
    public init(scene: RasterDataset, bands: [Int], scaling: BandScaling = .identity, mask: AreaMask? = nil) throws {
        guard bands.count == 1 || bands.count == 3 else {
            throw GeoIOError("give one band or three (R,G,B), got \(bands.count)", kind: .bandChoice(count: bands.count))
        }
        try scene.validate(bands: bands)
        self.scene = scene
        self.bands = bands
        self.scaling = scaling
        self.mask = mask
    }

    /// The default band choice: the first three bands, or the only band.
    public static func defaultBands(for scene: RasterDataset) -> [Int] {
        scene.bandCount >= 3 ? [1, 2, 3] : [1]
    }

    public func read(_ tile: Tile) throws -> TileImage {
        let window = PixelWindow(col: tile.col, row: tile.row, width: tile.width, height: tile.height)
        let raw = try scene.read(window: window, bands: bands)
        var valid = try scene.validity(window: window, bands: bands, values: raw)
        if let mask {
            let inside = try mask.inside(window: window)
            for i in valid.indices where inside[i] == 0 { valid[i] = 0 }
        }
        let n = window.pixelCount
        var rgb = [Float](repeating: 0, count: 3 * n)
        for c in 0..<3 {
            let src = bands.count == 1 ? 0 : c
            for i in 0..<n {
                rgb[c * n + i] = valid[i] == 0 ? 0 : scaling.scaled(raw[src * n + i], band: src)
            }
        }
        return TileImage(tile: tile, pixels: rgb, valid: valid)
    }
}

/// A linear map of each chosen band's values to [0, 255]: value' = (value - offset) * scale,
/// clamped. Identity for 8-bit imagery.
public struct BandScaling: Sendable, Equatable, Codable {
    public var offsets: [Float]
    public var scales: [Float]
    /// Given by the user (`--scale`) rather than taken from the scene's percentiles.
    public var isFixed = false

    public static let identity = BandScaling(offsets: [], scales: [])

    public init(offsets: [Float], scales: [Float]) {
        precondition(offsets.count == scales.count)
        self.offsets = offsets; self.scales = scales
    }

    /// Each chosen band's `ranges[i]` (or the one range for all) mapped to 0..255, the same on
    /// every scene: neighbouring scenes are then stretched alike.
    /// - Throws: `SettingsError` unless there is one range, or one per band, each low < high.
    public init(fixed ranges: [ClosedRange<Double>], bandCount: Int) throws {
        guard ranges.count == 1 || ranges.count == bandCount else {
            throw SettingsError("option --scale: \(ranges.count) ranges for \(bandCount) band\(bandCount == 1 ? "" : "s"); give one MIN,MAX for all bands or one per band")
        }
        let all = ranges.count == 1 ? Array(repeating: ranges[0], count: bandCount) : ranges
        for r in all where !(r.lowerBound.isFinite && r.upperBound.isFinite && r.lowerBound < r.upperBound) {
            throw SettingsError("option --scale: \(r.lowerBound),\(r.upperBound) is not a range MIN,MAX with MIN < MAX")
        }
        self.init(offsets: all.map { Float($0.lowerBound) }, scales: all.map { Float(255 / ($0.upperBound - $0.lowerBound)) })
        isFixed = true
    }

    /// A value of chosen band `i` (0-based) mapped to [0, 255], clamped.
    public func scaled(_ value: Float, band i: Int) -> Float {
        let (offset, scale) = i < offsets.count ? (offsets[i], scales[i]) : (0, 1)
        return min(255, max(0, (value - offset) * scale))
    }

    /// How `segment` scales a scene: 8-bit bands as they are; any other data type (16-bit,
    /// float) from its scene-wide 2nd and 98th percentiles to 0 and 255, per band, taken from a
    /// read of the whole band at most `sample` pixels on its long side (overviews when the
    /// file has them), nodata excluded.
    public static func automatic(scene: RasterDataset, bands: [Int], sample: Int = 1024) throws -> BandScaling {
        try scene.validate(bands: bands)
        guard bands.contains(where: { scene.bands[$0 - 1].dataType != .byte }) else { return .identity }
        let (w, h) = scene.overviewSize(maxSide: sample)
        var offsets: [Float] = [], scales: [Float] = []
        for b in bands {
            let nodata = scene.bands[b - 1].nodata.map(Float.init)
            // Infinities and NaN are nodata (RasterDataset.validity): they never enter the percentiles.
            var v = try scene.readDownsampled(band: b, width: w, height: h).filter { $0 != nodata && $0.isFinite }
            guard !v.isEmpty else { offsets.append(0); scales.append(1); continue }
            v.sort()
            let lo = v[Int(0.02 * Double(v.count - 1))], hi = v[Int(0.98 * Double(v.count - 1))]
            // A range wider than Float holds (hi - lo overflowing) gets the widest finite scale.
            let scale = hi > lo ? Float(255 / (Double(hi) - Double(lo))) : 1
            offsets.append(lo)
            scales.append(scale.isFinite && scale > 0 ? scale : Float.leastNormalMagnitude)
        }
        return BandScaling(offsets: offsets, scales: scales)
    }

    /// For provenance: "identity", or per band "p2..p98" in the band's own units.
    public var summary: String {
        if offsets.isEmpty { return "identity (8-bit input)" }
        return zip(offsets, scales).map { o, s in
            let top = o + 255 / s
            return top.isFinite ? "\(o)..\(top)" : "\(o)..\(Double(o) + 255 / Double(s))"
        }.joined(separator: ", ") + (isFixed ? " -> 0..255 (fixed by --scale)" : " -> 0..255 (2nd..98th percentile per band)")
    }
}
