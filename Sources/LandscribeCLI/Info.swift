import ArgumentParser
import Foundation
import GeoIO
import Tiling

/// `landscribe info SCENE [--tile 512] [--overlap 128] [--json]`
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a scene: size, bands, nodata, CRS, ground sample distance, tiles.",
        discussion: """
        SCENE is any raster GDAL reads: a path (GeoTIFF, COG, VRT, PNG, ...) or a GDAL \
        connection string such as /vsizip/archive.zip/scene.tif. The ground sample distance is \
        measured on the WGS 84 ellipsoid at the scene centre, so it is in true metres also for \
        geographic (degrees) and web-mercator scenes. The tile count is how many tiles \
        `segment` runs for the given --tile and --overlap.

        JSON fields: width, height, bands, crs (WKT or null), epsg (or null), gsd_m (or null), \
        tiles; plus band_types, nodata, name.
        """)

    @Argument(help: "The scene: a raster file or GDAL connection string.")
    var scene: String

    @Option(help: "Tile size in pixels.")
    var tile: Int = 512

    @Option(help: "Overlap between neighbouring tiles in pixels.")
    var overlap: Int = 128

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    func run() async throws {
        try await failing {
            let ds = try RasterDataset(path: scene)
            let grid = try TileGrid(width: ds.width, height: ds.height, size: tile, overlap: overlap)
            let ranges = try ds.bands.map { try ds.approximateRange(band: $0.index) }
            let srs = ds.spatialReference
            let gsd = ds.groundSampleDistance
            if json {
                try printJSON([
                    "width": ds.width, "height": ds.height, "bands": ds.bandCount,
                    "crs": srs?.wkt ?? NSNull(), "epsg": srs?.epsg ?? NSNull(),
                    "gsd_m": gsd ?? NSNull(), "tiles": grid.tileCount,
                    "band_types": ds.bands.map(\.dataType.rawValue),
                    "nodata": ds.bands.map { $0.nodata ?? Double.nan }.map { $0.isNaN ? NSNull() as Any : $0 as Any },
                    "name": scene,
                ] as [String: Any])
                return
            }
            var lines = ["\(scene)", "  size         \(ds.width) x \(ds.height) pixels, \(ds.bandCount) band\(ds.bandCount == 1 ? "" : "s")"]
            for (b, r) in zip(ds.bands, ranges) {
                let nd = b.nodata.map { "nodata \(Self.format($0))" } ?? "no nodata"
                let range = r.map { "range ~\(Self.format($0.min))..\(Self.format($0.max))" } ?? "all nodata"
                lines.append("  band \(b.index)       \(b.dataType), \(b.colorInterpretation.lowercased()), \(nd), \(range)")
            }
            if let srs {
                lines.append("  crs          \(srs.epsg.map { "EPSG:\($0)" } ?? "no EPSG code") (\(srs.name))")
            } else {
                lines.append("  crs          none (no georeferencing: outputs are in pixel coordinates)")
            }
            if let gt = ds.geoTransform {
                lines.append("  origin       \(Self.format(gt.originX)), \(Self.format(gt.originY)); pixel \(Self.format(gt.pixelWidth)) x \(Self.format(gt.pixelHeight))")
            }
            lines.append("  gsd          \(gsd.map { String(format: "%.3g m", $0) } ?? "unknown")")
            lines.append("  tiles        \(grid.tileCount) (\(grid.columnOrigins.count) x \(grid.rowOrigins.count) of \(tile) px, overlap \(overlap))")
            print(lines.joined(separator: "\n"))
        }
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.6g", v)
    }
}
