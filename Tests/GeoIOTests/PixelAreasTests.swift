import Foundation
import GeoIO
import Testing

/// Pixel areas on the ellipsoid against closed forms worked out independently of PROJ.
@Suite("Pixel areas on the ellipsoid")
struct PixelAreasTests {
    static let a = 6_378_137.0, f = 1 / 298.257223563
    static var e2: Double { f * (2 - f) }

    /// Area of the graticule cell between latitudes lat1 < lat2 (degrees), dLon degrees wide, on
    /// WGS 84: a²(1 - e²) dλ / 2 · [sinφ / (1 - e² sin²φ) + atanh(e sinφ) / e] between the two.
    static func graticuleArea(lat1: Double, lat2: Double, dLon: Double) -> Double {
        let e = e2.squareRoot()
        func q(_ lat: Double) -> Double {
            let s = sin(lat * .pi / 180)
            return s / (1 - e2 * s * s) + atanh(e * s) / e
        }
        return a * a * (1 - e2) * (dLon * .pi / 180) / 2 * (q(lat2) - q(lat1))
    }

    @Test("longitude/latitude pixels of 0.01 degree have the area of their graticule cell, row by row")
    func geographic() throws {
        // 0.01-degree pixels, the top edge at 45.1 N: row r spans 45.1 - 0.01 (r + 1) .. 45.1 - 0.01 r.
        let areas = try PixelAreas(width: 100, geoTransform: GeoTransform(originX: 7, originY: 45.1, pixelWidth: 0.01, pixelHeight: 0.01),
                                   crs: SpatialReference(epsg: 4326), blockWidth: 10)
        for row in [0, 5, 9] {
            let want = Self.graticuleArea(lat1: 45.1 - 0.01 * Double(row + 1), lat2: 45.1 - 0.01 * Double(row), dLon: 0.01)
            let got = try areas.pixelArea(row: row)
            #expect(got.count == 10)
            // Geodesic edges instead of parallels: about 1e-8 relative on a 0.1-degree block.
            #expect(got.allSatisfy { abs($0 / want - 1) < 1e-6 }, "row \(row): \(got[0]) against \(want)")
        }
    }

    @Test("UTM 32N on its central meridian: a 0.5 m pixel covers 0.25 / 0.9996² m² (the scale factor k0)")
    func utm() throws {
        // 500000 E is the central meridian (9 E), where the projection's scale is k0 = 0.9996 in every direction.
        let areas = try PixelAreas(width: 2, geoTransform: GeoTransform(originX: 499_999.5, originY: 5_650_000, pixelWidth: 0.5, pixelHeight: 0.5),
                                   crs: SpatialReference(epsg: 32632), blockWidth: 2)
        let got = try areas.pixelArea(row: 0)[0]
        #expect(abs(got - 0.25 / (0.9996 * 0.9996)) < 1e-7, "\(got)")
    }

    @Test("Web Mercator at 60 N: a 10 m pixel covers 100 (1 - e²) cos²φ / (1 - e² sin²φ)² m², not 100")
    func webMercator() throws {
        // y of 60 N in EPSG:3857: R ln tan(45 + φ/2), R = a.
        let y = Self.a * log(tan((45 + 30) * Double.pi / 180))
        let areas = try PixelAreas(width: 1, geoTransform: GeoTransform(originX: 1_000_000, originY: y + 5, pixelWidth: 10, pixelHeight: 10),
                                   crs: SpatialReference(epsg: 3857), blockWidth: 1)
        // Spherical Mercator formulas on ellipsoidal latitudes: east-west scale sqrt(1 - e² sin²φ) / cos φ,
        // north-south (1 - e² sin²φ)^(3/2) / ((1 - e²) cos φ); the area scale is their product.
        let s = sin(Double.pi / 3), c = cos(Double.pi / 3), w = 1 - Self.e2 * s * s
        let want = 100 * (1 - Self.e2) * c * c / (w * w)
        let got = try areas.pixelArea(row: 0)[0]
        #expect(abs(got / want - 1) < 1e-6, "\(got) against \(want)")
    }
}
