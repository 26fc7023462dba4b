import Foundation

/// The true area of a raster's pixels on the WGS 84 ellipsoid, for area-per-class tables: the
/// grid is cut into cells one pixel row high and `blockWidth` pixels wide, each cell's four
/// corners are carried to longitude/latitude (PROJ) and its geodesic area measured
/// (`Geodesy.area`, Karney); every pixel of a cell counts the cell's area divided by its
/// pixels. Right in any CRS: UTM, Web Mercator (whose nominal pixel area is 1/cos²(latitude)
/// too large) and longitude/latitude grids alike. Rows are computed as asked and cached one at a
/// time, so memory stays one row of cells.
public final class PixelAreas: @unchecked Sendable {  // used by one writer task at a time
    public let width: Int
    public let blockWidth: Int
    private let geoTransform: GeoTransform
    private let transform: CoordinateTransform?
    private var cachedRow = -1
    private var cached: [Double] = []

    /// - Throws: `GeoIOError` when the CRS cannot be carried to WGS 84.
    public init(width: Int, geoTransform: GeoTransform, crs: SpatialReference, blockWidth: Int = 64) throws {
        precondition(width > 0 && blockWidth > 0)
        self.width = width
        self.blockWidth = blockWidth
        self.geoTransform = geoTransform
        let wgs84 = try SpatialReference.wgs84()
        transform = crs.isSame(as: wgs84) ? nil : try CoordinateTransform(from: crs, to: wgs84)
    }

    /// Square metres of one pixel in each block of `row` (block b holds columns
    /// b * blockWidth ..< min(width, (b + 1) * blockWidth)).
    public func pixelArea(row: Int) throws -> [Double] {
        if row == cachedRow { return cached }
        let blocks = (width + blockWidth - 1) / blockWidth
        // The corners along the row's top and bottom edges.
        var xs: [Double] = [], ys: [Double] = []
        for edge in [Double(row), Double(row + 1)] {
            for b in 0...blocks {
                let p = geoTransform.pixelToWorld(col: Double(min(width, b * blockWidth)), row: edge)
                xs.append(p.x); ys.append(p.y)
            }
        }
        if let transform {
            do { try transform.transform(x: &xs, y: &ys) } catch {
                throw GeoIOError("pixel row \(row) has no longitude/latitude, so its area on the ellipsoid cannot be measured: \(error)")
            }
        }
        let top = 0, bottom = blocks + 1
        var areas = [Double](repeating: 0, count: blocks)
        for b in 0..<blocks {
            let lons = [xs[top + b], xs[top + b + 1], xs[bottom + b + 1], xs[bottom + b]]
            let lats = [ys[top + b], ys[top + b + 1], ys[bottom + b + 1], ys[bottom + b]]
            let pixels = min(width, (b + 1) * blockWidth) - b * blockWidth
            areas[b] = Geodesy.area(lons: lons, lats: lats) / Double(pixels)
        }
        cachedRow = row
        cached = areas
        return areas
    }
}
