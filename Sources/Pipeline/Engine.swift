import CLIP
import Foundation
import Instances
import ModelHub
import SAM3
import Segmentation
import Tiling

/// The model side of a run, chosen by the model folder (`ModelKind`): the segmenter the scene
/// runner drives, how its stitched values become classes, its cost and its provenance. CLIP
/// folders get `DenseCLIPSegmenter` (METHOD.md sections 2-4, 6), SAM 3 folders `SAM3Segmenter`
/// (section 9); everything else in a run is the same.
protocol SceneEngine: Segmenter {
    /// "clip" or "sam3", as the summaries and provenance name it.
    var engineName: String { get }
    /// The rotations it runs per tile.
    var rotations: [Int] { get }
    var encoderClock: Stopwatch { get }
    var headClock: Stopwatch { get }
    /// Stitched per-query values to classes.
    func decision(_ settings: SegmentSettings) -> ClassDecision
    /// A rough duration of `tiles` tiles of `tileSide` pixels on `workers` cores at `flopsPerCore`.
    func estimatedSeconds(tiles: Int, tileSide: Int, workers: Int, flopsPerCore: Double) -> Double
    /// The engine's own settings in the outputs' metadata.
    func provenance(_ settings: SegmentSettings) -> [String: String]
    /// Whether its matrix products are split by the machine's thread count (`BLAS.threads`)
    /// rather than in fixed row chunks: then machines with other counts may differ in the last
    /// bits, and a sharded run records the count (`ShardPlan.Execution.productThreads`).
    var splitsProductsByMachine: Bool { get }
}

extension DenseCLIPSegmenter: SceneEngine {
    var engineName: String { "clip" }
    var splitsProductsByMachine: Bool { false }

    func decision(_ s: SegmentSettings) -> ClassDecision {
        ClassDecision(queryClass: s.vocabulary.queryClass, logitScale: s.logitScale, threshold: s.threshold, backgroundIndex: s.backgroundIndex)
    }

    /// The vision tower's multiply-adds per encoder run (projections, MLP and attention of every
    /// layer) times the tiles and rotations.
    func estimatedSeconds(tiles: Int, tileSide: Int, workers: Int, flopsPerCore: Double) -> Double {
        let v = model.config.visionConfig
        let side = Double(tileSide + v.patchSize - 1) / Double(v.patchSize)
        let tokens = side * side + 1, d = Double(v.hiddenSize), i = Double(v.intermediateSize)
        let perRun = Double(v.numHiddenLayers) * (2 * tokens * (4 * d * d + 2 * d * i) + 4 * tokens * tokens * d)
        return Double(tiles * rotations.count) * perRun / (flopsPerCore * Double(max(1, workers)))
    }

    func provenance(_ s: SegmentSettings) -> [String: String] {
        ["LANDSCRIBE_TEMPLATES": s.templatesName + " (" + s.templates.joined(separator: " | ") + ")",
         "LANDSCRIBE_LOGIT_SCALE": "\(s.logitScale)", "LANDSCRIBE_CLS_LAMBDA": "\(s.clsLambda)"]
    }
}

extension SAM3Segmenter: SceneEngine {
    var engineName: String { "sam3" }
    var splitsProductsByMachine: Bool { true }

    func decision(_ s: SegmentSettings) -> ClassDecision {
        ClassDecision.scores(queryClass: s.vocabulary.queryClass, threshold: s.threshold, backgroundIndex: s.backgroundIndex)
    }

    /// The backbone and neck per tile and rotation; the per-query heads are not counted (they
    /// are a fraction of the backbone per query on the full model, docs/benchmarks.md).
    func estimatedSeconds(tiles: Int, tileSide: Int, workers: Int, flopsPerCore: Double) -> Double {
        let v = model.config.visionConfig
        return Double(tiles * rotations.count) * (v.backboneFlops + v.neckFlops) / (flopsPerCore * Double(max(1, workers)))
    }

    func provenance(_ s: SegmentSettings) -> [String: String] {
        ["LANDSCRIBE_OBJECT_THRESHOLD": "\(objectThreshold)", "LANDSCRIBE_TEMPLATES": "none (SAM 3: bare prompts)",
         "LANDSCRIBE_INPUT_SIZE": "\(inputSize)"]
    }
}

enum Engines {
    /// The SAM 3 engine of the model folder `directory`, its text queries computed once. With
    /// `objects`, it hands its instances of the instance classes to it. (CLIP folders are
    /// prepared in `PreparedRun.prepare`: `dec`, exemplars and a batch's kept model are CLIP's.)
    static func sam3(directory: URL, settings: SegmentSettings, objects: ObjectMerger?) throws -> SAM3Segmenter {
        let tokenizer = try CLIPTokenizer(directory: directory)
        let model = try SAM3Model.load(directory: directory.path, precision: settings.precision)
        let text = try SAM3TextQueries.compute(model: model, tokenizer: tokenizer, vocabulary: settings.vocabulary, threads: settings.threads)
        let instances = Set(settings.classes.indices.filter { settings.classes[$0].instances })
        return SAM3Segmenter(model: model, text: text, rotations: settings.rotationsGiven ?? [0], objectThreshold: settings.objectThreshold,
                             threads: settings.threads, objects: objects, instanceClasses: instances)
    }
}
