internal import CGDAL
import Foundation

/// A band's data type, by GDAL's names (`GDALGetDataTypeName`).
public enum RasterDataType: String, Sendable, CaseIterable, CustomStringConvertible {
    case byte = "Byte", int8 = "Int8", uint16 = "UInt16", int16 = "Int16", uint32 = "UInt32", int32 = "Int32"
    case uint64 = "UInt64", int64 = "Int64", float32 = "Float32", float64 = "Float64"
    case cint16 = "CInt16", cint32 = "CInt32", cfloat32 = "CFloat32", cfloat64 = "CFloat64"
    case unknown = "Unknown"

    /// From GDAL's name; `.unknown` for a name this code does not know.
    public init(gdalName: String) { self = RasterDataType(rawValue: gdalName) ?? .unknown }

    /// Values that can be infinite or NaN.
    public var isFloatingPoint: Bool { [.float32, .float64, .cfloat32, .cfloat64].contains(self) }

    public var description: String { rawValue }
}

/// How the overviews of a finished COG are resampled (GDAL's `OVERVIEW_RESAMPLING`).
public enum OverviewResampling: String, Sendable {
    /// Class maps: a value is a class, never a mean of classes.
    case nearest = "NEAREST"
    /// Continuous values (probabilities).
    case average = "AVERAGE"
    case mode = "MODE"
    case bilinear = "BILINEAR"
}

/// The GeoTIFF creation options the writer uses, by name rather than inline lists.
public enum CreationProfile {
    /// The tiled GeoTIFF that strips are written into before the COG copy: fast DEFLATE,
    /// 512-pixel blocks, one band after another.
    static let staging = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER", "INTERLEAVE=BAND"]

    /// The staging GeoTIFF of a run journal: uncompressed, so that every block keeps its place
    /// in the file and is rewritten in place with the same bytes for rows already written. A
    /// process killed while it rewrites a block leaves those rows intact (a compressed block is
    /// rewritten wherever it fits, and a half-written one is unreadable).
    static let keptStaging = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=NONE", "BIGTIFF=IF_SAFER", "INTERLEAVE=BAND"]

    /// `gdal_translate` arguments for the finished Cloud-Optimized GeoTIFF; compressed on every
    /// core, since it runs once the tiles are done. Floating-point rasters get the floating-point
    /// predictor (`PREDICTOR=3`): smooth probabilities then take about half the space
    /// (docs/segment.md); class indexes get none (no gain on categorical values).
    /// `user` options (`KEY=VALUE`) replace the defaults of the same key (GDAL takes the first
    /// of two equal keys, so a default left in would win).
    static func cog(compression: COGCompression, overviews: OverviewResampling, floatingPoint: Bool = false, user: [String] = []) -> [String] {
        let defaults = ["COMPRESS=\(compression.rawValue)", "BLOCKSIZE=512", "OVERVIEW_RESAMPLING=\(overviews.rawValue)", "BIGTIFF=IF_SAFER",
                        "NUM_THREADS=ALL_CPUS"] + (floatingPoint ? ["PREDICTOR=FLOATING_POINT"] : [])
        let userKeys = Set(user.map(key))
        return ["-of", "COG"] + (defaults.filter { !userKeys.contains(key($0)) } + user).flatMap { ["-co", $0] }
    }

    private static func key(_ option: String) -> String { String(option.split(separator: "=", maxSplits: 1).first ?? "").uppercased() }

    /// Checks `KEY=VALUE` creation options against GDAL's COG driver (names and allowed values,
    /// `GDALValidateCreationOptions`); throws a `GeoIOError` naming the first bad one.
    public static func validateCOG(_ options: [String]) throws {
        GDALLibrary.ensure()
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw GeoIOError("'\(option)' is not KEY=VALUE") }
            let list = CStringList([option])
            guard GDALValidateCreationOptions(GDALGetDriverByName("COG"), list.pointer) != 0 else {
                throw GeoIOError("'\(option)' is not a creation option of GDAL's COG driver, or not one of its values (https://gdal.org/drivers/raster/cog.html)")
            }
        }
    }
}
