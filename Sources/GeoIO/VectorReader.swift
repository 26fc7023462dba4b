internal import CGDAL
import Foundation

/// One feature read from a vector file: its polygonal geometry and its attributes.
public struct VectorFeature {
    public let geometry: Geometry
    /// Attribute values by field name; null fields are absent.
    public let properties: [String: FieldValue]
}

/// The first layer of a vector file, every feature kept, for callers that report on each.
public struct VectorLayer {
    public struct Feature {
        /// 1-based position in the layer, for messages.
        public let number: Int
        /// The feature id OGR gives (`OGR_F_GetFID`), -1 when none.
        public let fid: Int
        /// The polygonal geometry, or nil when the feature has no geometry or another kind.
        public let geometry: Geometry?
        /// The OGR name of the geometry's type ("Point", "LineString", "Polygon"), "none" without one.
        public let geometryType: String
        /// Whether the geometry is empty (`OGR_G_IsEmpty`).
        public let isEmpty: Bool
        public let properties: [String: FieldValue]
    }
    /// Field names and whether each is a string field.
    public let fields: [(name: String, isString: Bool)]
    public let features: [Feature]
    public let crs: SpatialReference?
}

/// Reads the first layer of a vector file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, ... through OGR).
public enum VectorReader {
    /// The features with a polygonal geometry (others are skipped) and the layer's CRS.
    /// Throws a `GeoIOError` naming the file when it is missing or not a vector file.
    public static func read(path: String) throws -> (features: [VectorFeature], crs: SpatialReference?) {
        let layer = try readLayer(path: path)
        return (layer.features.compactMap { f in f.geometry.map { VectorFeature(geometry: $0, properties: f.properties) } }, layer.crs)
    }

    /// Every feature of the first layer, with its geometry type and attributes, the fields and the CRS.
    public static func readLayer(path: String) throws -> VectorLayer {
        GDALLibrary.ensure()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw GeoIOError("cannot open '\(path)': no such file") }
        let flags = UInt32(GDAL_OF_VECTOR) | UInt32(GDAL_OF_READONLY)
        guard let ds = GDALOpenEx(path, flags, nil, nil, nil) else {
            CPLErrorReset()
            throw GeoIOError("cannot open '\(path)': not a vector file GDAL recognises")
        }
        defer { GDALClose(ds) }
        guard GDALDatasetGetLayerCount(ds) > 0, let layer = GDALDatasetGetLayer(ds, 0) else {
            throw GeoIOError("cannot read '\(path)': it has no layer")
        }
        var crs: SpatialReference?
        if let srs = OGR_L_GetSpatialRef(layer) {
            var wkt: UnsafeMutablePointer<CChar>?
            let exported = OSRExportToWkt(srs, &wkt)
            defer { VSIFree(wkt) }  // allocated (an empty string) even when the export fails: found by FuzzExemplars
            if exported == OGRERR_NONE, let wkt { crs = try? SpatialReference(definition: String(cString: wkt)) }
        }
        let defn = OGR_L_GetLayerDefn(layer)
        let fieldCount = OGR_FD_GetFieldCount(defn)
        var names: [String] = []
        var kinds: [OGRFieldType] = []
        for i in 0..<fieldCount {
            let f = OGR_FD_GetFieldDefn(defn, i)
            names.append(String(cString: OGR_Fld_GetNameRef(f)))
            kinds.append(OGR_Fld_GetType(f))
        }
        var out: [VectorLayer.Feature] = []
        OGR_L_ResetReading(layer)
        while let feature = OGR_L_GetNextFeature(layer) {
            defer { OGR_F_Destroy(feature) }
            var props: [String: FieldValue] = [:]
            for i in 0..<fieldCount where OGR_F_IsFieldSetAndNotNull(feature, i) != 0 {
                switch kinds[Int(i)] {
                case OFTInteger, OFTInteger64: props[names[Int(i)]] = .integer(Int(OGR_F_GetFieldAsInteger64(feature, i)))
                case OFTReal: props[names[Int(i)]] = .real(OGR_F_GetFieldAsDouble(feature, i))
                default: props[names[Int(i)]] = .string(String(cString: OGR_F_GetFieldAsString(feature, i)))
                }
            }
            var geometry: Geometry?, type = "none", empty = true
            if let g = OGR_F_StealGeometry(feature) {
                let owned = Geometry(owning: g)
                type = String(cString: OGRGeometryTypeToName(OGR_G_GetGeometryType(g)))
                empty = OGR_G_IsEmpty(g) != 0
                let flat = OGR_GT_Flatten(OGR_G_GetGeometryType(g))
                if flat == wkbPolygon || flat == wkbMultiPolygon || (flat == wkbGeometryCollection && !Geometry.polygonHandles(g).isEmpty) {
                    geometry = owned
                }
            }
            out.append(VectorLayer.Feature(number: out.count + 1, fid: Int(OGR_F_GetFID(feature)), geometry: geometry,
                                           geometryType: type, isEmpty: empty, properties: props))
        }
        return VectorLayer(fields: zip(names, kinds).map { ($0, $1 == OFTString) }, features: out, crs: crs)
    }

    /// Every file GDAL lists for a vector dataset (a Shapefile's .shp, .dbf, .shx, .prj), or
    /// just `path` when it cannot be opened.
    public static func files(path: String) -> [String] {
        GDALLibrary.ensure()
        guard let ds = GDALOpenEx(path, UInt32(GDAL_OF_VECTOR) | UInt32(GDAL_OF_READONLY), nil, nil, nil) else {
            CPLErrorReset()
            return [path]
        }
        defer { GDALClose(ds) }
        guard let list = GDALGetFileList(ds) else { return [path] }
        defer { CSLDestroy(list) }
        var files: [String] = []
        var i = 0
        while let p = list[i] { files.append(String(cString: p)); i += 1 }
        return files.isEmpty ? [path] : files
    }
}
