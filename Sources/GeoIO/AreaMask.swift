import Foundation

/// The polygons of an `--aoi` vector file on a raster's pixel grid: which pixels of a window lie
/// inside them (GDAL's rasterizer, pixel-centre rule). Pixels outside are nodata for the run, so
/// a polygon area of interest maps only the polygon, not its bounding box.
public final class AreaMask: @unchecked Sendable {  // the geometries are only read (rasterized) after init
    private let polygons: [Geometry]

    /// The polygons of `path` (any CRS OGR reads; none: the raster's), in `raster`'s pixels.
    /// Points and lines cover nothing and are left out.
    public init(path: String, raster: RasterDataset) throws {
        guard let gt = raster.geoTransform, let rasterCRS = raster.spatialReference, let inverse = gt.inverted() else {
            throw GeoIOError("'\(raster.path)' has no CRS or georeferencing: an area of interest cannot be placed on it")
        }
        let (features, fileCRS) = try VectorReader.read(path: path)
        let transform = try fileCRS.flatMap { $0.isSame(as: rasterCRS) ? nil : try CoordinateTransform(from: $0, to: rasterCRS) }
        polygons = try features.compactMap { feature in
            let g = feature.geometry.copy()
            guard !g.polygons.isEmpty else { return nil }
            if let transform { try g.transform(transform) }
            g.apply(inverse)
            return g
        }
        guard !polygons.isEmpty else { throw GeoIOError("the area of interest '\(path)' has no polygons") }
    }

    /// 1 for the pixels of `window` inside any polygon, row-major.
    public func inside(window: PixelWindow) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: window.pixelCount)
        for polygon in polygons {
            let mask = try polygon.rasterized(window: window)
            for i in out.indices where mask[i] != 0 { out[i] = 1 }
        }
        return out
    }
}
