internal import CPROJ
import Foundation

/// Distances and areas on the WGS 84 ellipsoid through PROJ's geodesic routines
/// (Karney's algorithms, `geod_inverse` and `geod_polygonarea`).
public enum Geodesy {
    private static func wgs84() -> geod_geodesic {
        var g = geod_geodesic()
        geod_init(&g, 6_378_137.0, 1.0 / 298.257223563)
        return g
    }

    /// The geodesic distance in metres between two longitude/latitude points (degrees).
    public static func distance(lon1: Double, lat1: Double, lon2: Double, lat2: Double) -> Double {
        var g = wgs84()
        var s12 = 0.0
        geod_inverse(&g, lat1, lon1, lat2, lon2, &s12, nil, nil)
        return s12
    }

    /// The area in square metres of a polygon ring given in longitude/latitude degrees,
    /// unsigned (whatever the ring's orientation).
    public static func area(lons: [Double], lats: [Double]) -> Double {
        precondition(lons.count == lats.count)
        var g = wgs84()
        var area = 0.0, perimeter = 0.0
        var la = lats, lo = lons
        geod_polygonarea(&g, &la, &lo, Int32(la.count), &area, &perimeter)
        return abs(area)
    }
}
