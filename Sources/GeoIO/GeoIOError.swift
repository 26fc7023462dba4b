/// An error from GDAL/OGR/OSR, or from this module's own checks, worded for the person running
/// the tool: one line that names the file (or option) and what is wrong.
public struct GeoIOError: Error, CustomStringConvertible, Sendable {
    /// The user-facing sentence, e.g. "cannot open 'x.tif': not a raster GDAL recognises".
    public let message: String
    /// GDAL's CPLErrorNum when the error came from GDAL, else nil.
    public let gdalCode: Int32?
    /// The GDAL function that failed, when there is one (for logs and bug reports).
    public let call: String?

    public init(_ message: String, gdalCode: Int32? = nil, call: String? = nil) {
        self.message = message
        self.gdalCode = gdalCode
        self.call = call
    }

    public var description: String { message }
}
