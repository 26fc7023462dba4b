internal import CGDAL
import Foundation

/// A polygonal geometry (Polygon or MultiPolygon) owned by this object (`OGRGeometryH`, freed in
/// `deinit`). Operations return new geometries and leave this one unchanged; the ones that change
/// coordinates in place say so. Not thread-safe: one task at a time uses a geometry.
public final class Geometry {
    let handle: OGRGeometryH

    /// Takes ownership of an OGR geometry.
    init(owning handle: OGRGeometryH) { self.handle = handle }

    deinit { OGR_G_DestroyGeometry(handle) }

    /// A polygon from rings of points (outer ring first, then holes); rings are closed if they
    /// are not.
    public convenience init(polygon rings: [[(x: Double, y: Double)]]) throws {
        guard let polygon = OGR_G_CreateGeometry(wkbPolygon) else { throw GeoIOError("cannot create a polygon") }
        for ring in rings where ring.count >= 3 {
            let r = OGR_G_CreateGeometry(wkbLinearRing)
            for p in ring { OGR_G_AddPoint_2D(r, p.x, p.y) }
            if ring.first! != ring.last! { OGR_G_AddPoint_2D(r, ring[0].x, ring[0].y) }
            OGR_G_AddGeometryDirectly(polygon, r)
        }
        self.init(owning: polygon)
    }

    /// A copy (`OGR_G_Clone`).
    public func copy() -> Geometry { Geometry(owning: OGR_G_Clone(handle)) }

    /// The polygons of this geometry, each as rings (outer first, then holes) of points.
    /// A Polygon gives one entry; other non-polygonal parts are left out.
    public var polygons: [[[(x: Double, y: Double)]]] {
        Self.polygonHandles(handle).map { poly in
            (0..<OGR_G_GetGeometryCount(poly)).map { i in
                let ring = OGR_G_GetGeometryRef(poly, i)
                return (0..<OGR_G_GetPointCount(ring)).map { j in (OGR_G_GetX(ring, j), OGR_G_GetY(ring, j)) }
            }
        }
    }

    /// The Polygon handles inside a Polygon, MultiPolygon or GeometryCollection (not owned).
    static func polygonHandles(_ h: OGRGeometryH) -> [OGRGeometryH] {
        let type = OGR_GT_Flatten(OGR_G_GetGeometryType(h))
        if type == wkbPolygon { return [h] }
        if type == wkbMultiPolygon || type == wkbGeometryCollection {
            return (0..<OGR_G_GetGeometryCount(h)).flatMap { polygonHandles(OGR_G_GetGeometryRef(h, $0)) }
        }
        return []
    }

    /// Planar area in the geometry's own units (`OGR_G_Area`), holes subtracted.
    public var planarArea: Double { OGR_G_Area(handle) }

    /// The bounding box (`OGR_G_GetEnvelope`).
    public var envelope: (minX: Double, maxX: Double, minY: Double, maxY: Double) {
        var e = OGREnvelope()
        OGR_G_GetEnvelope(handle, &e)
        return (e.MinX, e.MaxX, e.MinY, e.MaxY)
    }

    /// Whether the geometry is valid in the OGC sense (`OGR_G_IsValid`, GEOS).
    public var isValid: Bool { OGR_G_IsValid(handle) != 0 }

    /// A valid copy: this geometry when already valid, else GEOS's repair keeping the polygonal
    /// structure (`OGR_G_MakeValidEx`, METHOD=STRUCTURE: a ring touching itself becomes two
    /// polygons, collapsed parts are dropped). Throws when GEOS cannot repair it.
    public func madeValid() throws -> Geometry {
        if isValid { return copy() }
        let opts = CStringList(["METHOD=STRUCTURE"])
        guard let fixed = OGR_G_MakeValidEx(handle, opts.pointer) else {
            throw GDALLibrary.failure("cannot repair an invalid polygon", call: "OGR_G_MakeValidEx")
        }
        return Geometry(owning: fixed)
    }

    /// Douglas-Peucker simplification that keeps the topology valid
    /// (`OGR_G_SimplifyPreserveTopology`); `tolerance` in the geometry's units.
    public func simplified(tolerance: Double) throws -> Geometry {
        guard tolerance > 0 else { return copy() }
        guard let s = OGR_G_SimplifyPreserveTopology(handle, tolerance) else {
            throw GDALLibrary.failure("cannot simplify a polygon", call: "OGR_G_SimplifyPreserveTopology")
        }
        return Geometry(owning: s)
    }

    /// Removes, in place, every hole whose planar area is below `area` (in the geometry's units).
    public func removeHoles(smallerThan area: Double) {
        guard area > 0 else { return }
        for poly in Self.polygonHandles(handle) {
            var i = OGR_G_GetGeometryCount(poly) - 1
            while i >= 1 {
                if OGR_G_Area(OGR_G_GetGeometryRef(poly, i)) < area { OGR_G_RemoveGeometry(poly, i, 1) }
                i -= 1
            }
        }
    }

    /// Maps every vertex through an affine transform, in place (pixel -> world with a raster's
    /// geotransform).
    public func apply(_ transform: GeoTransform) {
        Self.forEachRing(handle) { ring in
            for j in 0..<OGR_G_GetPointCount(ring) {
                let p = transform.pixelToWorld(col: OGR_G_GetX(ring, j), row: OGR_G_GetY(ring, j))
                OGR_G_SetPoint_2D(ring, j, p.x, p.y)
            }
        }
    }

    static func forEachRing(_ h: OGRGeometryH, _ body: (OGRGeometryH) -> Void) {
        for poly in polygonHandles(h) {
            for i in 0..<OGR_G_GetGeometryCount(poly) { body(OGR_G_GetGeometryRef(poly, i)) }
        }
    }

    /// Reprojects, in place (`OGR_G_Transform`).
    public func transform(_ transform: CoordinateTransform) throws {
        guard OGR_G_Transform(handle, transform.handle) == OGRERR_NONE else {
            throw GDALLibrary.failure("cannot reproject a polygon", call: "OGR_G_Transform")
        }
    }

    /// The intersection (`OGR_G_Intersection`, GEOS), nil when it is empty.
    public func intersection(_ other: Geometry) -> Geometry? {
        guard OGR_G_Intersects(handle, other.handle) != 0, let g = OGR_G_Intersection(handle, other.handle) else { return nil }
        if OGR_G_IsEmpty(g) != 0 { OGR_G_DestroyGeometry(g); return nil }
        return Geometry(owning: g)
    }

    /// The same polygons as a MultiPolygon (`OGR_G_ForceToMultiPolygon` on a copy).
    public func asMultiPolygon() -> Geometry {
        Geometry(owning: OGR_G_ForceToMultiPolygon(OGR_G_Clone(handle)))
    }

    /// A MultiPolygon of several polygonal geometries (their polygons side by side, not united).
    public static func collect(_ parts: [Geometry]) -> Geometry {
        let multi = OGR_G_CreateGeometry(wkbMultiPolygon)!
        for part in parts {
            for poly in polygonHandles(part.handle) { OGR_G_AddGeometry(multi, poly) }
        }
        return Geometry(owning: multi)
    }
}

extension Geodesy {
    /// The geodesic area in square metres of a polygonal geometry in WGS 84 longitude/latitude
    /// degrees: for each polygon, its outer ring minus its holes (`geod_polygonarea` per ring;
    /// each edge is taken as the geodesic between its vertices).
    public static func area(lonLat geometry: Geometry) -> Double {
        var total = 0.0
        for rings in geometry.polygons {
            for (i, ring) in rings.enumerated() {
                let a = area(lons: ring.map(\.x), lats: ring.map(\.y))
                total += i == 0 ? a : -a
            }
        }
        return total
    }
}

extension Geometry {
    /// A point inside the geometry (`OGR_G_PointOnSurface`, GEOS's interior point), nil when
    /// GEOS gives none (an empty geometry).
    public var pointOnSurface: (x: Double, y: Double)? {
        guard let p = OGR_G_PointOnSurface(handle) else { return nil }
        defer { OGR_G_DestroyGeometry(p) }
        guard OGR_G_IsEmpty(p) == 0 else { return nil }
        return (OGR_G_GetX(p, 0), OGR_G_GetY(p, 0))
    }

    /// The pixels of `window` that GDAL's rasterizer marks inside this geometry, whose
    /// coordinates are pixel coordinates (x = column, y = row, pixel (0, 0) covering [0, 1) x
    /// [0, 1)): the pixel-centre rule (`GDALRasterizeGeometries` without ALL_TOUCHED) on an
    /// in-memory raster. Row-major over the window, 1 inside.
    public func rasterized(window: PixelWindow) throws -> [UInt8] {
        GDALLibrary.ensure()
        guard !window.isEmpty else { return [] }
        guard let ds = GDALCreate(GDALGetDriverByName("MEM"), "", Int32(window.width), Int32(window.height), 1, GDT_Byte, nil) else {
            throw GDALLibrary.failure("cannot create an in-memory raster", call: "GDALCreate")
        }
        defer { GDALClose(ds) }
        var transform = [Double(window.col), 1, 0, Double(window.row), 0, 1]
        GDALSetGeoTransform(ds, &transform)
        var bands: [Int32] = [1]
        var geometries: [OGRGeometryH?] = [handle]
        var burn: [Double] = [1]
        guard GDALRasterizeGeometries(ds, 1, &bands, 1, &geometries, nil, nil, &burn, nil, nil, nil) == CE_None else {
            throw GDALLibrary.failure("cannot rasterize a polygon", call: "GDALRasterizeGeometries")
        }
        var out = [UInt8](repeating: 0, count: window.pixelCount)
        let read = out.withUnsafeMutableBytes { buffer in
            GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, Int32(window.width), Int32(window.height),
                         buffer.baseAddress, Int32(window.width), Int32(window.height), GDT_Byte, 0, 0)
        }
        guard read == CE_None else { throw GDALLibrary.failure("cannot read a rasterized polygon", call: "GDALRasterIO") }
        return out
    }
}
