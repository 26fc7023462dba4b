internal import CGDAL
import Foundation

/// One band's description: its 1-based index, GDAL data type name and nodata value.
public struct BandInfo: Sendable, Equatable {
    public let index: Int
    public let dataType: RasterDataType
    public let nodata: Double?
    /// GDAL's colour interpretation: "Red", "Green", "Gray", "Alpha", "Undefined", ...
    public let colorInterpretation: String
}

/// A raster opened read-only through GDAL (`GDALOpenEx`); owns the dataset handle.
/// One task at a time uses a dataset (the pipeline gives it to its reader task); it may move
/// between tasks, and using it from two threads at once stops the process (`ExclusiveUse`).
public final class RasterDataset: @unchecked Sendable {  // the handle is only touched inside `use.run`
    private let rawHandle: GDALDatasetH
    private let use: ExclusiveUse

    /// Runs `body` with the dataset handle, checking that no other thread is inside.
    func withHandle<T>(_ body: (GDALDatasetH) throws -> T) rethrows -> T { try use.run { try body(rawHandle) } }
    /// The path or GDAL connection string it was opened from, as the user gave it.
    public let path: String
    public let width: Int
    public let height: Int
    public let bands: [BandInfo]
    /// nil when the raster has no georeferencing (GDAL's identity default).
    public let geoTransform: GeoTransform?
    /// nil when the raster has no CRS.
    public let spatialReference: SpatialReference?

    public var bandCount: Int { bands.count }

    /// Every file the dataset reads (`GDALGetFileList`): the raster itself, its side files
    /// (.aux.xml, .ovr, world files) and, for a VRT, the files it refers to. Empty for
    /// connection strings that name no file.
    public var files: [String] {
        withHandle { handle in
            guard let list = GDALGetFileList(handle) else { return [] }
            defer { CSLDestroy(list) }
            var out: [String] = []
            var i = 0
            while let p = list[i] { out.append(String(cString: p)); i += 1 }
            return out
        }
    }

    /// Opens a raster by path or GDAL connection string (`/vsizip/...`, a VRT, ...).
    /// Throws a `GeoIOError` naming the file for a missing file, a directory, or a file that
    /// is not a raster GDAL recognises.
    /// - Parameter shownAs: the name `path` (messages, provenance) gives instead of `path`: the
    ///   scene a `SceneView` is a view of.
    public init(path: String, shownAs: String? = nil) throws {
        GDALLibrary.ensure()
        self.path = shownAs ?? path
        let looksLikePath = !path.hasPrefix("/vsi") && !path.contains(":")
        if looksLikePath {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw GeoIOError("cannot open '\(path)': no such file")
            }
            if isDirectory.boolValue { throw GeoIOError("cannot open '\(path)': it is a directory, not a raster") }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw GeoIOError("cannot open '\(path)': permission denied")
            }
        }
        let flags = UInt32(GDAL_OF_RASTER) | UInt32(GDAL_OF_READONLY) | UInt32(GDAL_OF_VERBOSE_ERROR)
        guard let h = GDALOpenEx(path, flags, nil, nil, nil) else {
            let last = GDALLibrary.takeLastError()
            // GDAL reports "not recognized as a supported file format" as CPLE_OpenFailed; other
            // failures (a damaged file, a missing VRT source) carry their own number and message.
            if last == nil || last!.message.isEmpty || last!.code == CPLE_OpenFailed {
                throw GeoIOError("cannot open '\(path)': not a raster GDAL recognises", gdalCode: last?.code, call: "GDALOpenEx", kind: .notRecognised)
            }
            throw GeoIOError("cannot open '\(path)': \(GDALLibrary.oneLine(last!.message))", gdalCode: last!.code, call: "GDALOpenEx")
        }
        rawHandle = h
        use = ExclusiveUse("the raster '\(path)'")
        width = Int(GDALGetRasterXSize(h))
        height = Int(GDALGetRasterYSize(h))
        let count = Int(GDALGetRasterCount(h))
        guard count > 0 else {
            GDALClose(h)
            throw GeoIOError("cannot open '\(path)': it has no raster bands")
        }
        bands = (1...count).map { i in
            let band = GDALGetRasterBand(h, Int32(i))
            var has: Int32 = 0
            let nodata = GDALGetRasterNoDataValue(band, &has)
            return BandInfo(
                index: i,
                dataType: RasterDataType(gdalName: String(cString: GDALGetDataTypeName(GDALGetRasterDataType(band)))),
                nodata: has != 0 ? nodata : nil,
                colorInterpretation: String(cString: GDALGetColorInterpretationName(GDALGetRasterColorInterpretation(band))))
        }
        var gt = [Double](repeating: 0, count: 6)
        if GDALGetGeoTransform(h, &gt) == CE_None, GeoTransform(gt) != .identity {
            geoTransform = GeoTransform(gt)
        } else {
            geoTransform = nil
        }
        CPLErrorReset()
        if let wkt = GDALGetProjectionRef(h), wkt.pointee != 0 {
            spatialReference = try? SpatialReference(definition: String(cString: wkt))
        } else {
            spatialReference = nil
        }
    }

    deinit { GDALClose(rawHandle) }

    /// Checks 1-based band indexes against this raster; the error names the option.
    public func validate(bands selection: [Int]) throws {
        for b in selection where b < 1 || b > bandCount {
            throw GeoIOError("band \(b) does not exist in '\(path)' (it has \(bandCount) band\(bandCount == 1 ? "" : "s"))",
                             kind: .noSuchBand(band: b, bandCount: bandCount))
        }
    }

    /// Reads a window of the chosen bands (1-based) as Float32, band after band
    /// (`GDALDatasetRasterIO`, any source data type).
    public func read(window: PixelWindow, bands selection: [Int]) throws -> [Float] {
        try validate(bands: selection)
        guard window.col >= 0, window.row >= 0, window.width > 0, window.height > 0,
              window.col + window.width <= width, window.row + window.height <= height else {
            throw GeoIOError("window \(window) lies outside '\(path)' (\(width)x\(height))")
        }
        var out = [Float](repeating: 0, count: window.pixelCount * selection.count)
        var bandMap = selection.map { Int32($0) }
        let err = withHandle { handle in out.withUnsafeMutableBytes { buf in
            GDALDatasetRasterIO(handle, GF_Read, Int32(window.col), Int32(window.row), Int32(window.width), Int32(window.height),
                                buf.baseAddress, Int32(window.width), Int32(window.height), GDT_Float32,
                                Int32(selection.count), &bandMap, 0, 0, 0)
        } }
        try GDALLibrary.check(err, "cannot read '\(path)' (window \(window))", call: "GDALDatasetRasterIO")
        return out
    }

    /// Per-pixel validity of a window (1 valid, 0 nodata) as METHOD.md section 6 defines it:
    /// a pixel is nodata when every chosen band equals its nodata value, or when the dataset's
    /// mask (per-dataset mask or alpha band, `GDALGetMaskBand`) is 0.
    /// - Parameter values: the window's values from `read(window:bands:)` for the same bands.
    public func validity(window: PixelWindow, bands selection: [Int], values: [Float]) throws -> [UInt8] {
        let n = window.pixelCount
        var valid = [UInt8](repeating: 1, count: n)
        let nodata = selection.map { bands[$0 - 1].nodata }
        if nodata.allSatisfy({ $0 != nil }) {
            let nd = nodata.map { Float($0!) }
            for i in 0..<n {
                var all = true
                for (k, v) in nd.enumerated() {
                    let x = values[k * n + i]
                    if !(x == v || (x.isNaN && v.isNaN)) { all = false; break }
                }
                if all { valid[i] = 0 }
            }
        }
        // Infinities and NaN cannot be scaled or classified: such a pixel is nodata.
        for (k, b) in selection.enumerated() where bands[b - 1].dataType.isFloatingPoint {
            for i in 0..<n where !values[k * n + i].isFinite { valid[i] = 0 }
        }
        try withHandle { handle in
            let band = GDALGetRasterBand(handle, Int32(selection[0]))
            let flags = GDALGetMaskFlags(band)
            if flags & GMF_ALL_VALID == 0, flags & GMF_NODATA == 0 {
                var mask = [UInt8](repeating: 0, count: n)
                let err = mask.withUnsafeMutableBytes { buf in
                    GDALRasterIO(GDALGetMaskBand(band), GF_Read, Int32(window.col), Int32(window.row), Int32(window.width), Int32(window.height),
                                 buf.baseAddress, Int32(window.width), Int32(window.height), GDT_Byte, 0, 0)
                }
                try GDALLibrary.check(err, "cannot read the mask of '\(path)'", call: "GDALRasterIO")
                for i in 0..<n where mask[i] == 0 { valid[i] = 0 }
            }
        }
        return valid
    }

    /// Reads a whole band at a reduced size (GDAL uses overviews when the file has them, and
    /// nearest-neighbour sampling otherwise): for scene-wide statistics and previews.
    public func readDownsampled(band: Int, width w: Int, height h: Int) throws -> [Float] {
        try validate(bands: [band])
        var out = [Float](repeating: 0, count: w * h)
        let err = withHandle { handle in out.withUnsafeMutableBytes { buf in
            GDALRasterIO(GDALGetRasterBand(handle, Int32(band)), GF_Read, 0, 0, Int32(width), Int32(height),
                         buf.baseAddress, Int32(w), Int32(h), GDT_Float32, 0, 0)
        } }
        try GDALLibrary.check(err, "cannot read band \(band) of '\(path)'", call: "GDALRasterIO")
        return out
    }

    /// The size of a whole-scene read at most `maxSide` pixels on its long side (the scene's
    /// own size when it is smaller), for `readDownsampled`.
    public func overviewSize(maxSide: Int) -> (width: Int, height: Int) {
        let f = min(1, Double(maxSide) / Double(max(width, height)))
        return (max(1, Int(Double(width) * f)), max(1, Int(Double(height) * f)))
    }

    /// The ground sample distance in metres: the geodesic length of one pixel step along x and
    /// along y at the scene centre, averaged (true metres also for geographic and web-mercator
    /// CRSs). nil without a CRS or geotransform.
    public var groundSampleDistance: Double? {
        guard let gt = geoTransform, let srs = spatialReference else { return nil }
        let cx = Double(width) / 2, cy = Double(height) / 2
        let pts = [gt.pixelToWorld(col: cx, row: cy), gt.pixelToWorld(col: cx + 1, row: cy), gt.pixelToWorld(col: cx, row: cy + 1)]
        if let wgs = try? SpatialReference.wgs84(), let ct = try? CoordinateTransform(from: srs, to: wgs) {
            var xs = pts.map(\.x), ys = pts.map(\.y)
            if (try? ct.transform(x: &xs, y: &ys)) != nil {
                let dx = Geodesy.distance(lon1: xs[0], lat1: ys[0], lon2: xs[1], lat2: ys[1])
                let dy = Geodesy.distance(lon1: xs[0], lat1: ys[0], lon2: xs[2], lat2: ys[2])
                return (dx + dy) / 2
            }
        }
        guard srs.isProjected else { return nil }
        return (gt.pixelSize.x + gt.pixelSize.y) / 2 * srs.metresPerLinearUnit
    }

    /// Approximate minimum and maximum of a band, nodata excluded, from a read of the whole
    /// band at most `sample` pixels on its long side (overviews when the file has them).
    /// Throws when the band cannot be read. nil when every sampled pixel is nodata.
    public func approximateRange(band: Int, sample: Int = 512) throws -> (min: Double, max: Double)? {
        let (w, h) = overviewSize(maxSide: sample)
        let values = try readDownsampled(band: band, width: w, height: h)
        let nodata = bands[band - 1].nodata.map(Float.init)
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where v != nodata && !v.isNaN {
            lo = Swift.min(lo, v); hi = Swift.max(hi, v)
        }
        return lo <= hi ? (Double(lo), Double(hi)) : nil
    }

    /// Dataset metadata items of the default domain (`GDALGetMetadata`).
    public var metadata: [String: String] { withHandle { Self.metadata(GDALGetMetadata($0, nil)) } }

    /// Category names of a band (`GDALGetRasterCategoryNames`), empty when it has none.
    public func categoryNames(band: Int) -> [String] {
        withHandle { handle in
            guard let list = GDALGetRasterCategoryNames(GDALGetRasterBand(handle, Int32(band))) else { return [] }
            var out: [String] = []
            var i = 0
            while let s = list[i] { out.append(String(cString: s)); i += 1 }
            return out
        }
    }

    /// The colour table of a band as RGBA entries, empty when it has none.
    public func colorTable(band: Int) -> [RGBA] {
        withHandle { handle in
            guard let table = GDALGetRasterColorTable(GDALGetRasterBand(handle, Int32(band))) else { return [] }
            return (0..<GDALGetColorEntryCount(table)).map { i in
                let e = GDALGetColorEntry(table, i)!.pointee
                return RGBA(UInt8(e.c1), UInt8(e.c2), UInt8(e.c3), UInt8(e.c4))
            }
        }
    }

    /// Metadata of a domain, e.g. "IMAGE_STRUCTURE" holds LAYOUT=COG for a Cloud-Optimized GeoTIFF.
    public func metadata(domain: String) -> [String: String] { withHandle { Self.metadata(GDALGetMetadata($0, domain)) } }

    static func metadata(_ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String: String] {
        guard let list else { return [:] }
        var out: [String: String] = [:]
        var i = 0
        while let s = list[i] {
            let item = String(cString: s)
            if let eq = item.firstIndex(of: "=") { out[String(item[..<eq])] = String(item[item.index(after: eq)...]) }
            i += 1
        }
        return out
    }
}

/// A colour-table entry.
public struct RGBA: Equatable, Sendable, Codable {
    public var r: UInt8, g: UInt8, b: UInt8, a: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8 = 255) { self.r = r; self.g = g; self.b = b; self.a = a }

    /// Parses "#rrggbb" or "#rrggbbaa".
    public init?(hex: String) {
        var s = hex.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("#") { s.removeFirst() }
        guard s.count == 6 || s.count == 8, let v = UInt32(s, radix: 16) else { return nil }
        if s.count == 6 { self.init(UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)) }
        else { self.init(UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)) }
    }

    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
}
