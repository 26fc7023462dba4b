import ArgumentParser
import CLIP
import Foundation
import GeoIO
import Pipeline
import Segmentation
import Tiling

/// The options `segment` and `detect` share (docs/segment.md): what to map and how.
struct SegmentOptions: ParsableArguments {
    @Argument(help: "The scene: any raster GDAL reads (GeoTIFF, COG, VRT, ...); segment takes several with --output-dir.")
    var scenes: [String] = []

    /// The scene of a one-scene run (`validate` checks there is one).
    var scene: String { scenes.first ?? "" }

    @Option(help: "A pipeline file (YAML): classes, prompts, colours and settings. See Pipelines/.")
    var pipeline: String?

    @Option(help: ArgumentHelp("Classes in plain words: ';' between classes, ',' between synonyms.",
                               discussion: "\"building; road; tree, forest; water\": four classes; tree also matches forest."))
    var classes: String?

    @Option(help: "A model folder in Hugging Face layout, or a model id in the cache (default: the pipeline's, else openai/clip-vit-base-patch16).")
    var model: String?

    @Option(help: "Tile size in pixels (default 512).")
    var tile: Int?

    @Option(help: "Overlap between tiles in pixels (default 128).")
    var overlap: Int?

    @Option(help: "Rotation ensemble, degrees counter-clockwise (default 0,90,180,270 with CLIP, 0 with SAM 3; 0 turns it off).")
    var rotations: String?

    @Option(help: "Prompt templates: aeroseg, imagenet80, single, or a file with one template ('... {} ...') a line.")
    var templates: String?

    @Option(help: "Pixels whose best class probability is under this get the background class (default 0).")
    var threshold: Float?

    @Option(help: "SAM 3 engine: objects scoring above this (between 0 and 1) count (default 0.5).")
    var objectThreshold: Float?

    @Option(help: "The class given to pixels under --threshold; a name that is no class is added as one.")
    var background: String?

    @Option(help: "Bands read as red, green, blue (1-based), or one band for grey (default: 1,2,3, or the only band).")
    var bands: String?

    @Option(help: "Worker threads for the model, 1 to 256 (default: every core this process may use).")
    var threads: Int?

    @OptionGroup var precision: PrecisionOption

    @Flag(help: "ZoRI's discrimination-enhanced classifier: compare only the embedding channels that tell the queries apart (docs/METHOD.md 10).")
    var dec = false

    @Option(name: .customLong("dec-keep"), help: "With --dec: the fraction of channels kept, more than 0 and at most 1 (default 0.390625, 300 of 768). Implies --dec.")
    var decKeep: Double?

    @Option(help: ArgumentHelp("Exemplar polygons: a vector file (GeoJSON, GPKG, Shapefile, FlatGeobuf) with a string attribute 'class' naming a class.",
                               discussion: "Each polygon's look is added to its class's score everywhere (ZoRI's prototype cache, docs/METHOD.md 10)."))
    var exemplars: String?

    @Option(name: .customLong("exemplar-weight"), help: "With --exemplars: the weight of the exemplar cache (default 1).")
    var exemplarWeight: Float?

    @Flag(help: "Replace outputs that exist.")
    var overwrite = false

    @Flag(help: ArgumentHelp("Continue a run that was killed (kill -9, power cut) from its last finished rows.",
                             discussion: "Every run journals its finished rows in hidden files beside the first output; the outputs are the same bytes as a run never stopped. A journal of other settings is refused; without --resume a journal left there is removed (docs/guarantees.md)."))
    var resume = false

    @Flag(help: "No progress, no summary (errors still go to stderr).")
    var quiet = false

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    /// The scene check is the command's (`segment` also takes `--list`).
    func validate() throws {
        if (pipeline == nil) == (classes == nil) {
            throw ValidationError("give either --pipeline FILE or --classes LIST")
        }
    }

    /// The files a run reads besides the scene, which no output may replace: the pipeline
    /// file and a templates file.
    var inputs: [OutputSet.Input] {
        var inputs: [OutputSet.Input] = []
        if let pipeline { inputs.append(OutputSet.Input(path: pipeline, role: "the pipeline file")) }
        if let templates, FileManager.default.fileExists(atPath: templates) {
            inputs.append(OutputSet.Input(path: templates, role: "the templates file"))
        }
        return inputs
    }

    /// The pipeline file or --classes, with every flag applied over it.
    func settings() throws -> SegmentSettings {
        var s = SegmentSettings()
        if let pipeline { s = try SegmentSettings.load(pipeline: pipeline) }
        if let classes {
            try s.setClasses(classes)
            s.name = "classes"
        }
        if let model { s.model = model }
        if let tile {
            guard (32...SegmentSettings.maxTile).contains(tile) else {
                throw UserError("option --tile: \(tile) must be from 32 to \(SegmentSettings.maxTile) pixels")
            }
            s.tile = tile
        }
        if let overlap { s.overlap = overlap }
        if tile != nil || overlap != nil, s.overlap < 0 || s.overlap >= s.tile {
            throw UserError("option --overlap: \(s.overlap) must be at least 0 and less than the tile size \(s.tile)")
        }
        if let rotations {
            s.rotations = try Self.integers(rotations, option: "--rotations")
            if let bad = s.rotations.first(where: { ![0, 90, 180, 270].contains($0) }) {
                throw UserError("option --rotations: \(bad) is not one of 0, 90, 180, 270")
            }
        }
        if let templates { try s.setTemplates(templates, source: "option --templates") }
        if let threshold {
            guard threshold.isFinite, (0...1).contains(threshold) else { throw UserError("option --threshold: \(threshold) must be from 0 to 1") }
            s.threshold = threshold
        }
        if let objectThreshold {
            guard objectThreshold.isFinite, objectThreshold > 0, objectThreshold < 1 else {
                throw UserError("option --object-threshold: \(objectThreshold) must be between 0 and 1 (exclusive)")
            }
            s.objectThreshold = objectThreshold
        }
        if let background { try s.setBackground(background, source: "option --background") }
        if let threads {
            guard (1...256).contains(threads) else { throw UserError("option --threads: \(threads) must be from 1 to 256") }
            s.threads = threads
        }
        if let precision = precision.value { s.precision = precision }
        if dec || decKeep != nil {
            if let decKeep, !(decKeep > 0 && decKeep <= 1) { throw UserError("option --dec-keep: \(decKeep) must be more than 0 and at most 1") }
            s.decKeep = decKeep ?? s.decKeep ?? ChannelSelection.defaultKeep
        }
        if let exemplars {
            guard FileManager.default.fileExists(atPath: exemplars) else { throw UserError("option --exemplars: '\(exemplars)': no such file") }
            s.exemplars = ExemplarSettings(file: exemplars, weight: s.exemplars?.weight ?? 1)
        }
        if let exemplarWeight {
            guard exemplarWeight.isFinite else { throw UserError("option --exemplar-weight: \(exemplarWeight) must be a finite number") }
            guard s.exemplars != nil else { throw UserError("option --exemplar-weight: no exemplars to weigh; give --exemplars FILE or the pipeline key exemplars") }
            s.exemplars?.weight = exemplarWeight
        }
        if let bands {
            s.bands = try Self.integers(bands, option: "--bands")
            if let bad = s.bands?.first(where: { $0 < 1 }) { throw UserError("option --bands: band \(bad) does not exist (bands count from 1)") }
        }
        try s.validate(source: pipeline.map { "pipeline '\($0)' with the options given" } ?? "options")
        return s
    }

    /// Summary lines about the exemplars a run used and skipped.
    static func exemplarLines(_ e: ExemplarSummary?) -> [String] {
        guard let e else { return [] }
        let used = e.classes.filter { $0.exemplars > 0 }.map { "\($0.name) \($0.exemplars)" }.joined(separator: ", ")
        return ["exemplars from \(e.file) (weight \(e.weight)): \(used); \(e.windows) windows encoded, \(e.fallbacks) keyed by their point-on-surface, \(e.skipped.count) skipped"]
            + e.skipped.map { "  skipped \($0.feature): \($0.reason)" }
    }

    static func integers(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count else { throw UserError("option \(option): '\(text)' is not a list of integers like 1,2,3") }
        return values
    }
}
