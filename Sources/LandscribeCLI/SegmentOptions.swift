import ArgumentParser
import CLIP
import Foundation
import GeoIO
import Pipeline
import Segmentation
import Tensor
import Tiling

/// The options `segment` and `detect` share (docs/CLI.md): what to map and how.
struct SegmentOptions: ParsableArguments {
    @Argument(help: "The scene: any raster GDAL reads (GeoTIFF, COG, VRT, ...).")
    var scene: String

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

    @Option(help: "Rotation ensemble, degrees counter-clockwise (default 0,90,180,270; 0 turns it off).")
    var rotations: String?

    @Option(help: "Prompt templates: aeroseg, imagenet80, single, or a file with one template ('... {} ...') a line.")
    var templates: String?

    @Option(help: "Pixels whose best class probability is under this get the background class (default 0).")
    var threshold: Float?

    @Option(help: "The class given to pixels under --threshold; a name that is no class is added as one.")
    var background: String?

    @Option(help: "Bands read as red, green, blue (1-based), or one band for grey (default: 1,2,3, or the only band).")
    var bands: String?

    @Flag(help: "Replace outputs that exist.")
    var overwrite = false

    @Flag(help: "No progress, no summary (errors still go to stderr).")
    var quiet = false

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    func validate() throws {
        if (pipeline == nil) == (classes == nil) {
            throw ValidationError("give either --pipeline FILE or --classes LIST")
        }
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
        if let tile { s.tile = tile }
        if let overlap { s.overlap = overlap }
        if tile != nil || overlap != nil, s.overlap < 0 || s.overlap >= s.tile {
            throw SettingsError("option --overlap: \(s.overlap) must be at least 0 and less than the tile size \(s.tile)")
        }
        if let rotations {
            s.rotations = try Self.integers(rotations, option: "--rotations")
            if let bad = s.rotations.first(where: { ![0, 90, 180, 270].contains($0) }) {
                throw SettingsError("option --rotations: \(bad) is not one of 0, 90, 180, 270")
            }
        }
        if let templates { try s.setTemplates(templates, source: "option --templates") }
        if let threshold { s.threshold = threshold }
        if let background { try s.setBackground(background, source: "option --background") }
        if let bands { s.bands = try Self.integers(bands, option: "--bands") }
        try s.validate(source: pipeline.map { "pipeline '\($0)' with the options given" } ?? "options")
        return s
    }

    static func integers(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count else { throw SettingsError("option \(option): '\(text)' is not a list of integers like 1,2,3") }
        return values
    }
}

/// A segmentation run made ready: scene, settings, model, queries, reader, grid.
struct PreparedRun {
    let settings: SegmentSettings
    let scene: RasterDataset
    let reader: TileReader
    let grid: TileGrid
    let modelDirectory: URL
    let weightsHash: String
    let segmenter: DenseCLIPSegmenter
    let decision: ClassDecision

    /// Opens and checks everything cheap first (scene, bands, outputs are checked by the
    /// caller), then loads the model and computes the text queries.
    static func prepare(_ options: SegmentOptions, settings: SegmentSettings, scene: RasterDataset) throws -> PreparedRun {
        let bands = settings.bands ?? TileReader.defaultBands(for: scene)
        let reader = try TileReader(scene: scene, bands: bands, scaling: BandScaling.automatic(scene: scene, bands: bands))
        let grid = try TileGrid(width: scene.width, height: scene.height, size: settings.tile, overlap: settings.overlap)
        let store = ModelStore()
        let directory = try store.resolve(settings.model)
        let model = try CLIPModel.load(directory: directory.path)
        let tokenizer = try CLIPTokenizer(directory: directory)
        let hash = try FileDigest.weightsHash(modelDirectory: directory, cacheRoot: store.root)
        let vocabulary = settings.vocabulary
        let queries = try TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: vocabulary,
                                              cache: QueryCache(root: store.root, weightsHash: hash))
        return PreparedRun(settings: settings, scene: scene, reader: reader, grid: grid, modelDirectory: directory, weightsHash: hash,
                           segmenter: DenseCLIPSegmenter(model: model, queries: queries, rotations: settings.rotations, clsLambda: settings.clsLambda),
                           decision: ClassDecision(queryClass: vocabulary.queryClass, logitScale: settings.logitScale,
                                                   threshold: settings.threshold, backgroundIndex: settings.backgroundIndex))
    }

    /// What the outputs record about how they were made.
    var provenance: [String: String] {
        let s = settings
        let prompts = s.classes.map { "\($0.name): \($0.prompts.joined(separator: ", "))" }.joined(separator: "; ")
        return [
            "LANDSCRIBE_VERSION": Landscribe.version,
            "LANDSCRIBE_MODEL": s.model,
            "LANDSCRIBE_WEIGHTS_SHA256": weightsHash,
            "LANDSCRIBE_PIPELINE": s.name,
            "LANDSCRIBE_CLASSES": s.classes.map(\.name).joined(separator: "; "),
            "LANDSCRIBE_PROMPTS": prompts,
            "LANDSCRIBE_TEMPLATES": s.templatesName + " (" + s.templates.joined(separator: " | ") + ")",
            "LANDSCRIBE_ROTATIONS": s.rotations.map(String.init).joined(separator: ","),
            "LANDSCRIBE_TILE": "\(s.tile)", "LANDSCRIBE_OVERLAP": "\(s.overlap)",
            "LANDSCRIBE_LOGIT_SCALE": "\(s.logitScale)", "LANDSCRIBE_CLS_LAMBDA": "\(s.clsLambda)",
            "LANDSCRIBE_THRESHOLD": "\(s.threshold)", "LANDSCRIBE_BACKGROUND": s.background ?? "none",
            "LANDSCRIBE_BANDS": reader.bands.map(String.init).joined(separator: ","),
            "LANDSCRIBE_INPUT_SCALING": reader.scaling.summary,
            "LANDSCRIBE_SCENE": scene.path,
            "LANDSCRIBE_MATRIX_BACKEND": MatrixBackend.current.description,
            "LANDSCRIBE_KERNELS": Kernels.instructionSet,
        ]
    }

    var outputClasses: [OutputClass] { settings.classes.map { OutputClass(name: $0.name, color: $0.color) } }

    /// Runs every tile into the class map (and probabilities, when a path is given), finished as
    /// COGs; on any error nothing is left under those names. Returns the statistics and the
    /// pixels per class.
    func segment(classMap: String, probabilities: String?, confidence: Bool, overwrite: Bool,
                 quiet: Bool) async throws -> (stats: RunStatistics, pixelCounts: [Int]) {
        let outputs = try SegmentOutputs(classMap: classMap, probabilities: probabilities, confidence: confidence, scene: scene,
                                         classes: outputClasses, decision: decision.apply, metadata: provenance, overwrite: overwrite)
        do {
            let stats = try await run(outputs: outputs, quiet: quiet)
            try outputs.finish()
            return (stats, outputs.pixelCounts)
        } catch {
            outputs.discard()
            throw error
        }
    }

    /// Runs every tile, writing through `outputs`, with a progress line unless quiet.
    private func run(outputs: SegmentOutputs, quiet: Bool) async throws -> RunStatistics {
        let line = ProgressLine(enabled: !quiet)
        let stats = try await SceneRunner.run(reader: reader, grid: grid, segmenter: segmenter, progress: { p in
            let rate = p.elapsedSeconds > 0 ? Double(p.tilesDone) / p.elapsedSeconds : 0
            let eta = rate > 0 ? Double(p.tilesTotal - p.tilesDone) / rate : 0
            line.update(String(format: "tiles %d/%d  %.2f tiles/s  ETA %@", p.tilesDone, p.tilesTotal, rate, Self.duration(eta)))
        }, sink: outputs.write)
        line.finish()
        return stats
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
