internal import CGDAL
import Foundation

/// One feature read from a vector file: its polygonal geometry and its attributes.
public struct VectorFeature {
    public let geometry: Geometry
    /// Attribute values by field name; null fields are absent.
    public let properties: [String: FieldValue]
}

/// Reads the first layer of a vector file (GeoJSON, GeoPackage, Shapefile, ... through OGR).
public enum VectorReader {
    /// The features with a polygonal geometry (others are skipped) and the layer's CRS.
    /// Throws a `GeoIOError` naming the file when it is missing or not a vector file.
    public static func read(path: String) throws -> (features: [VectorFeature], crs: SpatialReference?) {
        GDALLibrary.ensure()
        guard FileManager.default.fileExists(atPath: path) else { throw GeoIOError("cannot open '\(path)': no such file") }
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
            if OSRExportToWkt(srs, &wkt) == OGRERR_NONE, let wkt {
                crs = try? SpatialReference(definition: String(cString: wkt))
                VSIFree(wkt)
            }
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
        var out: [VectorFeature] = []
        OGR_L_ResetReading(layer)
        while let feature = OGR_L_GetNextFeature(layer) {
            defer { OGR_F_Destroy(feature) }
            guard let g = OGR_F_StealGeometry(feature) else { continue }
            let geometry = Geometry(owning: g)
            guard !Geometry.polygonHandles(g).isEmpty else { continue }
            var props: [String: FieldValue] = [:]
            for i in 0..<fieldCount where OGR_F_IsFieldSetAndNotNull(feature, i) != 0 {
                switch kinds[Int(i)] {
                case OFTInteger, OFTInteger64: props[names[Int(i)]] = .integer(Int(OGR_F_GetFieldAsInteger64(feature, i)))
                case OFTReal: props[names[Int(i)]] = .real(OGR_F_GetFieldAsDouble(feature, i))
                default: props[names[Int(i)]] = .string(String(cString: OGR_F_GetFieldAsString(feature, i)))
                }
            }
            out.append(VectorFeature(geometry: geometry, properties: props))
        }
        return (out, crs)
    }
}
