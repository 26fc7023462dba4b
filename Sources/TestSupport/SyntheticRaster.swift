internal import CGDAL
import GeoIO
public import Foundation

/// Test rasters written straight through GDAL's C API (independently of GeoIO's writer, so
/// round trips through GeoIO are checked against GDAL itself). For tests only.
public enum SyntheticRaster {
    /// Writes a GeoTIFF whose band b pixel (x, y) holds `value(b, x, y)`.
    /// - Parameters:
    ///   - crs: any definition GDAL takes ("EPSG:32632"), nil for none.
    ///   - geoTransform: GDAL's six coefficients, nil for none.
    ///   - options: GTiff creation options.
    public static func write(path: String, width: Int, height: Int, bands: Int = 3, type: String = "Byte",
                             crs: String? = "EPSG:32632", geoTransform: [Double]? = [500000, 0.5, 0, 5650000, 0, -0.5],
                             nodata: Double? = nil, options: [String] = ["TILED=YES"],
                             value: (Int, Int, Int) -> Double) {
        GDALLibrary.ensure()
        var opts: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        for o in options { opts = CSLAddString(opts, o) }
        defer { CSLDestroy(opts) }
        let ds = GDALCreate(GDALGetDriverByName("GTiff"), path, Int32(width), Int32(height), Int32(bands), GDALGetDataTypeByName(type), opts)!
        if var gt = geoTransform { GDALSetGeoTransform(ds, &gt) }
        if let crs {
            let srs = OSRNewSpatialReference(nil)
            OSRSetFromUserInput(srs, crs)
            GDALSetSpatialRef(ds, srs)
            OSRDestroySpatialReference(srs)
        }
        var row = [Double](repeating: 0, count: width)
        for b in 1...bands {
            let band = GDALGetRasterBand(ds, Int32(b))
            if let nodata { GDALSetRasterNoDataValue(band, nodata) }
            for y in 0..<height {
                for x in 0..<width { row[x] = value(b, x, y) }
                _ = row.withUnsafeMutableBytes { buf in
                    GDALRasterIO(band, GF_Write, 0, Int32(y), Int32(width), 1, buf.baseAddress, Int32(width), 1, GDT_Float64, 0, 0)
                }
            }
        }
        GDALClose(ds)
    }

    /// A fresh empty folder under the system temporary directory.
    public static func temporaryFolder(_ name: String = #function) -> URL {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("landscribe-\(safe)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
