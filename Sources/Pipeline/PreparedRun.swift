import CLIP
import ModelHub
import Foundation
import GeoIO
import Instances
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
    /// The engine of the model folder (CLIP or SAM 3, `Engines.load`).
    let segmenter: any SceneEngine
    let decision: ClassDecision
    /// METHOD.md section 10's exemplars, when on: what was used and skipped.
    var exemplars: ExemplarSummary?
    /// SAM 3's objects of every tile, when the run was prepared for `detect`.
    let objects: ObjectMerger?

    /// Opens and checks everything cheap first (scene, bands, outputs are checked by the
    /// caller), then loads the model and computes the text queries. The engine follows the
    /// model folder (`ModelKind`): CLIP (with `dec` and exemplars when asked, the model kept in
    /// `models` for a batch) or SAM 3 (`Engines.sam3`).
    /// With `collectObjects`, a SAM 3 engine hands its instances to `objects` (for `detect`).
    /// `scaling`: the input scaling computed before (a shard's, from its plan); nil computes it.
    static func prepare(settings: SegmentSettings, scene: RasterDataset, cache: URL? = nil, models: LoadedModels? = nil,
                        collectObjects: Bool = false, scaling: BandScaling? = nil) throws -> PreparedRun {
        let reader = try reader(settings: settings, scene: scene, scaling: scaling)
        let grid = try TileGrid(width: scene.width, height: scene.height, size: settings.tile, overlap: settings.overlap)
        let vocabulary = settings.vocabulary
        let exemplarSet = try settings.exemplars.map { try ExemplarSet.load($0, scene: SceneGrid(scene), classNames: vocabulary.classes.map(\.name)) }
        let store = cache.map { ModelStore(root: $0) } ?? ModelStore()
        let directory = try store.resolve(settings.model)
        if try ModelKind.detect(directory: directory) == .sam3 {
            if settings.decKeep != nil || settings.exemplars != nil { throw MappingError.clipOnly(model: settings.model) }
            let hash = try FileDigest.weightsHash(modelDirectory: directory, cacheRoot: store.root)
            let merger = collectObjects ? ObjectMerger() : nil
            let engine = try Engines.sam3(directory: directory, settings: settings, objects: merger)
            return PreparedRun(settings: settings, scene: scene, reader: reader, grid: grid, modelDirectory: directory, weightsHash: hash,
                               segmenter: engine, decision: engine.decision(settings), exemplars: nil, objects: merger)
        }
        let (model, hash, queries) = try (models ?? LoadedModels()).load(directory: directory, vocabulary: vocabulary, precision: settings.precision) {
            let model = try CLIPModel.load(directory: directory.path, precision: settings.precision)
            let tokenizer = try CLIPTokenizer(directory: directory)
            let hash = try FileDigest.weightsHash(modelDirectory: directory, cacheRoot: store.root)
            let queries = try TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: vocabulary,
                                                  cache: QueryCache(root: store.root, key: FileDigest.textQueryKey(modelDirectory: directory, weightsHash: hash,
                                                                                                                   methodVersion: TextQueries.methodVersion + settings.precision.cacheSuffix)))
            return (model, hash, queries)
        }
        var segmenter = DenseCLIPSegmenter(model: model, queries: queries, rotations: settings.rotations, clsLambda: settings.clsLambda,
                                           threads: settings.threads, channels: settings.decKeep.map { ChannelSelection(queries: queries, keep: $0) })
        var summary: ExemplarSummary?
        if let exemplarSet, let options = settings.exemplars {
            let windows = try exemplarSet.windows(reader: reader, tile: settings.tile, patch: model.vision.config.patchSize)
            let keys = try segmenter.exemplarKeys(windows)
            let classes = exemplarSet.exemplars.map(\.classIndex)
            segmenter = segmenter.with(cache: ExemplarCache(keys: keys.keys, classes: classes, weight: options.weight), queryClass: vocabulary.queryClass)
            summary = ExemplarSummary(file: exemplarSet.file, weight: options.weight,
                                      classes: vocabulary.classes.indices.map { c in .init(name: vocabulary.classes[c].name, exemplars: classes.filter { $0 == c }.count) },
                                      skipped: exemplarSet.skipped, windows: Set(windows.map(\.image.tile)).count,
                                      fallbacks: keys.fallback.filter { $0 }.count)
        }
        return PreparedRun(settings: settings, scene: scene, reader: reader, grid: grid, modelDirectory: directory, weightsHash: hash,
                           segmenter: segmenter, decision: segmenter.decision(settings), exemplars: summary, objects: nil)
    }

    /// The reader of `scene` as `settings` ask: their bands, `--scale` or `scaling` (else the
    /// scene's own percentiles), and the polygons of a vector file `--aoi` as its mask (its
    /// bounding box is the view, `SceneMapper.open`).
    static func reader(settings: SegmentSettings, scene: RasterDataset, scaling: BandScaling? = nil) throws -> TileReader {
        let bands = settings.bands ?? TileReader.defaultBands(for: scene)
        let scaling = try scaling ?? settings.inputRanges.map { try BandScaling(fixed: $0, bandCount: bands.count) } ?? BandScaling.automatic(scene: scene, bands: bands)
        let mask: AreaMask? = try {
            if case let .file(path)? = settings.areaOfInterest { return try AreaMask(path: path, raster: scene) }
            return nil
        }()
        return try TileReader(scene: scene, bands: bands, scaling: scaling, mask: mask)
    }

    /// What the outputs are made from, the model aside (`RunFrame`).
    var frame: RunFrame { RunFrame(settings: settings, scene: scene, reader: reader, grid: grid, provenance: provenance) }

    /// Tells `progress` that a finishing step starts (all tiles done).
    func announce(_ step: String, _ progress: (@Sendable (RunProgress) -> Void)?) { frame.announce(step, progress) }

    /// The rotations the engine runs (the SAM 3 engine's default is {0}).
    var rotations: [Int] { segmenter.rotations }

    /// A rough duration of the whole run, for a warning before long runs: the engine's
    /// multiply-adds per tile at `flopsPerCore` on every worker. An estimate: the real rate
    /// depends on the CPU (docs/benchmarks.md) and all-nodata tiles are skipped.
    func estimatedSeconds(workers: Int, flopsPerCore: Double = 75e9) -> Double {
        segmenter.estimatedSeconds(tiles: grid.tileCount, tileSide: grid.tileWidth, workers: workers, flopsPerCore: flopsPerCore)
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
            "LANDSCRIBE_ENGINE": segmenter.engineName,
            "LANDSCRIBE_ROTATIONS": rotations.map(String.init).joined(separator: ","),
            "LANDSCRIBE_TILE": "\(s.tile)", "LANDSCRIBE_OVERLAP": "\(s.overlap)",
            "LANDSCRIBE_THRESHOLD": "\(s.threshold)", "LANDSCRIBE_BACKGROUND": s.background ?? "none",
            "LANDSCRIBE_BANDS": reader.bands.map(String.init).joined(separator: ","),
            "LANDSCRIBE_INPUT_SCALING": reader.scaling.summary,
            "LANDSCRIBE_VIEW": Self.viewSummary(s),
            "LANDSCRIBE_CREATION_OPTIONS": s.creationOptions.isEmpty ? "default" : s.creationOptions.joined(separator: " "),
            "LANDSCRIBE_SCENE": scene.path,
            "LANDSCRIBE_MATRIX_BACKEND": MatrixBackend.current.description,
            "LANDSCRIBE_KERNELS": Kernels.instructionSet,
            "LANDSCRIBE_PRECISION": s.precision.rawValue,
        ].merging(segmenter.provenance(s)) { a, _ in a }.merging(zoriProvenance) { a, _ in a }
    }

    /// METHOD.md section 10 in the provenance, only when on (the reference configuration's
    /// metadata stays as it was).
    var zoriProvenance: [String: String] {
        var out: [String: String] = [:]
        if let keep = settings.decKeep, let c = (segmenter as? DenseCLIPSegmenter)?.channels {
            out["LANDSCRIBE_DEC"] = "keep \(keep): \(c.channels.count) of \(c.dimension) channels: " + c.channels.map(String.init).joined(separator: ",")
        }
        if let e = exemplars {
            out["LANDSCRIBE_EXEMPLARS"] = "\(e.file) (weight \(e.weight)): " + e.classes.map { "\($0.name) \($0.exemplars)" }.joined(separator: ", ")
                + "; \(e.skipped.count) skipped"
        }
        return out
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

    /// What a run journal checks before it resumes: everything the outputs' bytes depend on
    /// (the provenance, the scene file's identity) and which outputs the run writes.
    func plan(run: String) -> [String: String] {
        provenance.merging(["LANDSCRIBE_SCENE_FILE": RunJournal.sceneIdentity(path: scene.path), "RUN": run]) { $1 }
    }

    var outputClasses: [OutputClass] { frame.outputClasses }

    /// Runs every tile into the class map (and probabilities, confidence) at the temporary names of these
    /// output files, finished as COGs and left there for the caller's `OutputSet` to commit;
    /// on any error they are removed. Returns the statistics and the outputs (pixels per class,
    /// where the finished files are). With a `journal`, the rows are staged in its files and
    /// recorded after every strip, and a journal that resumes continues from its progress.
    func segment(classMap: OutputFile, probabilities: OutputFile?, confidence: OutputFile?, probabilityEncoding: ProbabilityEncoding = .float32,
                 journal: RunJournal? = nil,
                 progress: (@Sendable (RunProgress) -> Void)?) async throws -> (stats: RunStatistics, outputs: SegmentOutputs) {
        let resumed = journal?.resumed
        if let resumed, resumed.rows > scene.height, let journal { throw JournalError.unreadable(path: journal.progressPath) }
        let staging = journal.map { j in
            SegmentOutputs.Staging(classMap: .kept(path: j.stagingPath("classes"), reopen: resumed != nil),
                                   probabilities: .kept(path: j.stagingPath("probabilities"), reopen: resumed != nil),
                                   confidence: .kept(path: j.stagingPath("confidence"), reopen: resumed != nil))
        } ?? SegmentOutputs.Staging()
        let outputs: SegmentOutputs
        do {
            outputs = try frame.classMapOutputs(classMap: classMap, probabilities: probabilities, confidence: confidence,
                                                probabilityEncoding: probabilityEncoding, decision: decision.apply,
                                                staging: staging, resumed: resumed?.tally)
        } catch {
            // A journal whose staging files are gone or damaged: say so, and how to start over.
            guard resumed != nil, let journal else { throw error }
            throw JournalError.damaged(path: journal.stem + ".*", reason: "\(error)")
        }
        do {
            let stats = try await SceneRunner.run(reader: reader, grid: grid, segmenter: segmenter, from: resumed?.rows ?? 0,
                                                  progress: { p in progress?(p) }) { rows in
                try outputs.write(rows)
                if let journal { try journal.record(.init(rows: rows.row + rows.rowCount, tally: try outputs.flush())) }
            }
            try outputs.finish(commit: false, step: { announce($0, progress) })
            return (stats, outputs)
        } catch {
            outputs.discard()
            throw error
        }
    }

    /// `detect`'s objects (`RunFrame.extractObjects`): SAM 3's instances when the engine gave them.
    func extractObjects(_ outputs: SegmentOutputs, options: ExtractionOptions, instanceClasses: Set<Int>,
                        outputs files: [(OutputFile, VectorFormat)]) throws -> ExtractionSummary {
        try frame.extractObjects(outputs, merger: objects, options: options, instanceClasses: instanceClasses, outputs: files)
    }

}

/// The model and text queries of the last run, kept for the next scene of a batch
/// (`segment a.tif b.tif --output-dir DIR`): loaded once while the model folder, the precision and the
/// vocabulary (classes, prompts, templates) stay the same.
public final class LoadedModels: @unchecked Sendable {  // its state is only touched under `lock`
    private let lock = NSLock()
    private var key: String?
    private var value: (CLIPModel, String, Tensor)?
    /// How many times a model was loaded (for tests).
    public private(set) var loads = 0

    public init() {}

    func load(directory: URL, vocabulary: Vocabulary, precision: MatrixPrecision, _ make: () throws -> (CLIPModel, String, Tensor)) throws -> (CLIPModel, String, Tensor) {
        lock.lock(); defer { lock.unlock() }
        let key = directory.standardizedFileURL.path + "\u{0}" + vocabulary.classes.map { $0.name + ":" + $0.prompts.joined(separator: ",") }.joined(separator: ";")
            + "\u{0}" + vocabulary.templates.joined(separator: "|") + "\u{0}" + precision.rawValue
        if key == self.key, let value { return value }
        let made = try make()
        loads += 1
        self.key = key
        value = made
        return made
    }
}
