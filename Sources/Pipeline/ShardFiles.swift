import Foundation
import GeoIO
import Segmentation
import Tiling

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
    private let roles: [String]

    /// What a shard of `plan` stages, in file order: rasters, then SAM 3's objects for `detect`.
    static func roles(_ plan: ShardPlan) -> [String] {
        ["classes"] + (plan.outputs.confidence ? ["confidence"] : []) + (plan.outputs.probabilities ? ["probabilities"] : [])
            + (plan.outputs.objects ? ["objects"] : [])
    }

    static func name(index: Int, role: String) -> String { ShardPlan.stem(index: index) + "." + role + (role == "objects" ? ".json" : ".tif") }

    init(directory: String, plan: ShardPlan, shard: ShardPlan.Shard, scene: RasterDataset) throws {
        self.shard = shard
        let classCount = plan.settings.classes.count
        self.classCount = classCount
        width = scene.width
        let roles = Self.roles(plan)
        self.roles = roles
        let outputs = try OutputSet(roles.map { role in
            OutputSet.Request(path: (directory as NSString).appendingPathComponent(Self.name(index: shard.index, role: role)),
                              role: "shard \(shard.index) \(role)", sideSuffixes: role == "objects" ? [] : [".aux.xml"], extensions: ["tif", "json"])
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

    /// Writes SAM 3's objects of the shard's own tile rows (not those of its halo, which the
    /// shard above owns), in the order found.
    func writeObjects(_ objects: [TileObject]) throws {
        guard let index = roles.firstIndex(of: "objects") else { return }
        let file = outputs.files[index]
        let own = objects.filter { $0.tile.gridRow >= shard.firstGridRow + shard.haloGridRows }
        do {
            try RunJournal.encode(ShardObjects(own)).write(to: file.temporaryURL)
        } catch {
            throw GeoIOError("cannot write '\(file.url.path)': \((error as NSError).localizedDescription)")
        }
    }

    /// SAM 3's objects of a finished shard (`writeObjects`).
    static func readObjects(_ manifest: ShardManifest, directory: String) throws -> [TileObject] {
        guard let file = manifest.files["objects"] else { return [] }
        let path = (directory as NSString).appendingPathComponent(file.name)
        guard let data = FileManager.default.contents(atPath: path), let stored = try? JSONDecoder().decode(ShardObjects.self, from: data),
              let objects = stored.tileObjects else {
            throw ScaleOutError.foreignShard(path: path, reason: "cannot be read as a shard's objects: run shard \(manifest.index) again")
        }
        return objects
    }

    /// Closes the files, renames them into place and returns the manifest that lists them.
    func commit(planSHA256: String, execution: ShardPlan.Execution, stats: RunStatistics) throws -> ShardManifest {
        try classes.keep()
        try confidence?.keep()
        try probabilities?.keep()
        try outputs.commit()
        var files: [String: ShardManifest.File] = [:]
        for (role, file) in zip(roles, outputs.files) {
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

/// SAM 3's objects of a shard's own tile rows (`shard-NNNN.objects.json`), in the order the
/// engine found them, for the merge to replay into one `ObjectMerger` as one run adds them.
/// Masks are base64 of their bits packed eight a byte, most significant first, row-major.
struct ShardObjects: Codable {
    struct Object: Codable {
        var classIndex: Int
        var score: Float
        var tile: Tile
        var col: Int, row: Int, width: Int, height: Int
        var mask: String
    }

    var objects: [Object]

    init(_ objects: [TileObject]) {
        self.objects = objects.map { o in
            var bytes = [UInt8](repeating: 0, count: (o.mask.count + 7) / 8)
            for (i, inside) in o.mask.enumerated() where inside { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
            return Object(classIndex: o.classIndex, score: o.score, tile: o.tile, col: o.col, row: o.row, width: o.width, height: o.height,
                          mask: Data(bytes).base64EncodedString())
        }
    }

    /// The objects, or nil when a mask is not its box's packed bits (a damaged file).
    var tileObjects: [TileObject]? {
        var out: [TileObject] = []
        for o in objects {
            guard o.width > 0, o.height > 0, let bytes = Data(base64Encoded: o.mask), bytes.count == (o.width * o.height + 7) / 8 else { return nil }
            let packed = [UInt8](bytes)
            let mask = (0..<(o.width * o.height)).map { i in packed[i / 8] & (0x80 >> UInt8(i % 8)) != 0 }
            out.append(TileObject(classIndex: o.classIndex, score: o.score, tile: o.tile, col: o.col, row: o.row, width: o.width, height: o.height, mask: mask))
        }
        return out
    }
}
