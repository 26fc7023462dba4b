internal import CGDAL
import Foundation

/// A vector output format written through OGR, chosen by the file name's extension.
public enum VectorFormat: Sendable, CaseIterable {
    /// RFC 7946 GeoJSON: the GeoJSON driver reprojects to WGS 84 longitude/latitude, writes
    /// right-hand (counter-clockwise) outer rings and rounds coordinates (`RFC7946=YES`).
    case geoJSON
    /// GeoPackage in the layer's own CRS.
    case geoPackage
    /// FlatGeobuf (with its spatial index) in the layer's own CRS.
    case flatGeobuf
    /// ESRI Shapefile in the layer's own CRS: `.shp` with `.shx`, `.dbf`, `.prj` and `.cpg`
    /// (UTF-8) beside it, which travel with it (`siblingExtensions`).
    case shapefile

    var driver: String {
        switch self { case .geoJSON: "GeoJSON"; case .geoPackage: "GPKG"; case .flatGeobuf: "FlatGeobuf"; case .shapefile: "ESRI Shapefile" }
    }

    /// The extensions (lower case, no dot) that name this format; the first is the usual one.
    public var extensions: [String] {
        switch self { case .geoJSON: ["geojson", "json"]; case .geoPackage: ["gpkg"]; case .flatGeobuf: ["fgb"]; case .shapefile: ["shp"] }
    }

    /// Every extension a vector output may have, in the order of the cases.
    public static var allExtensions: [String] { allCases.flatMap(\.extensions) }

    /// The files beside the main one that belong to it: its name with these extensions.
    public var siblingExtensions: [String] { self == .shapefile ? ["shx", "dbf", "prj", "cpg"] : [] }

    /// The format a path's extension names (any case), nil for none.
    public init?(path: String) {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard let f = Self.allCases.first(where: { $0.extensions.contains(ext) }) else { return nil }
        self = f
    }

    /// The CRS a layer declares for coordinates in pixels (x right, y up): GeoPackage's
    /// "Undefined Cartesian SRS" (srs_id -1), not its undefined geographic one.
    public static func undefinedCartesian() throws -> SpatialReference {
        try SpatialReference(definition: "LOCAL_CS[\"Undefined Cartesian SRS\"]")
    }
}

/// The geometry type of a layer.
public enum VectorGeometryType: Sendable {
    /// Polygons only.
    case polygon
    /// MultiPolygons: every geometry added is promoted (`OGR_G_ForceToMultiPolygon`).
    case multiPolygon
    /// Any geometry type, feature by feature (GeoJSON writes each as it is).
    case any

    var ogr: OGRwkbGeometryType {
        switch self { case .polygon: wkbPolygon; case .multiPolygon: wkbMultiPolygon; case .any: wkbUnknown }
    }
}

/// An attribute column.
public struct VectorField: Sendable {
    public enum Kind: Sendable { case integer, real, string }
    public let name: String
    public let kind: Kind
    public init(_ name: String, _ kind: Kind) { self.name = name; self.kind = kind }
}

/// An attribute value.
public enum FieldValue: Sendable, Equatable {
    case integer(Int), real(Double), string(String)
}

/// Writes polygon features through OGR into one layer of a new file, under a temporary name
/// renamed into place by `finish()`.
public final class VectorWriter {
    public let output: OutputFile
    public let format: VectorFormat
    private var dataset: GDALDatasetH?
    private let layer: OGRLayerH
    private let fields: [VectorField]
    private let geometryType: VectorGeometryType
    private var finished = false

    /// - Parameters:
    ///   - crs: the CRS of the geometries passed to `add`; nil writes them as they are
    ///     (GeoJSON then is not RFC 7946: use only for scenes without a CRS, in pixel units).
    ///   - decimals: coordinate precision of GeoJSON output (7 decimal degrees is about 1 cm).
    public convenience init(path: String, format: VectorFormat, layerName: String, crs: SpatialReference?, fields: [VectorField],
                overwrite: Bool, role: String = "vector file", decimals: Int = 7, geometryType: VectorGeometryType = .polygon) throws {
        try self.init(output: OutputFile(path: path, overwrite: overwrite, role: role), format: format, layerName: layerName,
                      crs: crs, fields: fields, decimals: decimals, geometryType: geometryType)
    }

    /// Writes into `output`'s temporary file (an output of an `OutputSet`).
    public init(output: OutputFile, format: VectorFormat, layerName: String, crs: SpatialReference?, fields: [VectorField],
                decimals: Int = 7, geometryType: VectorGeometryType = .polygon) throws {
        GDALLibrary.ensure()
        self.output = output
        let path = output.url.path
        self.fields = fields
        self.geometryType = geometryType
        self.format = format
        guard let driver = GDALGetDriverByName(format.driver),
              let ds = GDALCreate(driver, output.temporaryURL.path, 0, 0, 0, GDT_Unknown, nil) else {
            throw GDALLibrary.failure("cannot create '\(path)'", call: "GDALCreate")
        }
        dataset = ds
        var layerOptions: [String] = []
        if format == .geoJSON {
            layerOptions = crs == nil ? ["COORDINATE_PRECISION=\(decimals)"] : ["RFC7946=YES", "COORDINATE_PRECISION=\(decimals)", "WRITE_NAME=NO"]
        } else if format == .shapefile {
            layerOptions = ["ENCODING=UTF-8"]  // writes the .cpg
        }
        let opts = CStringList(layerOptions)
        let created = crs.map { c in c.withHandle { GDALDatasetCreateLayer(ds, layerName, $0, geometryType.ogr, opts.pointer) } }
            ?? GDALDatasetCreateLayer(ds, layerName, nil, geometryType.ogr, opts.pointer)
        guard let l = created else {
            GDALClose(ds)
            output.discard()
            throw GDALLibrary.failure("cannot create a layer in '\(path)'", call: "GDALDatasetCreateLayer")
        }
        layer = l
        for f in fields {
            let type: OGRFieldType = switch f.kind { case .integer: OFTInteger64; case .real: OFTReal; case .string: OFTString }
            let defn = OGR_Fld_Create(f.name, type)
            defer { OGR_Fld_Destroy(defn) }
            guard OGR_L_CreateField(l, defn, 1) == OGRERR_NONE else {
                throw GDALLibrary.failure("cannot create field '\(f.name)' in '\(path)'", call: "OGR_L_CreateField")
            }
        }
        GDALDatasetStartTransaction(ds, 0)
    }

    deinit { if !finished { discard() } }

    /// Adds one feature with a geometry in the writer's CRS; `properties` follows the field order,
    /// `nil` leaves a field unset (null).
    public func add(_ geometry: Geometry, properties: [FieldValue?]) throws {
        precondition(properties.count == fields.count)
        if geometryType == .multiPolygon {
            let multi = geometry.asMultiPolygon()
            try withExtendedLifetime(multi) { try add(geometry: multi.handle, properties: properties) }
        } else {
            try withExtendedLifetime(geometry) { try add(geometry: geometry.handle, properties: properties) }
        }
    }

    func add(geometry: OGRGeometryH, properties: [FieldValue?]) throws {
        let feature = OGR_F_Create(OGR_L_GetLayerDefn(layer))
        defer { OGR_F_Destroy(feature) }
        for (i, value) in properties.enumerated() {
            switch value {
            case .integer(let v): OGR_F_SetFieldInteger64(feature, Int32(i), GIntBig(v))
            case .real(let v): OGR_F_SetFieldDouble(feature, Int32(i), v)
            case .string(let v): OGR_F_SetFieldString(feature, Int32(i), v)
            case nil: OGR_F_SetFieldNull(feature, Int32(i))
            }
        }
        OGR_F_SetGeometry(feature, geometry)
        guard OGR_L_CreateFeature(layer, feature) == OGRERR_NONE else {
            throw GDALLibrary.failure("cannot write a feature to '\(output.url.path)'", call: "OGR_L_CreateFeature")
        }
    }

    /// Closes the file and renames it into place (with `commit` false it stays at
    /// `output.temporaryURL` for an `OutputSet` to commit).
    public func finish(commit: Bool = true) throws {
        guard let ds = dataset else { return }
        GDALDatasetCommitTransaction(ds)
        dataset = nil
        do { try GDALLibrary.close(ds, writing: output.url.path) } catch {
            discard()
            throw error
        }
        if commit { try OutputSet.commit([output], sideSuffixes: [[]], siblingExtensions: [format.siblingExtensions], overwrite: true) }
        finished = true
    }

    /// Removes everything written so far.
    public func discard() {
        if let ds = dataset { GDALClose(ds); dataset = nil }
        output.discard(sideSuffixes: ["-journal", "-wal", "-shm"])
    }
}
