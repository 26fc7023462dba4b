public import GeoIO
import Preview

/// Draws `segment`'s preview: the scene downsampled to at most `maxSide` pixels on its long
/// side (the same bands and scaling the model saw), the finished class map over it, a legend.
public enum PreviewRenderer {
    public static func render(scene: RasterDataset, reader: TileReader, classMap: String, classes: [OutputClass],
                              title: String, to path: String, overwrite: Bool, maxSide: Int = 2000) throws {
        try render(scene: scene, reader: reader, classMap: classMap, classes: classes, title: title,
                   to: OutputFile(path: path, overwrite: overwrite, role: "preview"), commit: true, maxSide: maxSide)
    }

    /// Draws into `output`'s temporary file; with `commit` false it stays there for an
    /// `OutputSet` to commit with the run's other outputs.
    public static func render(scene: RasterDataset, reader: TileReader, classMap: String, classes: [OutputClass],
                              title: String, to output: OutputFile, commit: Bool, maxSide: Int = 2000) throws {
        let (w, h) = scene.overviewSize(maxSide: maxSide)
        var rgb = [UInt8](repeating: 0, count: 3 * w * h)
        for c in 0..<3 {
            let band = reader.bands.count == 1 ? reader.bands[0] : reader.bands[c]
            let index = reader.bands.count == 1 ? 0 : c
            let plane = try scene.readDownsampled(band: band, width: w, height: h)
            for i in 0..<(w * h) { rgb[3 * i + c] = UInt8(reader.scaling.scaled(plane[i], band: index).rounded()) }
        }
        let map = try RasterDataset(path: classMap)
        let labels = try map.readDownsampled(band: 1, width: w, height: h).map { UInt8(clamping: Int($0)) }
        try PreviewImage.write(to: output, commit: commit, width: w, height: h, rgb: rgb, classes: labels,
                               colors: classes.map(\.color), names: classes.map(\.name), title: title)
    }
}
