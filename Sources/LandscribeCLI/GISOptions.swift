import ArgumentParser
import Foundation
import GeoIO
import Pipeline

/// The GIS controls `segment` and `detect` share (docs/segment.md "GIS controls"): a fixed
/// input scaling and the GeoTIFF writer's creation options.
struct GISOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Map band values MIN..MAX to 0..255 (one MIN,MAX for every band, or MIN,MAX,MIN,MAX,... one per band) instead of each scene's 2nd..98th percentiles, so neighbouring scenes are stretched alike.",
                               valueName: "MIN,MAX"))
    var scale: String?

    @Option(name: .customLong("co"), help: ArgumentHelp("A creation option for the GeoTIFF outputs, passed to GDAL's COG driver (repeatable), e.g. --co COMPRESS=ZSTD.",
                                                      valueName: "KEY=VALUE"))
    var creationOptions: [String] = []

    @Option(help: ArgumentHelp("Map only this area: minx,miny,maxx,maxy in the scene's CRS, minx,miny,maxx,maxy,EPSG in another, or a vector file (its features' bounding box). Outputs are on the scene's grid, cropped to it.",
                               valueName: "FILE|BOX"))
    var aoi: String?

    @Option(help: ArgumentHelp("Resample the scene to this ground sample distance in metres before mapping (AVERAGE when coarser, BILINEAR when finer); outputs are on the resampled grid.",
                               valueName: "METRES"))
    var gsd: Double?

    /// Sets what was given on `settings`; throws `UserError` naming the option.
    func apply(to settings: inout SegmentSettings) throws {
        if let scale {
            let values = scale.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count >= 2, values.count % 2 == 0, values.allSatisfy({ $0?.isFinite == true }) else {
                throw UserError("option --scale: '\(scale)' is not MIN,MAX (or one MIN,MAX per band) in the bands' own units")
            }
            var ranges: [ClosedRange<Double>] = []
            for i in stride(from: 0, to: values.count, by: 2) {
                let (lo, hi) = (values[i]!, values[i + 1]!)
                guard lo < hi else { throw UserError("option --scale: \(lo),\(hi): MIN must be less than MAX") }
                ranges.append(lo...hi)
            }
            settings.inputRanges = ranges
        }
        if let aoi {
            let numbers = aoi.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            if (numbers.count == 4 || numbers.count == 5), numbers.allSatisfy({ $0?.isFinite == true }) {
                let n = numbers.map { $0! }
                guard n[0] < n[2], n[1] < n[3] else { throw UserError("option --aoi: '\(aoi)' is empty: give minx,miny,maxx,maxy with min < max") }
                guard numbers.count == 4 || (n[4] == n[4].rounded() && n[4] > 0) else { throw UserError("option --aoi: '\(aoi)': the fifth number is an EPSG code") }
                settings.areaOfInterest = .box(minX: n[0], minY: n[1], maxX: n[2], maxY: n[3], epsg: numbers.count == 5 ? Int(n[4]) : nil)
            } else if FileManager.default.fileExists(atPath: aoi) {
                settings.areaOfInterest = .file(aoi)
            } else {
                throw UserError("option --aoi: '\(aoi)' is neither minx,miny,maxx,maxy[,EPSG] nor an existing vector file")
            }
        }
        if let gsd {
            guard gsd.isFinite, gsd > 0 else { throw UserError("option --gsd: \(gsd) must be a positive number of metres") }
            settings.groundSampleDistance = gsd
        }
        do { try CreationProfile.validateCOG(creationOptions) } catch { throw UserError("option --co: \(error)") }
        settings.creationOptions = creationOptions
    }
}
