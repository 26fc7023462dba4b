internal import CGDAL
import Foundation

/// An area of interest: a box in some CRS (nil: the scene's), or the features of a vector file.
public enum AreaOfInterest: Sendable, Equatable, Codable {
    case box(minX: Double, minY: Double, maxX: Double, maxY: Double, epsg: Int?)
    case file(String)
}

/// A view of a scene for mapping only part of it or at another resolution: a VRT in GDAL's
/// memory file system (`/vsimem/`) over the scene, made by `GDALTranslate` (`-srcwin` for an
/// area of interest, `-tr` with AVERAGE, or BILINEAR when sampling finer, for a target ground
/// sample distance). Nothing is copied: tiles are read through it from the scene.
public enum SceneView {
    /// The pixel window of `scene` that covers `area` (the box's or the features' bounding box,
    /// carried into the scene's CRS with each edge sampled at 16 points), rounded outward and
    /// clamped to the scene.
    /// - Throws: `GeoIOError` for a scene without georeferencing, a file without features, an
    ///   area outside the scene.
    public static func window(of scene: RasterDataset, covering area: AreaOfInterest) throws -> PixelWindow {
        guard let gt = scene.geoTransform, let sceneCRS = scene.spatialReference, let inverse = gt.inverted() else {
            throw GeoIOError("'\(scene.path)' has no CRS or georeferencing: an area of interest cannot be placed on it")
        }
        var box: (minX: Double, minY: Double, maxX: Double, maxY: Double)
        let crs: SpatialReference
        switch area {
        case let .box(minX, minY, maxX, maxY, epsg):
            guard minX < maxX, minY < maxY else { throw GeoIOError("the area of interest \(minX),\(minY),\(maxX),\(maxY) is empty: give minx,miny,maxx,maxy") }
            box = (minX, minY, maxX, maxY)
            crs = try epsg.map { try SpatialReference(epsg: $0) } ?? sceneCRS
        case let .file(path):
            let (features, fileCRS) = try VectorReader.read(path: path)
            guard let first = features.first else { throw GeoIOError("the area of interest '\(path)' has no features") }
            var e = first.geometry.envelope
            for f in features.dropFirst() {
                let g = f.geometry.envelope
                e = (min(e.minX, g.minX), max(e.maxX, g.maxX), min(e.minY, g.minY), max(e.maxY, g.maxY))
            }
            box = (e.minX, e.minY, e.maxX, e.maxY)
            crs = fileCRS ?? sceneCRS
        }
        // The box's outline in the scene's pixels.
        var xs: [Double] = [], ys: [Double] = []
        let n = 16
        for i in 0...n {
            let t = Double(i) / Double(n)
            for (x, y) in [(box.minX + t * (box.maxX - box.minX), box.minY), (box.minX + t * (box.maxX - box.minX), box.maxY),
                           (box.minX, box.minY + t * (box.maxY - box.minY)), (box.maxX, box.minY + t * (box.maxY - box.minY))] {
                xs.append(x); ys.append(y)
            }
        }
        if !crs.isSame(as: sceneCRS) { try CoordinateTransform(from: crs, to: sceneCRS).transform(x: &xs, y: &ys) }
        let pixels = zip(xs, ys).map { inverse.pixelToWorld(col: $0, row: $1) }
        let col0 = max(0, Int(floor(pixels.map(\.x).min()!))), col1 = min(scene.width, Int(ceil(pixels.map(\.x).max()!)))
        let row0 = max(0, Int(floor(pixels.map(\.y).min()!))), row1 = min(scene.height, Int(ceil(pixels.map(\.y).max()!)))
        guard col1 > col0, row1 > row0 else { throw GeoIOError("the area of interest does not overlap '\(scene.path)'") }
        return PixelWindow(col: col0, row: row0, width: col1 - col0, height: row1 - row0)
    }

    /// A view of `window` of `scene` (nil: all of it) resampled to `gsd` metres a pixel (nil:
    /// the scene's own). The view keeps the scene's CRS; its geotransform is the window's, its
    /// pixel size the scene's scaled by gsd / the scene's ground sample distance.
    public static func view(of scene: RasterDataset, window: PixelWindow?, gsd: Double?) throws -> RasterDataset {
        var args = ["-of", "VRT"]
        if let w = window { args += ["-srcwin", "\(w.col)", "\(w.row)", "\(w.width)", "\(w.height)"] }
        if let gsd {
            guard gsd.isFinite, gsd > 0 else { throw GeoIOError("the ground sample distance must be a positive number of metres, got \(gsd)") }
            guard let native = scene.groundSampleDistance, let gt = scene.geoTransform, gt.rowRotation == 0, gt.columnRotation == 0 else {
                throw GeoIOError("'\(scene.path)' has no north-up georeferencing: it cannot be resampled to a ground sample distance")
            }
            let factor = gsd / native
            let (w, h) = (window?.width ?? scene.width, window?.height ?? scene.height)
            let outWidth = max(1, Int((Double(w) / factor).rounded())), outHeight = max(1, Int((Double(h) / factor).rounded()))
            args += ["-outsize", "\(outWidth)", "\(outHeight)", "-r", factor >= 1 ? "average" : "bilinear"]
        }
        GDALLibrary.ensure()
        let path = "/vsimem/landscribe-view-\(UUID().uuidString).vrt"
        let list = CStringList(args)
        guard let options = GDALTranslateOptionsNew(list.pointer, nil) else {
            throw GDALLibrary.failure("invalid view options", call: "GDALTranslateOptionsNew")
        }
        defer { GDALTranslateOptionsFree(options) }
        var usageError: Int32 = 0
        let made = scene.withHandle { GDALTranslate(path, $0, options, &usageError) }
        guard let made else { throw GDALLibrary.failure("cannot make a view of '\(scene.path)'", call: "GDALTranslate") }
        GDALClose(made)
        return try RasterDataset(path: path, shownAs: scene.path)
    }
}
