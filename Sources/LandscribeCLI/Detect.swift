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
        Writes the format of -o's extension: RFC 7946 GeoJSON (.geojson, .json; WGS 84 \
        longitude/latitude), GeoPackage (.gpkg), FlatGeobuf (.fgb) or a shapefile (.shp) in the \
        scene's CRS, with properties id, class, score (mean winning-class probability over the \
        object's pixels), area_m2 (on the ellipsoid) and pixels; --gpkg adds a GeoPackage. With --split-touching, an \
        object that is several touching ones of the same class (joined by a narrow neck) is \
        split by a distance transform and marker watershed. See docs/detect.md.

        Example:
          landscribe detect harbour.tif -o objects.geojson --pipeline Pipelines/objects.yaml --min-area 20
        """)

    @OptionGroup var options: SegmentOptions

    @OptionGroup(title: "GIS controls") var gis: GISOptions

    @OptionGroup(title: "Sharded runs") var sharding: PlanOptions

    @Option(name: .shortAndLong, help: "The objects to write, in the format of the extension: .geojson/.json (RFC 7946, WGS 84), .gpkg, .fgb (FlatGeobuf), .shp (with .shx, .dbf, .prj, .cpg) in the scene's CRS.")
    var output: String?

    @Option(help: "Find the objects of several scenes, DIR/<scene name>.<--output-format> each, the model loaded once.")
    var outputDir: String?

    @Option(help: "With --output-dir: the objects' format, geojson, gpkg, fgb or shp (default geojson).")
    var outputFormat: String = "geojson"

    @Flag(help: "With several scenes: stop at the first that fails (default: map the others, exit 1 at the end).")
    var failFast = false

    @Option(help: ArgumentHelp("A file of scenes for --output-dir, one a line ('#' starts a comment; relative paths are from the file's folder).", valueName: "FILE"))
    var list: String?

    @Option(help: ArgumentHelp("Only this array task's share of the scenes: I/N, or N with I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (scene k to task k mod N).",
                               valueName: "I/N"))
    var shard: String?

    @Option(help: "Also write a GeoPackage in the scene's own CRS.")
    var gpkg: String?

    @Option(help: "Drop objects smaller than this many square metres.")
    var minArea: Double = 0

    @Option(help: "Simplify outlines by this many pixels (topology kept; 0 keeps exact pixel edges).")
    var simplify: Double = 0.5

    @Option(help: "Fill holes in objects smaller than this many pixels (0 keeps every hole).")
    var fillHoles: Int = 0

    @Flag(help: "For scenes without a CRS: write pixel coordinates as QGIS places such a raster (x = column, y = -row; not RFC 7946; area_m2 is null).")
    var pixelCoordinates = false

    @Flag(help: ArgumentHelp("Split touching objects of one class where they meet at a narrow neck (distance transform + watershed).",
                             discussion: "Parts hold a disc of radius 3 pixels or more; objects wider or taller than 4096 pixels are left whole."))
    var splitTouching = false

    /// The folder of a batch: --output-dir, or -o naming a folder (ending in '/').
    var batchFolder: String? { outputDir ?? output.flatMap { $0.hasSuffix("/") ? $0 : nil } }

    func validate() throws {
        guard !options.scenes.isEmpty || list != nil else { throw ValidationError("Missing expected argument '<scene>'") }
        if (list != nil || shard != nil), batchFolder == nil { throw ValidationError("\(list != nil ? "--list" : "--shard") maps several scenes: give --output-dir DIR") }
        if let shard { _ = try BatchShard(shard, environment: [:], checkOnly: true) }
        try sharding.check(scenes: options.scenes.count, batch: outputDir != nil || list != nil || shard != nil, resume: options.resume)
        guard (output == nil) != (outputDir == nil) || sharding.planning else { throw ValidationError("give either -o OUT (one scene) or --output-dir DIR (one or more scenes)") }
        if output != nil, batchFolder == nil, options.scenes.count > 1 { throw ValidationError("\(options.scenes.count) scenes: give --output-dir DIR instead of -o") }
        if batchFolder != nil, gpkg != nil { throw ValidationError("--gpkg names one file: with --output-dir give --output-format gpkg instead") }
        guard Self.batchFormats.contains(outputFormat) else {
            throw ValidationError("--output-format: '\(outputFormat)' is not one of \(Self.batchFormats.joined(separator: ", "))")
        }
        guard minArea >= 0 else { throw ValidationError("--min-area must be 0 or more") }
        guard simplify >= 0 else { throw ValidationError("--simplify must be 0 or more") }
        guard fillHoles >= 0 else { throw ValidationError("--fill-holes must be 0 or more") }
    }

    static let batchFormats = ["geojson", "gpkg", "fgb", "shp"]

    var extraction: ExtractionOptions {
        ExtractionOptions(minArea: minArea, simplify: simplify, fillHolesBelow: fillHoles, pixelCoordinates: pixelCoordinates, splitTouching: splitTouching)
    }

    func run() async throws {
        if sharding.planning {
            let settings = try await failing { () async throws -> SegmentSettings in
                var settings = try options.settings()
                try gis.apply(to: &settings)
                return settings
            }
            return try await sharding.run(PlanRequest(scene: options.scene, settings: settings, command: .detect, shards: sharding.plan ?? 1,
                                                      directory: sharding.shardDir ?? "", outputs: ShardPlan.Outputs(primary: output, geoPackage: gpkg),
                                                      extraction: extraction, overwrite: options.overwrite),
                                          quiet: options.quiet, json: options.json)
        }
        if let batchFolder { return try await runBatch(into: batchFolder) }
        try await failing {
            guard let output else { return }
            var settings = try options.settings()
            try gis.apply(to: &settings)
            let line = ProgressLine(enabled: !options.quiet)
            let summary = try await SceneMapper(progress: line.tiles, warning: { warn($0) }).detect(
                DetectRequest(scene: options.scene, settings: settings, geojson: output, gpkg: gpkg, extraction: extraction,
                              overwrite: options.overwrite, inputs: options.inputs, resume: options.resume))
            line.finish()
            if options.json {
                try printJSON(summary)
            } else if !options.quiet {
                Self.printSummary(summary, output: output)
            }
        }
    }

    static func printSummary(_ summary: DetectSummary, output: String) {
        let resumed = summary.resumedRows > 0 ? ", resumed at row \(summary.resumedRows)" : ""
        var lines = ["wrote \(output): \(summary.objects) objects from \(summary.tiles) tiles in \(ProgressLine.duration(summary.seconds))\(resumed), peak memory \(ProgressLine.bytes(summary.peakMemoryBytes))"]
        for c in summary.classes { lines.append("  \(c.name): \(c.objects)") }
        lines += SegmentOptions.exemplarLines(summary.exemplars)
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// `detect a.tif b.tif ... --output-dir DIR`: every scene's objects into
    /// DIR/<scene name>.<format> (`SceneBatch`).
    func runBatch(into folder: String) async throws {
        var settings = SegmentSettings()
        var scenes = options.scenes
        try await failing {
            settings = try options.settings()
            try gis.apply(to: &settings)
            scenes = try Segment.batchScenes(scenes, list: list, shard: shard, extension: outputFormat)
        }
        let batch = SceneBatch(scenes: scenes, folder: folder, fileExtension: outputFormat, quiet: options.quiet, json: options.json, failFast: failFast)
        try await batch.run(printSummary: Self.printSummary) { scene, output, mapper in
            try await mapper.detect(DetectRequest(scene: scene, settings: settings, geojson: output, extraction: extraction,
                                                  overwrite: options.overwrite, inputs: options.inputs, resume: options.resume))
        }
    }
}
