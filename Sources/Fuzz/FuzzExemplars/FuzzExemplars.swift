// libFuzzer target: the bytes of an exemplar file (docs/fuzzing.md), read through OGR as
// `--exemplars` reads it onto a 400 x 300 UTM scene, then each usable polygon rasterized over
// its window. Every input must be accepted or rejected with a SettingsError.
import Foundation
import FuzzSupport
import GeoIO
import Pipeline

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-exemplars-\(getpid())")
let scene = SceneGrid(path: "scene.tif", width: 400, height: 300,
                      geoTransform: GeoTransform([500_000, 1, 0, 5_650_000, 0, -1]), crs: try! SpatialReference(epsg: 32632))
let classes = ["building", "road", "water"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExemplars(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzDriver.bytes(data, size)
    // The first byte picks the name GDAL sees (drivers are also chosen by extension).
    let ext = ["geojson", "fgb", "json", "csv"][Int(bytes.first ?? 0) % 4]
    let path = folder.appendingPathComponent("exemplars.\(ext)").path
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: path, contents: Data(bytes.dropFirst()))
    defer { try? FileManager.default.removeItem(atPath: path) }
    do {
        let set = try ExemplarSet.load(ExemplarSettings(file: path), scene: scene, classNames: classes)
        precondition(!set.exemplars.isEmpty)
        for e in set.exemplars {
            let b = e.geometry.envelope
            let w = ExemplarSet.window(centreX: (b.minX + b.maxX) / 2, centreY: (b.minY + b.maxY) / 2, tile: 64, width: scene.width, height: scene.height)
            let mask = try e.geometry.rasterized(window: w)
            precondition(mask.count == w.pixelCount)
            _ = e.geometry.pointOnSurface
        }
    } catch is SettingsError {
    } catch {
        preconditionFailure("not a SettingsError: \(error)")
    }
    return 0
}

@main enum Main {
    static func main() { FuzzDriver.run(fuzzExemplars) }
}
