internal import CGDAL
import GeoIO

/// Reads what GeoIO does not expose, straight through GDAL's C API: a file's internal
/// overviews, a band's scale and offset. For tests only.
public enum RasterProbe {
    /// Width and height of each overview of a band, largest first.
    public static func overviewSizes(path: String, band: Int = 1) -> [[Int]] {
        withBand(path: path, band: band) { b in
            (0..<GDALGetOverviewCount(b)).map { i in
                let o = GDALGetOverview(b, i)
                return [Int(GDALGetRasterBandXSize(o)), Int(GDALGetRasterBandYSize(o))]
            }
        }
    }

    /// A band's scale and offset (`GDALGetRasterScale`/`Offset`).
    public static func scaleOffset(path: String, band: Int = 1) -> (scale: Double, offset: Double) {
        withBand(path: path, band: band) { b in (GDALGetRasterScale(b, nil), GDALGetRasterOffset(b, nil)) }
    }

    /// The pixels of overview `level` (0: the largest) of a band, row-major.
    public static func overview(path: String, band: Int = 1, level: Int) -> [Float] {
        withBand(path: path, band: band) { b in
            let o = GDALGetOverview(b, Int32(level))
            let (w, h) = (GDALGetRasterBandXSize(o), GDALGetRasterBandYSize(o))
            var out = [Float](repeating: .nan, count: Int(w) * Int(h))
            _ = out.withUnsafeMutableBytes { buf in
                GDALRasterIO(o, GF_Read, 0, 0, w, h, buf.baseAddress, w, h, GDT_Float32, 0, 0)
            }
            return out
        }
    }

    private static func withBand<T>(path: String, band: Int, _ body: (GDALRasterBandH) -> T) -> T {
        GDALLibrary.ensure()
        let ds = GDALOpenEx(path, UInt32(GDAL_OF_RASTER) | UInt32(GDAL_OF_READONLY), nil, nil, nil)!
        defer { GDALClose(ds) }
        return body(GDALGetRasterBand(ds, Int32(band))!)
    }
}
