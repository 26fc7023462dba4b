/// The affine map from pixel/line to georeferenced coordinates, in GDAL's order
/// (`GDALGetGeoTransform`): x = c0 + col * c1 + row * c2, y = c3 + col * c4 + row * c5.
public struct GeoTransform: Equatable, Sendable, CustomStringConvertible {
    public var coefficients: [Double]

    public init(_ c: [Double]) {
        precondition(c.count == 6, "a geotransform has six coefficients")
        coefficients = c
    }

    /// North-up transform with origin (x, y) of the top-left corner and pixel size (dx, dy > 0).
    public init(originX: Double, originY: Double, pixelWidth: Double, pixelHeight: Double) {
        coefficients = [originX, pixelWidth, 0, originY, 0, -pixelHeight]
    }

    /// GDAL's default for rasters without georeferencing.
    public static let identity = GeoTransform([0, 1, 0, 0, 0, 1])

    public var isIdentity: Bool { self == .identity }

    /// World coordinates of a (fractional) pixel position; (0, 0) is the top-left corner.
    public func apply(col: Double, row: Double) -> (x: Double, y: Double) {
        let c = coefficients
        return (c[0] + col * c[1] + row * c[2], c[3] + col * c[4] + row * c[5])
    }

    /// The inverse map (world -> pixel), or nil for a degenerate transform (`GDALInvGeoTransform`).
    public func inverted() -> GeoTransform? {
        let c = coefficients
        let det = c[1] * c[5] - c[2] * c[4]
        guard det != 0, det.isFinite else { return nil }
        let a = c[5] / det, b = -c[2] / det, d = -c[4] / det, e = c[1] / det
        return GeoTransform([-c[0] * a - c[3] * b, a, b, -c[0] * d - c[3] * e, d, e])
    }

    /// The transform of a window of this raster (its top-left pixel becomes (0, 0)).
    public func shifted(to window: Window) -> GeoTransform {
        let origin = apply(col: Double(window.col), row: Double(window.row))
        var c = coefficients
        c[0] = origin.x
        c[3] = origin.y
        return GeoTransform(c)
    }

    public var description: String { coefficients.map { "\($0)" }.joined(separator: ", ") }
}

/// A rectangle of pixels: column and row of its top-left pixel, width and height.
public struct Window: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var col: Int, row: Int, width: Int, height: Int

    public init(col: Int, row: Int, width: Int, height: Int) {
        self.col = col; self.row = row; self.width = width; self.height = height
    }

    public var pixelCount: Int { width * height }

    public var description: String { "\(width)x\(height)+\(col)+\(row)" }
}
