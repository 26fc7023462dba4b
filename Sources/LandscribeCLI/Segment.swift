import ArgumentParser
import Foundation
import GeoIO
import Pipeline

/// `landscribe segment SCENE -o OUT.tif (--pipeline FILE | --classes LIST) [options]`
struct Segment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Map a scene's land cover from class names in plain words.",
        discussion: """
        Writes a Cloud-Optimized GeoTIFF on the scene's grid: one byte per pixel, the class \
        index in pipeline order, 255 where the scene is nodata, with a colour table, class names \
        and how it was made (model, weights hash, prompts, settings) in its metadata. The \
        method is docs/METHOD.md: dense CLIP with the rotation ensemble, tiles blended where \
        they overlap. 8-bit scenes are used as they are; 16-bit and float scenes are scaled to \
        0..255 from each band's scene-wide 2nd and 98th percentiles.

        Example:
          landscribe segment scene.tif -o landcover.tif --pipeline Pipelines/landcover.yaml --preview landcover.png
          landscribe segment a.tif b.tif c.vrt --output-dir maps/ --pipeline Pipelines/landcover.yaml
        """)

    @OptionGroup var options: SegmentOptions

    @OptionGroup(title: "GIS controls") var gis: GISOptions

    @OptionGroup(title: "Sharded runs") var sharding: PlanOptions

    @Option(name: .shortAndLong, help: "The class map to write (GeoTIFF, Cloud-Optimized).")
    var output: String?

    @Option(help: "Map several scenes into this folder, DIR/<scene name>.tif each (with its style, STAC item and, with --confidence, confidence), the model loaded once.")
    var outputDir: String?

    @Flag(help: "With several scenes: stop at the first that fails (default: map the others, exit 1 at the end).")
    var failFast = false

    @Option(help: ArgumentHelp("A file of scenes to map into --output-dir, one a line ('#' starts a comment; relative paths are from the file's folder).",
                               valueName: "FILE"))
    var list: String?

    @Option(help: ArgumentHelp("Map only this array task's share of the scenes: I/N (task I of N, from 0), or N alone with I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Scene k (in order) goes to task k mod N.",
                               valueName: "I/N"))
    var shard: String?

    @Option(help: "Also write per-class probabilities: Float32, one band per class, nodata -1.")
    var probabilities: String?

    @Option(help: "How --probabilities stores them: float32 (0..1, nodata -1) or byte (0..250 with scale 1/250, nodata 255; a quarter of the size).")
    var probabilitiesType: String = ProbabilityEncoding.float32.rawValue

    @Flag(help: "Also write OUT.confidence.tif beside the class map: the winning class's probability, 0..100, nodata 255.")
    var confidence = false

    @Option(help: "Also write a PNG picture: the scene with a translucent class overlay and a legend.")
    var preview: String?

    @Option(help: "Also write every class as polygons (class, score, area_m2, pixels): .gpkg, .fgb, .shp in the scene's CRS, .geojson in WGS 84.")
    var vectors: String?

    @Option(help: "Also write the area table (per class: pixels, share, area in m² and ha on the ellipsoid) as .csv or .json.")
    var stats: String?

    /// The folder of a batch: --output-dir, or -o naming a folder (ending in '/').
    var batchFolder: String? { outputDir ?? output.flatMap { $0.hasSuffix("/") ? $0 : nil } }

    func validate() throws {
        guard ProbabilityEncoding(rawValue: probabilitiesType) != nil else {
            throw ValidationError("--probabilities-type: '\(probabilitiesType)' is not one of \(ProbabilityEncoding.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !options.scenes.isEmpty || list != nil else { throw ValidationError("Missing expected argument '<scene>'") }
        try sharding.check(scenes: options.scenes.count, batch: outputDir != nil || list != nil || shard != nil, resume: options.resume)
        if sharding.planning { return }
        if (list != nil || shard != nil), batchFolder == nil { throw ValidationError("\(list != nil ? "--list" : "--shard") maps several scenes: give --output-dir DIR") }
        if let shard { _ = try BatchShard(shard, environment: [:], checkOnly: true) }
        guard (output == nil) != (outputDir == nil) else { throw ValidationError("give either -o OUT.tif (one scene) or --output-dir DIR (one or more scenes)") }
        if output != nil, batchFolder == nil, options.scenes.count > 1 { throw ValidationError("\(options.scenes.count) scenes: give --output-dir DIR instead of -o") }
        if batchFolder != nil, let single = [("--probabilities", probabilities), ("--preview", preview), ("--stats", stats), ("--vectors", vectors)].first(where: { $0.1 != nil }) {
            throw ValidationError("\(single.0) names one file: with --output-dir map one scene a call with -o, or leave \(single.0) out")
        }
    }

    func run() async throws {
        if sharding.planning { return try await runPlan() }
        if let batchFolder { return try await runBatch(into: batchFolder) }
        try await failing {
            guard let output else { return }
            var settings = try options.settings()
            try gis.apply(to: &settings)
            let line = ProgressLine(enabled: !options.quiet)
            var request = SegmentRequest(scene: options.scene, settings: settings, classMap: output, probabilities: probabilities, confidence: confidence,
                                         preview: preview, statistics: stats, overwrite: options.overwrite, inputs: options.inputs, resume: options.resume)
            request.probabilityEncoding = ProbabilityEncoding(rawValue: probabilitiesType) ?? .float32
            request.vectors = vectors
            let summary = try await SceneMapper(progress: line.tiles, warning: { warn($0) }).segment(request)
            line.finish()
            if options.json {
                try printJSON(summary)
            } else if !options.quiet {
                Self.printSummary(summary, output: output)
            }
        }
    }

    /// `--plan N --shard-dir DIR`: the plan of a sharded run; the output options say what the shards stage and the merge writes.
    func runPlan() async throws {
        let settings = try await failing { () async throws -> SegmentSettings in
            var settings = try options.settings()
            try gis.apply(to: &settings)
            return settings
        }
        let outputs = ShardPlan.Outputs(primary: output, probabilities: probabilities != nil, probabilitiesPath: probabilities,
                                        probabilityEncoding: ProbabilityEncoding(rawValue: probabilitiesType) ?? .float32, confidence: confidence,
                                        preview: preview, statistics: stats, vectors: vectors)
        try await sharding.run(PlanRequest(scene: options.scene, settings: settings, command: .segment, shards: sharding.plan ?? 1,
                                           directory: sharding.shardDir ?? "", outputs: outputs, overwrite: options.overwrite),
                               quiet: options.quiet, json: options.json)
    }

    /// The human summary on stderr: tiles and time, then each class's share and area.
    static func printSummary(_ summary: SegmentSummary, output: String) {
        let total = max(1, summary.classes.reduce(0) { $0 + $1.pixels })
        let resumed = summary.resumedRows > 0 ? ", resumed at row \(summary.resumedRows)" : ""
        var lines = ["wrote \(output): \(summary.tiles) tiles (\(summary.encodedTiles) encoded, \(summary.encoderRuns) encoder runs) in \(ProgressLine.duration(summary.seconds))\(resumed), peak memory \(ProgressLine.bytes(summary.peakMemoryBytes))"]
        let width = summary.classes.map(\.name.count).max() ?? 0
        for c in summary.classes {
            lines.append("  " + c.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + String(format: "%6.2f%%", 100 * Double(c.pixels) / Double(total))
                         + (c.areaM2.map { String(format: "  %12.4f ha", $0 / 10_000) } ?? ""))
        }
        lines += SegmentOptions.exemplarLines(summary.exemplars)
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
