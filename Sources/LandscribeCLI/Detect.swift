import ArgumentParser
import Foundation
import GeoIO
import Instances
import Pipeline

/// `landscribe detect SCENE -o OUT.geojson (--pipeline FILE | --classes LIST) [options]`
struct Detect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find objects (ships, tanks, planes, buildings, ...) as polygons with class, score and area.",
        discussion: """
        Runs `segment` on the scene, then turns the stitched class map into one polygon per \
        8-connected region of each instance class (pipeline classes marked `instances: true`; \
        with --classes, every class), so an object crossing a tile border is one object. \
        Writes RFC 7946 GeoJSON (WGS 84 longitude/latitude) with properties id, class, score \
        (mean winning-class probability over the object's pixels), area_m2 (on the ellipsoid) \
        and pixels; --gpkg adds a GeoPackage in the scene's CRS. With --split-touching, an \
        object that is several touching ones of the same class (joined by a narrow neck) is \
        split by a distance transform and marker watershed. See docs/detect.md.

        Example:
          landscribe detect harbour.tif -o objects.geojson --pipeline Pipelines/objects.yaml --min-area 20
        """)

    @OptionGroup var options: SegmentOptions

    @Option(name: .shortAndLong, help: "The GeoJSON file to write.")
    var output: String

    @Option(help: "Also write a GeoPackage in the scene's own CRS.")
    var gpkg: String?

    @Option(help: "Drop objects smaller than this many square metres.")
    var minArea: Double = 0

    @Option(help: "Simplify outlines by this many pixels (topology kept; 0 keeps exact pixel edges).")
    var simplify: Double = 0.5

    @Option(help: "Fill holes in objects smaller than this many pixels (0 keeps every hole).")
    var fillHoles: Int = 0

    @Flag(help: "For scenes without a CRS: write pixel coordinates (not RFC 7946; area_m2 is null).")
    var pixelCoordinates = false

    @Flag(help: ArgumentHelp("Split touching objects of one class where they meet at a narrow neck (distance transform + watershed).",
                             discussion: "Parts hold a disc of radius 3 pixels or more; objects wider or taller than 4096 pixels are left whole."))
    var splitTouching = false

    func validate() throws {
        guard minArea >= 0 else { throw ValidationError("--min-area must be 0 or more") }
        guard simplify >= 0 else { throw ValidationError("--simplify must be 0 or more") }
        guard fillHoles >= 0 else { throw ValidationError("--fill-holes must be 0 or more") }
    }

    func run() async throws {
        try await failing {
            let settings = try options.settings()
            let instanceClasses = Set(settings.classes.indices.filter { settings.classes[$0].instances })
            guard !instanceClasses.isEmpty else {
                throw SettingsError("no class is marked 'instances: true' in the pipeline: detect has nothing to extract")
            }
            let scene = try RasterDataset(path: options.scene)
            if scene.spatialReference == nil || scene.geoTransform == nil, !pixelCoordinates {
                throw GeoIOError("'\(options.scene)' has no CRS or georeferencing: pass --pixel-coordinates to get objects in pixel coordinates")
            }
            let outputs = try OutputSet([OutputSet.Request(path: output, option: "-o")]
                                        + (gpkg.map { [OutputSet.Request(path: $0, option: "--gpkg")] } ?? []),
                                        inputs: options.inputs(scene: scene), overwrite: options.overwrite)
            let start = Date()
            let stats: RunStatistics, summary: ExtractionSummary
            do {
                let prepared = try PreparedRun.prepare(options, settings: settings, scene: scene)
                // The stitched map and probabilities go to hidden scratch files beside the output.
                let written = try await prepared.segment(classMap: outputs.scratch("map.tif"), probabilities: outputs.scratch("probabilities.tif"),
                                                         confidence: false, quiet: options.quiet)
                stats = written.stats
                let extractor = InstanceExtractor(options: ExtractionOptions(minArea: minArea, simplify: simplify, fillHolesBelow: fillHoles,
                                                                             pixelCoordinates: pixelCoordinates, splitTouching: splitTouching))
                summary = try extractor.extract(classMap: written.outputs.classMapPath, probabilities: written.outputs.probabilitiesPath,
                                                classNames: settings.classes.map(\.name), instanceClasses: instanceClasses,
                                                geojson: outputs.files[0], gpkg: outputs.file(option: "--gpkg"), commit: false)
                try outputs.commit()
            } catch {
                outputs.discard()
                throw error
            }
            let seconds = Date().timeIntervalSince(start)
            if options.json {
                try printJSON(["tiles": stats.tiles, "encoder_runs": stats.encoderRuns, "seconds": seconds,
                               "objects": summary.objects.count,
                               "classes": summary.perClass.map { ["name": $0.name, "objects": $0.objects] }] as [String: Any])
            } else if !options.quiet {
                var lines = ["wrote \(output): \(summary.objects.count) objects from \(stats.tiles) tiles in \(PreparedRun.duration(seconds))"]
                for c in summary.perClass { lines.append("  \(c.name): \(c.objects)") }
                FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
        }
    }
}
