internal import CGDAL
public import Foundation

/// A scratch raster of object ids (UInt32, 0 = no object) written row band by row band into a
/// temporary GeoTIFF without georeferencing, then turned into polygons in pixel coordinates by
/// `GDALPolygonize`. The file is removed by `remove()` or when the object goes away.
public final class LabelRaster {
    public let width: Int
    public let height: Int
    /// Where the scratch GeoTIFF lives until it is removed.
    public let url: URL
    private var handle: GDALDatasetH?
    private let stem: String

    /// Creates the scratch file (a hidden, uniquely named GeoTIFF in `directory`): strips of
    /// 64 rows, DEFLATE, nodata 0.
    public init(width: Int, height: Int, directory: URL) throws {
        GDALLibrary.ensure()
        self.width = width
        self.height = height
        stem = TemporaryFiles.newStem(for: directory.appendingPathComponent(TemporaryFiles.scratchName))
        TemporaryFiles.register(stem)
        url = URL(fileURLWithPath: stem + ".labels.tif")
        let options = CStringList(["TILED=NO", "BLOCKYSIZE=64", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER"])
        guard let h = GDALCreate(GDALGetDriverByName("GTiff"), url.path, Int32(width), Int32(height), 1, GDT_UInt32, options.pointer) else {
            throw GDALLibrary.failure("cannot create a scratch raster in '\(directory.path)'", call: "GDALCreate")
        }
        handle = h
        try GDALLibrary.check(GDALSetRasterNoDataValue(GDALGetRasterBand(h, 1), 0), "cannot set nodata of a scratch raster", call: "GDALSetRasterNoDataValue")
    }

    deinit { remove() }

    /// Writes whole rows `row ..< row + labels.count / width`.
    public func write(row: Int, labels: [UInt32]) throws {
        precondition(labels.count % width == 0)
        try write(labels, window: .rows(row..<(row + labels.count / width), width: width))
    }

    /// Reads whole rows back (for tests and checks).
    public func read(row: Int, rows: Int) throws -> [UInt32] {
        try read(window: .rows(row..<(row + rows), width: width))
    }

    /// Writes a window (row-major `window.width` x `window.height` ids) over what is there.
    public func write(_ labels: [UInt32], window: PixelWindow) throws {
        precondition(labels.count == window.pixelCount)
        var v = labels
        try transfer(GF_Write, window: window, into: &v)
    }

    /// Reads a window back, row-major.
    public func read(window: PixelWindow) throws -> [UInt32] {
        var v = [UInt32](repeating: 0, count: window.pixelCount)
        try transfer(GF_Read, window: window, into: &v)
        return v
    }

    /// `GDALRasterIO` of one window between the scratch file and `values`.
    private func transfer(_ direction: GDALRWFlag, window: PixelWindow, into values: inout [UInt32]) throws {
        guard let h = handle else { throw GeoIOError("the scratch raster '\(url.path)' is closed") }
        guard window.col >= 0, window.row >= 0, window.col + window.width <= width, window.row + window.height <= height else {
            throw GeoIOError("window \(window) lies outside the scratch raster (\(width)x\(height))")
        }
        let err = values.withUnsafeMutableBytes { buf in
            GDALRasterIO(GDALGetRasterBand(h, 1), direction, Int32(window.col), Int32(window.row), Int32(window.width), Int32(window.height),
                         buf.baseAddress, Int32(window.width), Int32(window.height), GDT_UInt32, 0, 0)
        }
        try GDALLibrary.check(err, "cannot \(direction == GF_Write ? "write" : "read") the scratch raster '\(url.path)'", call: "GDALRasterIO")
    }

    /// One polygon per connected region of equal non-zero id (`GDALPolygonize` with
    /// `8CONNECTED=8`, the nodata mask excluding id 0), holes kept, in pixel coordinates
    /// (x = column, y = row, (0, 0) the top-left corner of the raster). A region's outline may
    /// touch itself where pixels meet only at a corner; `Geometry.madeValid()` repairs that.
    /// The polygons are held in memory: their number and size grow with the objects found,
    /// not with the raster.
    public func polygonize() throws -> [(id: Int, polygon: Geometry)] {
        guard let h = handle else { throw GeoIOError("the scratch raster '\(url.path)' is closed") }
        GDALFlushCache(h)
        guard let mem = GDALCreate(GDALGetDriverByName("Memory"), "", 0, 0, 0, GDT_Unknown, nil) else {
            throw GDALLibrary.failure("cannot create an in-memory vector dataset", call: "GDALCreate")
        }
        defer { GDALClose(mem) }
        guard let layer = GDALDatasetCreateLayer(mem, "objects", nil, wkbPolygon, nil) else {
            throw GDALLibrary.failure("cannot create an in-memory layer", call: "GDALDatasetCreateLayer")
        }
        let field = OGR_Fld_Create("id", OFTInteger)
        defer { OGR_Fld_Destroy(field) }
        guard OGR_L_CreateField(layer, field, 1) == OGRERR_NONE else {
            throw GDALLibrary.failure("cannot create the id field", call: "OGR_L_CreateField")
        }
        let band = GDALGetRasterBand(h, 1)
        let options = CStringList(["8CONNECTED=8"])
        try GDALLibrary.check(GDALPolygonize(band, GDALGetMaskBand(band), layer, 0, options.pointer, nil, nil),
                              "cannot polygonize the objects", call: "GDALPolygonize")
        var out: [(id: Int, polygon: Geometry)] = []
        OGR_L_ResetReading(layer)
        while let feature = OGR_L_GetNextFeature(layer) {
            defer { OGR_F_Destroy(feature) }
            let id = Int(OGR_F_GetFieldAsInteger(feature, 0))
            if let g = OGR_F_StealGeometry(feature) { out.append((id, Geometry(owning: g))) }
        }
        return out
    }

    /// Closes and deletes the scratch file.
    public func remove() {
        if let h = handle { GDALClose(h); handle = nil }
        TemporaryFiles.removeFiles(withPrefix: stem)
        TemporaryFiles.unregister(stem)
    }
}
