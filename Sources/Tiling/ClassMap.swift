/// The class map's values, shared by every module that writes or reads one: class i in pipeline
/// order is the byte i, and one byte value is kept for nodata.
public enum ClassMap {
    /// The value of pixels without a class (scene nodata): GDAL nodata of the class map.
    public static let nodata: UInt8 = 255
    /// The most classes a byte map holds besides nodata.
    public static let maxClasses = Int(nodata)
}
