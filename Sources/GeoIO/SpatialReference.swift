internal import CGDAL
import Foundation

/// A coordinate reference system (owns an `OGRSpatialReferenceH`). Axis order is always the
/// traditional GIS order (x = easting/longitude, y = northing/latitude), whatever the authority
/// says (`OSRSetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER)`).
///
/// OSR objects are not thread-safe (they cache PROJ objects lazily), so every use goes through
/// `withHandle`, which stops the process if two threads are inside at once (`ExclusiveUse`).
public final class SpatialReference: @unchecked Sendable {  // the handle is only touched inside `use.run`
    private let rawHandle: OGRSpatialReferenceH
    private let use = ExclusiveUse("a spatial reference")

    /// Runs `body` with the OSR handle, checking that no other thread is inside.
    func withHandle<T>(_ body: (OGRSpatialReferenceH) throws -> T) rethrows -> T { try use.run { try body(rawHandle) } }

    /// From any definition `OSRSetFromUserInput` takes: WKT, PROJ string, "EPSG:4326", ...
    public init(definition: String) throws {
        GDALLibrary.ensure()
        guard let h = OSRNewSpatialReference(nil) else { throw GeoIOError("cannot create a spatial reference") }
        rawHandle = h
        OSRSetAxisMappingStrategy(h, OAMS_TRADITIONAL_GIS_ORDER)
        guard OSRSetFromUserInput(h, definition) == OGRERR_NONE else {
            throw GDALLibrary.failure("not a coordinate reference system GDAL understands: '\(definition.prefix(60))'", call: "OSRSetFromUserInput")
        }
    }

    /// From an EPSG code (`OSRImportFromEPSG`).
    public convenience init(epsg: Int) throws {
        try self.init(definition: "EPSG:\(epsg)")
    }

    /// WGS 84 longitude/latitude, the CRS of RFC 7946 GeoJSON.
    public static func wgs84() throws -> SpatialReference { try SpatialReference(epsg: 4326) }

    deinit { OSRDestroySpatialReference(rawHandle) }

    /// WKT (GDAL's default flavour, `OSRExportToWkt`).
    public var wkt: String {
        withHandle { handle in
            var out: UnsafeMutablePointer<CChar>?
            let exported = OSRExportToWkt(handle, &out)
            defer { VSIFree(out) }  // allocated even when the export fails
            guard exported == OGRERR_NONE, let out else { return "" }
            return String(cString: out)
        }
    }

    /// The EPSG code of the CRS when it has one or is recognised as one with high confidence
    /// (`OSRGetAuthorityCode`, then `OSRFindMatches`).
    public var epsg: Int? { withHandle { handle in
        if let name = OSRGetAuthorityName(handle, nil), String(cString: name) == "EPSG",
           let code = OSRGetAuthorityCode(handle, nil) {
            return Int(String(cString: code))
        }
        var count: Int32 = 0
        var confidences: UnsafeMutablePointer<Int32>?
        guard let matches = OSRFindMatches(handle, nil, &count, &confidences) else { return nil }
        defer { OSRFreeSRSArray(matches); VSIFree(confidences) }
        for i in 0..<Int(count) where (confidences?[i] ?? 0) >= 90 {
            guard let m = matches[i], let name = OSRGetAuthorityName(m, nil),
                  String(cString: name) == "EPSG", let code = OSRGetAuthorityCode(m, nil) else { continue }
            return Int(String(cString: code))
        }
        return nil
    } }

    /// Whether two definitions describe the same CRS (`OSRIsSame`, axis order ignored).
    public func isSame(as other: SpatialReference) -> Bool {
        let opts = CStringList(["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES"])
        return withHandle { a in other.withHandle { b in OSRIsSameEx(a, b, opts.constPointer) != 0 } }
    }

    public var isGeographic: Bool { withHandle { OSRIsGeographic($0) != 0 } }
    public var isProjected: Bool { withHandle { OSRIsProjected($0) != 0 } }

    /// The name of the CRS ("WGS 84 / UTM zone 32N").
    public var name: String {
        withHandle { handle in
            guard let n = OSRGetName(handle) else { return "" }
            return String(cString: n)
        }
    }

    /// Metres per unit of the projected axes (`OSRGetLinearUnits`).
    public var metresPerLinearUnit: Double { withHandle { OSRGetLinearUnits($0, nil) } }
}

/// Transforms coordinates between two CRSs (`OCTNewCoordinateTransformation`).
public final class CoordinateTransform {
    let handle: OGRCoordinateTransformationH

    public init(from source: SpatialReference, to target: SpatialReference) throws {
        guard let h = source.withHandle({ a in target.withHandle { b in OCTNewCoordinateTransformation(a, b) } }) else {
            throw GDALLibrary.failure("cannot transform from '\(source.name)' to '\(target.name)'", call: "OCTNewCoordinateTransformation")
        }
        handle = h
    }

    deinit { OCTDestroyCoordinateTransformation(handle) }

    /// Transforms points in place; throws when any point cannot be transformed.
    public func transform(x: inout [Double], y: inout [Double]) throws {
        precondition(x.count == y.count)
        var ok = [Int32](repeating: 0, count: x.count)
        let success = x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                OCTTransformEx(handle, Int32(xp.count), xp.baseAddress, yp.baseAddress, nil, &ok)
            }
        }
        guard success != 0, !ok.contains(0) else {
            throw GDALLibrary.failure("coordinates cannot be transformed", call: "OCTTransformEx")
        }
    }

    public func transform(x: Double, y: Double) throws -> (x: Double, y: Double) {
        var xs = [x], ys = [y]
        try transform(x: &xs, y: &ys)
        return (xs[0], ys[0])
    }
}
