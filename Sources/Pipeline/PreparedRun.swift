import CLIP
import ModelHub
import Foundation
import GeoIO
import Segmentation
import Tensor
import Tiling

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
    static func prepare(settings: SegmentSettings, scene: RasterDataset, cache: URL? = nil, models: LoadedModels? = nil) throws -> PreparedRun {
        let bands = settings.bands ?? TileReader.defaultBands(for: scene)
        let scaling = try settings.inputRanges.map { try BandScaling(fixed: $0, bandCount: bands.count) } ?? BandScaling.automatic(scene: scene, bands: bands)
        let reader = try TileReader(scene: scene, bands: bands, scaling: scaling)
        let grid = try TileGrid(width: scene.width, height: scene.height, size: settings.tile, overlap: settings.overlap)
        let store = cache.map { ModelStore(root: $0) } ?? ModelStore()
        let directory = try store.resolve(settings.model)
        let vocabulary = settings.vocabulary
        let (model, hash, queries) = try (models ?? LoadedModels()).load(directory: directory, vocabulary: vocabulary) {
            let model = try CLIPModel.load(directory: directory.path)
            let tokenizer = try CLIPTokenizer(directory: directory)
            let hash = try FileDigest.weightsHash(modelDirectory: directory, cacheRoot: store.root)
            let queries = try TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: vocabulary,
                                                  cache: QueryCache(root: store.root, key: FileDigest.textQueryKey(modelDirectory: directory, weightsHash: hash,
                                                                                                                   methodVersion: TextQueries.methodVersion)))
            return (model, hash, queries)
        }
        return PreparedRun(settings: settings, scene: scene, reader: reader, grid: grid, modelDirectory: directory, weightsHash: hash,
                           segmenter: DenseCLIPSegmenter(model: model, queries: queries, rotations: settings.rotations, clsLambda: settings.clsLambda,
                                                         threads: settings.threads),
                           decision: ClassDecision(queryClass: vocabulary.queryClass, logitScale: settings.logitScale,
                                                   threshold: settings.threshold, backgroundIndex: settings.backgroundIndex))
    }

    /// Tells `progress` that a finishing step starts (all tiles done).
    func announce(_ step: String, _ progress: (@Sendable (RunProgress) -> Void)?) {
        progress?(RunProgress(tilesDone: grid.tileCount, tilesTotal: grid.tileCount, elapsedSeconds: 0, step: step))
    }

    /// A rough duration of the whole run, for a warning before long runs: the vision tower's
    /// multiply-adds per encoder run (projections, MLP and attention of every layer) times the
    /// tiles and rotations, at `flopsPerCore` on every worker. An estimate: the real rate
    /// depends on the CPU (docs/benchmarks.md) and all-nodata tiles are skipped.
    func estimatedSeconds(workers: Int, flopsPerCore: Double = 75e9) -> Double {
        let v = segmenter.model.config.visionConfig
        let side = Double(grid.tileWidth + v.patchSize - 1) / Double(v.patchSize)
        let tokens = side * side + 1, d = Double(v.hiddenSize), i = Double(v.intermediateSize)
        let perRun = Double(v.numHiddenLayers) * (2 * tokens * (4 * d * d + 2 * d * i) + 4 * tokens * tokens * d)
        return Double(grid.tileCount * settings.rotations.count) * perRun / (flopsPerCore * Double(max(1, workers)))
    }

    /// What the outputs record about how they were made.
    var provenance: [String: String] {
        let s = settings
        let prompts = s.classes.map { "\($0.name): \($0.prompts.joined(separator: ", "))" }.joined(separator: "; ")
        return [
            "LANDSCRIBE_VERSION": LandscribeVersion.current,
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
            "LANDSCRIBE_VIEW": Self.viewSummary(s),
            "LANDSCRIBE_CREATION_OPTIONS": s.creationOptions.isEmpty ? "default" : s.creationOptions.joined(separator: " "),
            "LANDSCRIBE_SCENE": scene.path,
            "LANDSCRIBE_MATRIX_BACKEND": MatrixBackend.current.description,
            "LANDSCRIBE_KERNELS": Kernels.instructionSet,
        ]
    }

    /// `--aoi` and `--gsd` as the provenance records them: "whole scene at its own resolution" or what was asked.
    static func viewSummary(_ s: SegmentSettings) -> String {
        var parts: [String] = []
        switch s.areaOfInterest {
        case let .box(minX, minY, maxX, maxY, epsg)?: parts.append("aoi \(minX),\(minY),\(maxX),\(maxY)" + (epsg.map { " EPSG:\($0)" } ?? " (scene CRS)"))
        case let .file(path)?: parts.append("aoi bounding box of '\(path)'")
        case nil: break
        }
        if let gsd = s.groundSampleDistance { parts.append("resampled to \(gsd) m") }
        return parts.isEmpty ? "whole scene at its own resolution" : parts.joined(separator: "; ")
    }

    var outputClasses: [OutputClass] { settings.classes.map { OutputClass(name: $0.name, color: $0.color) } }

    /// Runs every tile into the class map (and probabilities, confidence) at the temporary names of these
    /// output files, finished as COGs and left there for the caller's `OutputSet` to commit;
    /// on any error they are removed. Returns the statistics and the outputs (pixels per class,
    /// where the finished files are).
    func segment(classMap: OutputFile, probabilities: OutputFile?, confidence: OutputFile?, probabilityEncoding: ProbabilityEncoding = .float32,
                 progress: (@Sendable (RunProgress) -> Void)?) async throws -> (stats: RunStatistics, outputs: SegmentOutputs) {
        let outputs = try SegmentOutputs(classMap: classMap, probabilities: probabilities, confidence: confidence, scene: scene,
                                         classes: outputClasses, decision: decision.apply, metadata: provenance,
                                         creationOptions: settings.creationOptions, probabilityEncoding: probabilityEncoding)
        do {
            let stats = try await SceneRunner.run(reader: reader, grid: grid, segmenter: segmenter,
                                                  progress: { p in progress?(p) }, sink: outputs.write)
            try outputs.finish(commit: false, step: { announce($0, progress) })
            return (stats, outputs)
        } catch {
            outputs.discard()
            throw error
        }
    }
}

/// The model and text queries of the last run, kept for the next scene of a batch
/// (`segment a.tif b.tif --output-dir DIR`): loaded once while the model folder and the
/// vocabulary (classes, prompts, templates) stay the same.
public final class LoadedModels: @unchecked Sendable {  // its state is only touched under `lock`
    private let lock = NSLock()
    private var key: String?
    private var value: (CLIPModel, String, Tensor)?
    /// How many times a model was loaded (for tests).
    public private(set) var loads = 0

    public init() {}

    func load(directory: URL, vocabulary: Vocabulary, _ make: () throws -> (CLIPModel, String, Tensor)) throws -> (CLIPModel, String, Tensor) {
        lock.lock(); defer { lock.unlock() }
        let key = directory.standardizedFileURL.path + "\u{0}" + vocabulary.classes.map { $0.name + ":" + $0.prompts.joined(separator: ",") }.joined(separator: ";")
            + "\u{0}" + vocabulary.templates.joined(separator: "|")
        if key == self.key, let value { return value }
        let made = try make()
        loads += 1
        self.key = key
        value = made
        return made
    }
}
