import Foundation

/// The outline of a raster grid in WGS 84 longitude/latitude (RFC 7946 axis order), for
/// catalogues (the STAC item beside a class map): the grid's four edges, each sampled at
/// `samplesPerEdge` points so that a projected grid's curved outline is followed, transformed
/// through PROJ (`CoordinateTransform`), the ring counter-clockwise and closed.
public struct LonLatFootprint: Sendable, Equatable {
    /// Closed ring, counter-clockwise, `[lon, lat]` pairs.
    public let ring: [[Double]]
    /// `[west, south, east, north]`.
    public let bbox: [Double]

    /// - Throws: `GeoIOError` when a point of the outline has no longitude/latitude.
    public init(width: Int, height: Int, geoTransform: GeoTransform, crs: SpatialReference, samplesPerEdge: Int = 16) throws {
        precondition(width > 0 && height > 0 && samplesPerEdge >= 1)
        let w = Double(width), h = Double(height), n = samplesPerEdge
        var pixels: [(Double, Double)] = []
        // Left edge down, bottom edge right, right edge up, top edge left: counter-clockwise
        // on the ground for a north-up grid (checked below for any other).
        for i in 0..<n { pixels.append((0, h * Double(i) / Double(n))) }
        for i in 0..<n { pixels.append((w * Double(i) / Double(n), h)) }
        for i in 0..<n { pixels.append((w, h - h * Double(i) / Double(n))) }
        for i in 0..<n { pixels.append((w - w * Double(i) / Double(n), 0)) }
        var xs: [Double] = [], ys: [Double] = []
        for (col, row) in pixels {
            let p = geoTransform.pixelToWorld(col: col, row: row)
            xs.append(p.x); ys.append(p.y)
        }
        let wgs84 = try SpatialReference.wgs84()
        if !crs.isSame(as: wgs84) {
            do {
                try CoordinateTransform(from: crs, to: wgs84).transform(x: &xs, y: &ys)
            } catch {
                throw GeoIOError("the outline of the grid in '\(crs.name)' has no longitude/latitude: \(error)")
            }
        }
        var ring = zip(xs, ys).map { [$0, $1] }
        // Shoelace: negative is clockwise in (lon, lat).
        var twiceArea = 0.0
        for i in ring.indices { let j = (i + 1) % ring.count; twiceArea += ring[i][0] * ring[j][1] - ring[j][0] * ring[i][1] }
        if twiceArea < 0 { ring.reverse() }
        ring.append(ring[0])
        self.ring = ring
        bbox = [xs.min()!, ys.min()!, xs.max()!, ys.max()!]
    }

    /// A GeoJSON Polygon object.
    public var geoJSON: [String: Any] { ["type": "Polygon", "coordinates": [ring]] }
}
