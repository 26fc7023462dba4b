import ArgumentParser
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
        do { try CreationProfile.validateCOG(creationOptions) } catch { throw UserError("option --co: \(error)") }
        settings.creationOptions = creationOptions
    }
}
