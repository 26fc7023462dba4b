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
    /// SAM 3's objects of every tile, when the run was prepared for `detect`.
    let objects: ObjectMerger?

    /// Opens and checks everything cheap first (scene, bands, outputs are checked by the
    /// caller), then loads the model and computes the text queries.
    /// With `collectObjects`, a SAM 3 engine hands its instances to `objects` (for `detect`).
    static func prepare(settings: SegmentSettings, scene: RasterDataset, cache: URL? = nil, collectObjects: Bool = false) throws -> PreparedRun {
        let bands = settings.bands ?? TileReader.defaultBands(for: scene)
        let reader = try TileReader(scene: scene, bands: bands, scaling: BandScaling.automatic(scene: scene, bands: bands))
        let grid = try TileGrid(width: scene.width, height: scene.height, size: settings.tile, overlap: settings.overlap)
        let store = cache.map { ModelStore(root: $0) } ?? ModelStore()
        let directory = try store.resolve(settings.model)
        let hash = try FileDigest.weightsHash(modelDirectory: directory, cacheRoot: store.root)
        let merger = collectObjects ? ObjectMerger() : nil
        let engine = try Engines.load(directory: directory, settings: settings, store: store, weightsHash: hash, objects: merger)
        return PreparedRun(settings: settings, scene: scene, reader: reader, grid: grid, modelDirectory: directory, weightsHash: hash,
                           segmenter: engine, decision: engine.decision(settings), objects: engine.engineName == "sam3" ? merger : nil)
    }

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
            "LANDSCRIBE_SCENE": scene.path,
            "LANDSCRIBE_MATRIX_BACKEND": MatrixBackend.current.description,
            "LANDSCRIBE_KERNELS": Kernels.instructionSet,
        ].merging(segmenter.provenance(s)) { a, _ in a }
    }

    var outputClasses: [OutputClass] { settings.classes.map { OutputClass(name: $0.name, color: $0.color) } }

    /// Runs every tile into the class map (and probabilities) at the temporary names of these
    /// output files, finished as COGs and left there for the caller's `OutputSet` to commit;
    /// on any error they are removed. Returns the statistics and the outputs (pixels per class,
    /// where the finished files are).
    func segment(classMap: OutputFile, probabilities: OutputFile?, confidence: Bool,
                 progress: (@Sendable (RunProgress) -> Void)?) async throws -> (stats: RunStatistics, outputs: SegmentOutputs) {
        let outputs = try SegmentOutputs(classMap: classMap, probabilities: probabilities, confidence: confidence, scene: scene,
                                         classes: outputClasses, decision: decision.apply, metadata: provenance)
        do {
            let stats = try await SceneRunner.run(reader: reader, grid: grid, segmenter: segmenter,
                                                  progress: { p in progress?(p) }, sink: outputs.write)
            try outputs.finish(commit: false)
            return (stats, outputs)
        } catch {
            outputs.discard()
            throw error
        }
    }

    /// `detect`'s objects: SAM 3's own instances merged across tiles (`ObjectMerger`) when the
    /// engine gave them, else the connected components of the class map (the CLIP engine).
    func extractObjects(_ outputs: SegmentOutputs, options: ExtractionOptions, instanceClasses: Set<Int>,
                        geojson: OutputFile, gpkg: OutputFile?) throws -> ExtractionSummary {
        let extractor = InstanceExtractor(options: options)
        let names = settings.classes.map(\.name)
        if let objects {
            return try extractor.extract(objects: objects.finish(sceneWidth: scene.width), classMap: outputs.classMapPath, classNames: names,
                                         instanceClasses: instanceClasses, geojson: geojson, gpkg: gpkg, commit: false)
        }
        return try extractor.extract(classMap: outputs.classMapPath, probabilities: outputs.probabilitiesPath, classNames: names,
                                     instanceClasses: instanceClasses, geojson: geojson, gpkg: gpkg, commit: false)
    }
}
