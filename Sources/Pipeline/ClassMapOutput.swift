public import GeoIO
public import Tiling

/// A class of the output map: its name and colour.
public struct OutputClass: Sendable, Equatable {
    public let name: String
    public let color: RGBA
    public init(name: String, color: RGBA) { self.name = name; self.color = color }
}

/// The land-cover raster (docs/METHOD.md section 7): UInt8 class index per pixel, 255 where the
/// input is nodata, on the scene's grid, with colour table and category names, finished as a
/// Cloud-Optimized GeoTIFF.
public final class ClassMapOutput: @unchecked Sendable {
    public static let nodata: UInt8 = 255
    private let writer: RasterWriter
    public let classes: [OutputClass]

    public init(path: String, scene: RasterDataset, classes: [OutputClass], metadata: [String: String] = [:], overwrite: Bool) throws {
        guard !classes.isEmpty, classes.count < Int(Self.nodata) else {
            throw GeoIOError("a class map holds 1 to 254 classes, got \(classes.count)")
        }
        self.classes = classes
        writer = try RasterWriter(path: path, profile: RasterProfile(like: scene, bandCount: 1, dataType: "Byte", nodata: Double(Self.nodata)),
                                  overwrite: overwrite)
        var colors = classes.map(\.color)
        colors += Array(repeating: RGBA(0, 0, 0, 0), count: 256 - colors.count)
        try writer.setColorTable(band: 1, colors)
        try writer.setCategoryNames(band: 1, classes.map(\.name))
        try writer.setDescription(band: 1, "class")
        if !metadata.isEmpty { try writer.setMetadata(metadata) }
    }

    /// Writes the argmax class of finished rows whose values are per-class scores.
    public func write(_ rows: StitchedRows) throws {
        precondition(rows.classCount == classes.count)
        try writer.write(band: 1, window: Window(col: 0, row: rows.row, width: rows.width, height: rows.rowCount),
                         bytes: Self.argmax(rows))
    }

    /// Per pixel, the class with the highest value (the first on ties), 255 where the weight is 0.
    public static func argmax(_ rows: StitchedRows) -> [UInt8] {
        let n = rows.rowCount * rows.width
        var out = [UInt8](repeating: nodata, count: n)
        for i in 0..<n where rows.weights[i] > 0 {
            var best = 0
            var bestValue = rows.values[i]
            for k in 1..<rows.classCount where rows.values[k * n + i] > bestValue {
                best = k; bestValue = rows.values[k * n + i]
            }
            out[i] = UInt8(best)
        }
        return out
    }

    public func finish() throws { try writer.finish(overviewResampling: "NEAREST") }
    public func discard() { writer.discard() }
}
