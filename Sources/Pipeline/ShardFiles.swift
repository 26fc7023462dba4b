import Foundation
import GeoIO
import Segmentation

/// A shard's rows on disk, in the shard folder: `shard-NNNN.classes.tif` (Byte: the class of
/// every owned pixel, 255 nodata), and when the plan stages them `shard-NNNN.confidence.tif`
/// (Float32: the winning probability) and `shard-NNNN.probabilities.tif` (Float32, one band per
/// output class, -1 nodata). They hold exactly what a single run hands its writers (the
/// `ClassDecision.Result` of every row), so the merge writes the same bytes; partial sums are
/// never merged. Plain tiled DEFLATE GeoTIFFs on the grid of the owned rows (they open in
/// QGIS), written under temporary names and renamed together when complete.
final class ShardFiles: @unchecked Sendable {  // written only by the run's writer task
    private let outputs: OutputSet
    private let classes: RasterWriter
    private let confidence: RasterWriter?
    private let probabilities: RasterWriter?
    private let shard: ShardPlan.Shard
    private let classCount: Int
    private let width: Int

    /// What a shard of `plan` stages, in file order.
    static func roles(_ plan: ShardPlan) -> [String] {
        ["classes"] + (plan.outputs.confidence ? ["confidence"] : []) + (plan.outputs.probabilities ? ["probabilities"] : [])
    }

    static func name(index: Int, role: String) -> String { ShardPlan.stem(index: index) + "." + role + ".tif" }

    init(directory: String, plan: ShardPlan, shard: ShardPlan.Shard, scene: RasterDataset) throws {
        self.shard = shard
        let classCount = plan.settings.classes.count
        self.classCount = classCount
        width = scene.width
        let roles = Self.roles(plan)
        let outputs = try OutputSet(roles.map { role in
            OutputSet.Request(path: (directory as NSString).appendingPathComponent(Self.name(index: shard.index, role: role)),
                              role: "shard \(shard.index) \(role)", sideSuffixes: [".aux.xml"], extensions: ["tif"])
        }, inputs: [OutputSet.Input(path: plan.scene.path, role: "the scene")], overwrite: true)
        self.outputs = outputs
        func writer(_ role: String, bands: Int, type: RasterDataType, nodata: Double) throws -> RasterWriter {
            var profile = RasterProfile(like: scene, bandCount: bands, dataType: type, nodata: nodata)
            profile.height = shard.endRow - shard.firstRow
            profile.geoTransform = scene.geoTransform.map { gt in
                var shifted = gt
                shifted.originX += gt.rowRotation * Double(shard.firstRow)
                shifted.originY += gt.pixelHeight * Double(shard.firstRow)
                return shifted
            }
            let file = outputs.files[roles.firstIndex(of: role)!]
            return try RasterWriter(output: file, profile: profile, staging: .file(path: file.temporaryURL.path))
        }
        classes = try writer("classes", bands: 1, type: .byte, nodata: Double(SegmentOutputs.classNodata))
        confidence = plan.outputs.confidence ? try writer("confidence", bands: 1, type: .float32, nodata: Double(SegmentOutputs.probabilityNodata)) : nil
        probabilities = plan.outputs.probabilities ? try writer("probabilities", bands: classCount, type: .float32, nodata: Double(SegmentOutputs.probabilityNodata)) : nil
    }

    /// Writes the decided scene rows `rows` (inside the shard's own).
    func write(_ result: ClassDecision.Result, rows: Range<Int>) throws {
        precondition(rows.lowerBound >= shard.firstRow && rows.upperBound <= shard.endRow, "a shard writes only its own rows")
        let window = PixelWindow.rows((rows.lowerBound - shard.firstRow)..<(rows.upperBound - shard.firstRow), width: width)
        try classes.write(band: 1, window: window, bytes: result.classes)
        try confidence?.write(band: 1, window: window, values: result.confidence)
        if let probabilities {
            for b in 0..<classCount {
                try probabilities.write(band: b + 1, window: window, values: SegmentOutputs.probabilityPlane(result, class: b, pixels: window.pixelCount))
            }
        }
    }

    /// Closes the files, renames them into place and returns the manifest that lists them.
    func commit(planSHA256: String, execution: ShardPlan.Execution, stats: RunStatistics) throws -> ShardManifest {
        try classes.keep()
        try confidence?.keep()
        try probabilities?.keep()
        try outputs.commit()
        var files: [String: ShardManifest.File] = [:]
        for (role, file) in zip(["classes"] + (confidence == nil ? [] : ["confidence"]) + (probabilities == nil ? [] : ["probabilities"]), outputs.files) {
            let size = ((try? FileManager.default.attributesOfItem(atPath: file.url.path))?[.size] as? NSNumber)?.int64Value ?? -1
            files[role] = ShardManifest.File(name: file.url.lastPathComponent, bytes: size)
        }
        return ShardManifest(format: ShardManifest.currentFormat, planSHA256: planSHA256, index: shard.index, firstRow: shard.firstRow,
                             endRow: shard.endRow, execution: execution, files: files, tiles: stats.tiles, encodedTiles: stats.encodedTiles)
    }

    func discard() {
        classes.discard()
        confidence?.discard()
        probabilities?.discard()
        outputs.discard()
    }

    /// Rows read from a shard's files at a time by the merge.
    static let stripRows = 256

    /// Hands every row of a finished shard to `body`, strip by strip in order, as the
    /// `ClassDecision.Result` it was written from (the confidence and probabilities when staged)
    /// with the scene rows it covers.
    static func read(_ manifest: ShardManifest, plan: ShardPlan, directory: String,
                     _ body: (ClassDecision.Result, Range<Int>) throws -> Void) throws {
        func open(_ role: String) throws -> RasterDataset? {
            guard let file = manifest.files[role] else { return nil }
            let dataset = try RasterDataset(path: (directory as NSString).appendingPathComponent(file.name))
            guard dataset.width == plan.grid.width, dataset.height == manifest.endRow - manifest.firstRow else {
                throw ScaleOutError.foreignShard(path: dataset.path, reason: "is \(dataset.width) x \(dataset.height), not the shard's \(plan.grid.width) x \(manifest.endRow - manifest.firstRow) rows: run shard \(manifest.index) again")
            }
            return dataset
        }
        guard let classes = try open("classes") else { return }
        let confidence = try open("confidence"), probabilities = try open("probabilities")
        let classCount = plan.settings.classes.count
        var row = 0
        while row < classes.height {
            let window = PixelWindow.rows(row..<min(classes.height, row + stripRows), width: classes.width)
            let result = ClassDecision.Result(
                probabilities: try probabilities?.read(window: window, bands: Array(1...classCount)) ?? [],
                classes: try classes.read(window: window, bands: [1]).map { UInt8($0) },
                confidence: try confidence?.read(window: window, bands: [1]) ?? [])
            try body(result, (manifest.firstRow + window.row)..<(manifest.firstRow + window.row + window.height))
            row += window.height
        }
    }
}
