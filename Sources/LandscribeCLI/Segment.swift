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
        """)

    @OptionGroup var options: SegmentOptions

    @Option(name: .shortAndLong, help: "The class map to write (GeoTIFF, Cloud-Optimized).")
    var output: String

    @Option(help: "Also write per-class probabilities: Float32, one band per class, nodata -1.")
    var probabilities: String?

    @Flag(help: "Add a second band to the class map: the winning class's probability, 0..100.")
    var confidence = false

    @Option(help: "Also write a PNG picture: the scene with a translucent class overlay and a legend.")
    var preview: String?

    func run() async throws {
        try await failing {
            let settings = try options.settings()
            let scene = try RasterDataset(path: options.scene)
            let outputs = try OutputSet([OutputSet.Request(path: output, option: "-o", sideSuffixes: [".aux.xml"])]
                                        + (probabilities.map { [OutputSet.Request(path: $0, option: "--probabilities", sideSuffixes: [".aux.xml"])] } ?? [])
                                        + (preview.map { [OutputSet.Request(path: $0, option: "--preview")] } ?? []),
                                        inputs: options.inputs(scene: scene), overwrite: options.overwrite)
            let start = Date()
            let prepared: PreparedRun, stats: RunStatistics, pixelCounts: [Int]
            do {
                prepared = try PreparedRun.prepare(options, settings: settings, scene: scene)
                let written = try await prepared.segment(classMap: outputs.files[0], probabilities: outputs.file(option: "--probabilities"),
                                                         confidence: confidence, quiet: options.quiet)
                (stats, pixelCounts) = (written.stats, written.outputs.pixelCounts)
                if let file = outputs.file(option: "--preview") {
                    try PreviewRenderer.render(scene: scene, reader: prepared.reader, classMap: written.outputs.classMapPath, classes: prepared.outputClasses,
                                               title: "landscribe: \(settings.name)", to: file, commit: false)
                }
                try outputs.commit()
            } catch {
                outputs.discard()
                throw error
            }
            let seconds = Date().timeIntervalSince(start)
            let counts = zip(prepared.outputClasses, pixelCounts)
            if options.json {
                try printJSON(["tiles": stats.tiles, "encoder_runs": stats.encoderRuns, "seconds": seconds,
                               "classes": counts.map { ["name": $0.0.name, "pixels": $0.1] },
                               "segmenter_seconds": stats.segmenterSeconds,
                               "encoder_seconds": prepared.segmenter.encoderClock.seconds,
                               "head_seconds": prepared.segmenter.headClock.seconds] as [String: Any])
            } else if !options.quiet {
                let total = max(1, pixelCounts.reduce(0, +))
                var lines = ["wrote \(output): \(stats.tiles) tiles (\(stats.encodedTiles) encoded, \(stats.encoderRuns) encoder runs) in \(PreparedRun.duration(seconds))"]
                let width = prepared.outputClasses.map(\.name.count).max() ?? 0
                for (c, n) in counts {
                    lines.append("  " + c.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + String(format: "%6.2f%%", 100 * Double(n) / Double(total)))
                }
                FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
        }
    }
}
