internal import CGDAL
import Foundation

/// What an output raster is: size, bands, data type, georeferencing and nodata.
/// Copy an input's profile with `RasterProfile(like:)` and change what differs.
public struct RasterProfile: Sendable {
    public var width: Int
    public var height: Int
    public var bandCount: Int
    public var dataType: RasterDataType
    public var geoTransform: GeoTransform?
    /// WKT of the CRS, nil for none.
    public var crsWKT: String?
    public var nodata: Double?

    public init(width: Int, height: Int, bandCount: Int, dataType: RasterDataType, geoTransform: GeoTransform? = nil, crsWKT: String? = nil, nodata: Double? = nil) {
        self.width = width; self.height = height; self.bandCount = bandCount; self.dataType = dataType
        self.geoTransform = geoTransform; self.crsWKT = crsWKT; self.nodata = nodata
    }

    /// The grid (size, geotransform, CRS) of an input raster.
    public init(like input: RasterDataset, bandCount: Int, dataType: RasterDataType, nodata: Double? = nil) {
        self.init(width: input.width, height: input.height, bandCount: bandCount, dataType: dataType,
                  geoTransform: input.geoTransform, crsWKT: input.spatialReference?.wkt, nodata: nodata)
    }
}

/// Compression of a finished Cloud-Optimized GeoTIFF.
public enum COGCompression: String, Sendable { case deflate = "DEFLATE", zstd = "ZSTD" }

/// Writes a raster window by window into a tiled GeoTIFF under a temporary name, then finishes it
/// as a Cloud-Optimized GeoTIFF (GDAL's COG driver, internal overviews) renamed into place.
/// Until `finish()` nothing exists under the final name; a writer dropped unfinished removes its
/// temporary files.
public final class RasterWriter: @unchecked Sendable {  // the handle is only touched inside `use.run`
    public let output: OutputFile
    public let profile: RasterProfile
    private var handle: GDALDatasetH?
    /// One thread at a time (the pipeline's writer task): `ExclusiveUse`.
    private let use: ExclusiveUse
    private let stagingPath: String
    private var finished = false
    /// GDAL COG creation options (`KEY=VALUE`) that replace the writer's own of the same key
    /// (`CreationProfile.cog`); check them first with `CreationProfile.validateCOG`.
    public var creationOptions: [String] = []
    /// Block cache reserved for writing strips (`GDALLibrary.reserveCache`), 0 once given back.
    private var reservedCache: Int64 = 0

    /// - Parameters:
    ///   - path: the final file name.
    ///   - role: what the raster is, for error messages.
    public convenience init(path: String, profile: RasterProfile, overwrite: Bool, role: String = "raster") throws {
        try self.init(output: OutputFile(path: path, overwrite: overwrite, role: role), profile: profile)
    }

    /// Where the windows go until `finish()`.
    public enum Staging: Sendable {
        /// A staging file beside the output's temporary file, removed with it.
        case temporary
        /// A staging file at `path` that outlives the process when it is killed outright (a run
        /// journal's), uncompressed so that rows flushed stay intact whatever happens after;
        /// with `reopen`, one written before, opened to write the rest of it.
        case kept(path: String, reopen: Bool)
        /// A tiled, DEFLATE-compressed GeoTIFF at `path`, closed and left there by `keep()` rather
        /// than copied into a COG (the rows of a shard of a sharded run).
        case file(path: String)
    }

    /// Writes into `output`'s temporary file (an output of an `OutputSet`, or a scratch file).
    public init(output: OutputFile, profile: RasterProfile, staging: Staging = .temporary) throws {
        GDALLibrary.ensure()
        self.output = output
        let path = output.url.path
        use = ExclusiveUse("the writer of '\(path)'")
        self.profile = profile
        let type = GDALGetDataTypeByName(profile.dataType.rawValue)
        guard type != GDT_Unknown else { throw GeoIOError("unknown raster data type '\(profile.dataType)'") }
        let h: GDALDatasetH
        switch staging {
        case .temporary:
            stagingPath = output.temporaryURL.path + ".staging.tif"
            h = try Self.create(stagingPath, profile: profile, type: type, options: CreationProfile.staging, for: path)
        case .kept(let kept, false):
            stagingPath = kept
            h = try Self.create(stagingPath, profile: profile, type: type, options: CreationProfile.keptStaging, for: path)
        case .file(let file):
            stagingPath = file
            h = try Self.create(stagingPath, profile: profile, type: type, options: CreationProfile.staging, for: path)
        case .kept(let kept, true):
            stagingPath = kept
            h = try Self.reopen(stagingPath, profile: profile, type: type, for: path)
        }
        handle = h
        // Two rows of 512-pixel blocks of every band: the strip being written and the next.
        reservedCache = Int64(profile.width) * 512 * 2 * Int64(profile.bandCount) * Int64(GDALGetDataTypeSizeBytes(type))
        GDALLibrary.reserveCache(reservedCache)
        if let gt = profile.geoTransform {
            var c = gt.coefficients
            try GDALLibrary.check(GDALSetGeoTransform(h, &c), "cannot set the geotransform of '\(path)'", call: "GDALSetGeoTransform")
        }
        if let wkt = profile.crsWKT {
            try GDALLibrary.check(GDALSetProjection(h, wkt), "cannot set the CRS of '\(path)'", call: "GDALSetProjection")
        }
        if let nd = profile.nodata {
            for b in 1...profile.bandCount {
                try GDALLibrary.check(GDALSetRasterNoDataValue(GDALGetRasterBand(h, Int32(b)), nd), "cannot set nodata of '\(path)'", call: "GDALSetRasterNoDataValue")
            }
        }
    }

    deinit {
        if !finished { discard() }
    }

    private static func create(_ staging: String, profile: RasterProfile, type: GDALDataType, options: [String], for path: String) throws -> GDALDatasetH {
        let options = CStringList(options)
        guard let h = GDALCreate(GDALGetDriverByName("GTiff"), staging, Int32(profile.width), Int32(profile.height), Int32(profile.bandCount),
                                 type, options.pointer) else {
            throw GDALLibrary.failure("cannot create '\(path)'", call: "GDALCreate")
        }
        return h
    }

    /// Opens a staging file written before for update, checking that it is the raster `profile` describes.
    private static func reopen(_ staging: String, profile: RasterProfile, type: GDALDataType, for path: String) throws -> GDALDatasetH {
        guard let h = GDALOpenEx(staging, UInt32(GDAL_OF_RASTER) | UInt32(GDAL_OF_UPDATE), nil, nil, nil) else {
            throw GDALLibrary.failure("cannot reopen '\(staging)', the rows written so far of '\(path)'", call: "GDALOpenEx")
        }
        guard Int(GDALGetRasterXSize(h)) == profile.width, Int(GDALGetRasterYSize(h)) == profile.height,
              Int(GDALGetRasterCount(h)) == profile.bandCount, GDALGetRasterDataType(GDALGetRasterBand(h, 1)) == type else {
            GDALClose(h)
            throw GeoIOError("'\(staging)', the rows written so far of '\(path)', is not the raster this run writes")
        }
        return h
    }

    /// Writes every window written so far through to the file (`GDALFlushCache`: blocks and the
    /// TIFF directory) and the disk (`fsync`), so that a process killed or a machine stopped
    /// after this loses none of them.
    public func flush() throws {
        try use.run {
            guard let h = handle else { return }
            CPLErrorReset()
            GDALFlushCache(h)  // void in GDAL 3.6: failures only through the error state
            if let e = GDALLibrary.takeLastError(), e.code != 0 {
                throw GeoIOError("cannot write '\(output.url.path)': \(GDALLibrary.oneLine(e.message))", gdalCode: e.code, call: "GDALFlushCache")
            }
            // And from the page cache to the disk, so that a power cut loses none of them either.
            let fd = open(stagingPath, O_RDONLY)
            defer { if fd >= 0 { close(fd) } }
            guard fd >= 0, fsync(fd) == 0 else {
                throw GeoIOError("cannot write '\(output.url.path)': \(String(cString: strerror(errno)))")
            }
        }
    }

    private func releaseCache() {
        GDALLibrary.releaseCache(reservedCache)
        reservedCache = 0
    }

    private func band(_ b: Int) throws -> GDALRasterBandH {
        guard let h = handle, b >= 1, b <= profile.bandCount, let band = GDALGetRasterBand(h, Int32(b)) else {
            throw GeoIOError("'\(output.url.path)' has no band \(b)")
        }
        return band
    }

    /// Writes Float32 values (row-major, window-sized) into one band (`GDALRasterIO`; GDAL
    /// converts to the band's type, rounding and clamping).
    public func write(band b: Int, window: PixelWindow, values: [Float]) throws {
        try write(band: b, window: window, buffer: values, type: GDT_Float32)
    }

    /// Writes bytes (row-major, window-sized) into one band.
    public func write(band b: Int, window: PixelWindow, bytes: [UInt8]) throws {
        try write(band: b, window: window, buffer: bytes, type: GDT_Byte)
    }

    private func write<T>(band b: Int, window: PixelWindow, buffer: [T], type: GDALDataType) throws {
        try use.run {
            precondition(buffer.count == window.pixelCount)
            let band = try band(b)
            let err = buffer.withUnsafeBytes { buf in
                GDALRasterIO(band, GF_Write, Int32(window.col), Int32(window.row), Int32(window.width), Int32(window.height),
                             UnsafeMutableRawPointer(mutating: buf.baseAddress), Int32(window.width), Int32(window.height), type, 0, 0)
            }
            try GDALLibrary.check(err, "cannot write '\(output.url.path)'", call: "GDALRasterIO")
        }
    }

    /// Sets a band's colour table (`GDALSetRasterColorTable`), entry i for value i.
    public func setColorTable(band b: Int, _ colors: [RGBA]) throws {
        try use.run {
            let band = try band(b)
            let table = GDALCreateColorTable(GPI_RGB)
            defer { GDALDestroyColorTable(table) }
            for (i, c) in colors.enumerated() {
                var e = GDALColorEntry(c1: Int16(c.r), c2: Int16(c.g), c3: Int16(c.b), c4: Int16(c.a))
                GDALSetColorEntry(table, Int32(i), &e)
            }
            try GDALLibrary.check(GDALSetRasterColorTable(band, table), "cannot set the colour table of '\(output.url.path)'", call: "GDALSetRasterColorTable")
            GDALSetRasterColorInterpretation(band, GCI_PaletteIndex)
        }
    }

    /// Sets a band's category names (`GDALSetRasterCategoryNames`): name i for value i.
    public func setCategoryNames(band b: Int, _ names: [String]) throws {
        try use.run {
            let band = try band(b)
            let list = CStringList(names)
            try GDALLibrary.check(GDALSetRasterCategoryNames(band, list.pointer), "cannot set category names of '\(output.url.path)'", call: "GDALSetRasterCategoryNames")
        }
    }

    /// Sets a band's scale and offset (`GDALSetRasterScale`/`Offset`): readers take
    /// value * scale + offset as the band's meaning.
    public func setScaleOffset(band b: Int, scale: Double, offset: Double) throws {
        try use.run {
            let band = try band(b)
            try GDALLibrary.check(GDALSetRasterScale(band, scale), "cannot set the scale of '\(output.url.path)'", call: "GDALSetRasterScale")
            try GDALLibrary.check(GDALSetRasterOffset(band, offset), "cannot set the offset of '\(output.url.path)'", call: "GDALSetRasterOffset")
        }
    }

    /// Sets a band's description (shown as the band name in QGIS).
    public func setDescription(band b: Int, _ text: String) throws {
        try use.run {
            GDALSetDescription(try band(b), text)
        }
    }

    /// Sets metadata items on the dataset (band nil) or a band, stored inside the GeoTIFF.
    public func setMetadata(_ items: [String: String], band b: Int? = nil) throws {
        try use.run {
            let list = CStringList(options: items)
            let target: GDALMajorObjectH? = try b.map { try band($0) } ?? handle
            try GDALLibrary.check(GDALSetMetadata(target, list.pointer, nil), "cannot set metadata of '\(output.url.path)'", call: "GDALSetMetadata")
        }
    }

    /// Finishes the file: closes the staging GeoTIFF, copies it into a Cloud-Optimized GeoTIFF
    /// (`GDALTranslate -of COG`, internal overviews resampled with `overviewResampling`:
    /// NEAREST for class maps, AVERAGE for continuous values) and renames it into place.
    /// The copy compresses on every core (`NUM_THREADS=ALL_CPUS`): it runs once the tiles are
    /// done, with nothing else left to share the cores with.
    /// With `commit` false the finished file stays at `output.temporaryURL` (with its
    /// ".aux.xml"), for an `OutputSet` to commit with the run's other outputs.
    public func finish(compression: COGCompression = .deflate, overviewResampling: OverviewResampling = .nearest, commit: Bool = true) throws {
        try use.run {
            guard let h = handle else { return }
            handle = nil
            let closeFailure: (any Error)?
            do { try GDALLibrary.close(h, writing: output.url.path); closeFailure = nil } catch { closeFailure = error }  // flushes the staging file
            // No more strips: the COG copy reads and writes through what is left of the cache. Kept, this
            // writer's two rows of blocks would fill with the copy's blocks as well (16 MiB more
            // peak for four Float32 bands 1024 wide, docs/benchmarks.md).
            releaseCache()
            defer { unlink(stagingPath); unlink(stagingPath + ".aux.xml") }
            do {
                if let closeFailure { throw closeFailure }
                guard let staged = GDALOpenEx(stagingPath, UInt32(GDAL_OF_RASTER) | UInt32(GDAL_OF_READONLY), nil, nil, nil) else {
                    throw GDALLibrary.failure("cannot reopen the staging copy of '\(output.url.path)'", call: "GDALOpenEx")
                }
                defer { GDALClose(staged) }
                let args = CStringList(CreationProfile.cog(compression: compression, overviews: overviewResampling,
                                                           floatingPoint: profile.dataType.isFloatingPoint, user: creationOptions))
                guard let opts = GDALTranslateOptionsNew(args.pointer, nil) else {
                    throw GDALLibrary.failure("invalid COG options", call: "GDALTranslateOptionsNew")
                }
                defer { GDALTranslateOptionsFree(opts) }
                var usageError: Int32 = 0
                guard let cog = GDALTranslate(output.temporaryURL.path, staged, opts, &usageError) else {
                    throw GDALLibrary.failure("cannot write '\(output.url.path)' as a Cloud-Optimized GeoTIFF", call: "GDALTranslate")
                }
                try GDALLibrary.close(cog, writing: output.url.path)
                if commit { try output.commit(sideSuffixes: [".aux.xml"]) }
                finished = true
            } catch {
                discard()
                throw error
            }
        }
    }

    /// Closes the staging GeoTIFF and leaves it at its path, finished as a plain GeoTIFF (a
    /// `.file` or `.kept` staging): no COG copy, nothing renamed.
    public func keep() throws {
        try use.run {
            guard let h = handle else { return }
            handle = nil
            defer { releaseCache() }
            try GDALLibrary.close(h, writing: output.url.path)
            finished = true
        }
    }

    /// Removes everything written so far; the final path is untouched.
    public func discard() {
        use.run {
            if let h = handle { GDALClose(h); handle = nil }
            releaseCache()
            unlink(stagingPath)
            unlink(stagingPath + ".aux.xml")
            output.discard(sideSuffixes: [".aux.xml"])
        }
    }
}
