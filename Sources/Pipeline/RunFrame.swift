import Foundation
import GeoIO
import Instances
import Segmentation
import Tiling

/// What a run's outputs are made from, the model aside: the settings, the scene (or its view),
/// its reader and tile grid, and the provenance the outputs carry. A single run takes it from
/// its `PreparedRun`; the merge of a sharded run (`ShardMerge`) builds it from the plan, with no
/// model loaded, so that both finish their outputs with the same code.
struct RunFrame {
    let settings: SegmentSettings
    let scene: RasterDataset
    let reader: TileReader
    let grid: TileGrid
    let provenance: [String: String]

    var outputClasses: [OutputClass] { settings.classes.map { OutputClass(name: $0.name, color: $0.color) } }

    /// Tells `progress` that a finishing step starts (all tiles done).
    func announce(_ step: String, _ progress: (@Sendable (RunProgress) -> Void)?) {
        progress?(RunProgress(tilesDone: grid.tileCount, tilesTotal: grid.tileCount, elapsedSeconds: 0, step: step))
    }

    /// Opens the writers of a class map (and probabilities, confidence) at the temporary names
    /// of these output files, with this run's classes, provenance and creation options.
    func classMapOutputs(classMap: OutputFile, probabilities: OutputFile?, confidence: OutputFile?, probabilityEncoding: ProbabilityEncoding,
                         decision: @escaping @Sendable (StitchedRows) -> ClassDecision.Result = SegmentOutputs.argmax,
                         staging: SegmentOutputs.Staging = SegmentOutputs.Staging(), resumed: SegmentOutputs.Tally? = nil) throws -> SegmentOutputs {
        try SegmentOutputs(classMap: classMap, probabilities: probabilities, confidence: confidence, scene: scene,
                           classes: outputClasses, decision: decision, metadata: provenance,
                           creationOptions: settings.creationOptions, probabilityEncoding: probabilityEncoding,
                           staging: staging, resumed: resumed)
    }

    /// After the class map is written: its style, STAC item and area table, the land-cover
    /// polygons and the preview, each into its temporary file of `outputs` (committed by the caller).
    func writeClassMapExtras(_ sidecars: ClassMapSidecars, outputs: OutputSet, written: SegmentOutputs, request: SegmentRequest,
                             progress: (@Sendable (RunProgress) -> Void)?) throws {
        announce("style and STAC item", progress)
        try writeSidecars(sidecars, outputs: outputs, written: written, request: request)
        try writeVectors(outputs: outputs, written: written, request: request, progress: progress)
        if let file = outputs.file(role: OutputRole.preview) {
            announce("preview", progress)
            try PreviewRenderer.render(scene: scene, reader: reader, classMap: written.classMapPath, classes: outputClasses,
                                       title: "landscribe: \(settings.name)", to: file, commit: false)
        }
    }

    /// `detect`'s objects as connected components of the finished class map (the CLIP engine).
    func extractComponents(_ written: SegmentOutputs, options: ExtractionOptions, instanceClasses: Set<Int>,
                           outputs files: [(OutputFile, VectorFormat)]) throws -> ExtractionSummary {
        try InstanceExtractor(options: options).extract(classMap: written.classMapPath, probabilities: written.probabilitiesPath,
                                                         classNames: settings.classes.map(\.name), instanceClasses: instanceClasses,
                                                         outputs: files, commit: false)
    }
}
