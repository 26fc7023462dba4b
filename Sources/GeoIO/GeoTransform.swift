import Foundation

/// The affine map from pixel/line to georeferenced coordinates (GDAL's geotransform):
/// x = originX + col * pixelWidth + row * rowRotation,
/// y = originY + col * columnRotation + row * pixelHeight
/// (pixelHeight is negative for north-up rasters; (col, row) = (0, 0) is the top-left corner).
public struct GeoTransform: Equatable, Sendable, CustomStringConvertible {
    public var originX: Double
    public var pixelWidth: Double
    public var rowRotation: Double
    public var originY: Double
    public var columnRotation: Double
    public var pixelHeight: Double

    public init(originX: Double, pixelWidth: Double, rowRotation: Double = 0, originY: Double, columnRotation: Double = 0, pixelHeight: Double) {
        self.originX = originX; self.pixelWidth = pixelWidth; self.rowRotation = rowRotation
        self.originY = originY; self.columnRotation = columnRotation; self.pixelHeight = pixelHeight
    }

    /// From GDAL's six coefficients, in `GDALGetGeoTransform`'s order.
    public init(_ c: [Double]) {
        precondition(c.count == 6, "a geotransform has six coefficients")
        self.init(originX: c[0], pixelWidth: c[1], rowRotation: c[2], originY: c[3], columnRotation: c[4], pixelHeight: c[5])
    }

    /// North-up transform with origin (x, y) of the top-left corner and pixel size (dx, dy > 0).
    public init(originX: Double, originY: Double, pixelWidth: Double, pixelHeight: Double) {
        self.init(originX: originX, pixelWidth: pixelWidth, originY: originY, pixelHeight: -pixelHeight)
    }

    /// GDAL's six coefficients, for `GDALSetGeoTransform`.
    public var coefficients: [Double] { [originX, pixelWidth, rowRotation, originY, columnRotation, pixelHeight] }

    /// GDAL's default for rasters without georeferencing.
    public static let identity = GeoTransform(originX: 0, pixelWidth: 1, originY: 0, pixelHeight: 1)

    public var isIdentity: Bool { self == .identity }

    /// World coordinates of a (fractional) pixel position; (0, 0) is the top-left corner.
    public func pixelToWorld(col: Double, row: Double) -> (x: Double, y: Double) {
        (originX + col * pixelWidth + row * rowRotation, originY + col * columnRotation + row * pixelHeight)
    }

    /// The (fractional) pixel position of world coordinates, or nil for a degenerate transform.
    public func worldToPixel(x: Double, y: Double) -> (col: Double, row: Double)? {
        inverted().map { i in let p = i.pixelToWorld(col: x, row: y); return (p.x, p.y) }
    }

    /// The inverse map (world -> pixel), or nil for a degenerate transform (`GDALInvGeoTransform`).
    public func inverted() -> GeoTransform? {
        let det = pixelWidth * pixelHeight - rowRotation * columnRotation
        guard det != 0, det.isFinite else { return nil }
        let a = pixelHeight / det, b = -rowRotation / det, d = -columnRotation / det, e = pixelWidth / det
        return GeoTransform(originX: -originX * a - originY * b, pixelWidth: a, rowRotation: b,
                            originY: -originX * d - originY * e, columnRotation: d, pixelHeight: e)
    }

    /// The transform of a window of this raster (its top-left pixel becomes (0, 0)).
    public func shifted(to window: PixelWindow) -> GeoTransform {
        let origin = pixelToWorld(col: Double(window.col), row: Double(window.row))
        var t = self
        t.originX = origin.x
        t.originY = origin.y
        return t
    }

    /// The ground distance of one pixel step along columns and along rows, in CRS units.
    public var pixelSize: (x: Double, y: Double) { (hypot(pixelWidth, columnRotation), hypot(rowRotation, pixelHeight)) }

    public var description: String { coefficients.map { "\($0)" }.joined(separator: ", ") }
}

/// A rectangle of pixels: column and row of its top-left pixel, width and height. The one
/// rectangle type of the project: raster windows, tiles' footprints, objects' boxes, strips.
public struct PixelWindow: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var col: Int, row: Int, width: Int, height: Int

    public init(col: Int, row: Int, width: Int, height: Int) {
        self.col = col; self.row = row; self.width = width; self.height = height
    }

    /// The whole of a raster of this size.
    public init(width: Int, height: Int) { self.init(col: 0, row: 0, width: width, height: height) }

    /// Rows `rows` of a raster `width` pixels wide.
    public static func rows(_ rows: Range<Int>, width: Int) -> PixelWindow {
        PixelWindow(col: 0, row: rows.lowerBound, width: width, height: rows.count)
    }

    /// Strips of at most `height` rows covering a raster of `rasterWidth` x `rasterHeight`, top
    /// to bottom.
    public static func strips(ofHeight height: Int, width rasterWidth: Int, height rasterHeight: Int) -> [PixelWindow] {
        precondition(height > 0)
        return stride(from: 0, to: rasterHeight, by: height).map { rows($0..<min($0 + height, rasterHeight), width: rasterWidth) }
    }

    public var pixelCount: Int { width * height }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    /// One past the last column and row.
    public var endCol: Int { col + width }
    public var endRow: Int { row + height }

    /// The pixels in both, or nil when they do not meet.
    public func intersection(_ other: PixelWindow) -> PixelWindow? {
        let c0 = max(col, other.col), r0 = max(row, other.row)
        let c1 = min(endCol, other.endCol), r1 = min(endRow, other.endRow)
        return c1 > c0 && r1 > r0 ? PixelWindow(col: c0, row: r0, width: c1 - c0, height: r1 - r0) : nil
    }

    /// This window cut to a raster of `width` x `height` (nil when nothing is left).
    public func clamped(width: Int, height: Int) -> PixelWindow? { intersection(PixelWindow(width: width, height: height)) }

    /// Whether the pixel (col, row) is inside.
    public func contains(col c: Int, row r: Int) -> Bool { c >= col && c < endCol && r >= row && r < endRow }

    public var description: String { "\(width)x\(height)+\(col)+\(row)" }
}
