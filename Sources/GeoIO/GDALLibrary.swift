internal import CGDAL
import Foundation

/// Process-wide GDAL set-up: drivers registered once, GDAL's own printing to stderr silenced
/// (its messages reach users through `GeoIOError` instead), a bounded block cache.
public enum GDALLibrary {
    static let ready: Void = {
        GDALAllRegister()
        CPLSetErrorHandler(CPLQuietErrorHandler)
        // GDAL's block cache defaults to 5% of RAM and keeps written blocks until it is full, so
        // a tall output would hold memory in proportion to its height up to that size. Start
        // small; writers add what a strip of their blocks needs (`reserveCache`) and give it back
        // when they stop writing strips, so the cache follows the scene's width. GDAL_CACHEMAX
        // set by the user wins.
        userCache = CPLGetConfigOption("GDAL_CACHEMAX", nil) != nil
        if !userCache { GDALSetCacheMax64(baseCache) }
        CPLSetConfigOption("GTIFF_REPORT_COMPD_CS", "YES")
        // GeoPackages record when they were written; a fixed time makes two runs' files
        // identical byte for byte (docs/guarantees.md). SOURCE_DATE_EPOCH, the reproducible-
        // builds convention, sets it; OGR_CURRENT_DATE set by the user wins.
        if CPLGetConfigOption("OGR_CURRENT_DATE", nil) == nil {
            CPLSetConfigOption("OGR_CURRENT_DATE", fixedDate)
        }
    }()

    /// The time written into GeoPackages: SOURCE_DATE_EPOCH (seconds) when set, else 2000-01-01.
    static var fixedDate: String {
        let seconds = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap { Double($0) } ?? 946_684_800
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    nonisolated(unsafe) private static var userCache = false
    private static let baseCache: Int64 = 16 << 20
    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var reservedCache: Int64 = 0

    /// Grows GDAL's block cache by `bytes` (what an output written in strips keeps in flight),
    /// unless the user set GDAL_CACHEMAX.
    static func reserveCache(_ bytes: Int64) {
        ensure()
        cacheLock.lock(); defer { cacheLock.unlock() }
        guard !userCache else { return }
        reservedCache += bytes
        GDALSetCacheMax64(baseCache + reservedCache)
    }

    /// Gives back what `reserveCache` added, once the output no longer writes strips.
    static func releaseCache(_ bytes: Int64) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        guard !userCache else { return }
        reservedCache = max(0, reservedCache - bytes)
        GDALSetCacheMax64(baseCache + reservedCache)
    }

    /// Sets GDAL up once per process; every entry point of GeoIO calls it. Code outside GeoIO
    /// that calls GDAL directly (test helpers) must call it first: registering drivers from two
    /// threads at once is not safe.
    public static func ensure() { _ = ready }

    /// GDAL's last error message on this thread, cleared, or nil when there is none.
    static func takeLastError() -> (code: Int32, message: String)? {
        let code = CPLGetLastErrorNo()
        guard let raw = CPLGetLastErrorMsg(), raw.pointee != 0 else {
            CPLErrorReset()
            return code == 0 ? nil : (code, "GDAL error \(code)")
        }
        let message = String(cString: raw)
        CPLErrorReset()
        return (code, message)
    }

    /// Closes a dataset that was written (`GDALClose` flushes it) and throws if GDAL reported
    /// an error while closing: GDAL 3.6's `GDALClose` says so only through `CPLGetLastErrorNo`.
    /// - Parameter path: the output it is, for the message ("cannot write 'path': ...").
    static func close(_ dataset: GDALDatasetH, writing path: String) throws {
        CPLErrorReset()
        GDALClose(dataset)
        if let e = takeLastError(), e.code != 0 {
            throw GeoIOError("cannot write '\(path)': \(oneLine(e.message))", gdalCode: e.code, call: "GDALClose")
        }
    }

    /// Runs a GDAL call that reports failure through a CPLErr, throwing with GDAL's message.
    /// - Parameters:
    ///   - what: the start of the user-facing sentence, e.g. "cannot read 'x.tif'".
    ///   - call: the GDAL function's name.
    static func check(_ result: CPLErr, _ what: @autoclosure () -> String, call: String) throws {
        guard result.rawValue >= CE_Failure.rawValue else { return }
        throw failure(what(), call: call)
    }

    /// The error for a failed GDAL call, with GDAL's own last message appended.
    static func failure(_ what: String, call: String) -> GeoIOError {
        if let last = takeLastError() {
            return GeoIOError("\(what): \(oneLine(last.message))", gdalCode: last.code, call: call)
        }
        return GeoIOError(what, call: call)
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// Builds a NULL-terminated C string list (`char **`) for GDAL options; freed by `CSLDestroy`.
final class CStringList {
    private(set) var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

    init(_ items: [String] = []) {
        for item in items { append(item) }
    }

    init(options: [String: String]) {
        for (key, value) in options.sorted(by: { $0.key < $1.key }) { append("\(key)=\(value)") }
    }

    func append(_ item: String) { pointer = CSLAddString(pointer, item) }

    /// The list as GDAL's `CSLConstList`.
    var constPointer: UnsafePointer<UnsafePointer<CChar>?>? { pointer.map { UnsafePointer(OpaquePointer($0)) } }

    deinit { CSLDestroy(pointer) }
}
