public import GeoIO
public import Segmentation
public import Tiling

/// A class of the output map: its name and colour.
public struct OutputClass: Sendable, Equatable {
    public let name: String
    public let color: RGBA
    public init(name: String, color: RGBA) { self.name = name; self.color = color }
}

/// The outputs of docs/METHOD.md section 7, written strip by strip as the stitcher finishes
/// rows: the class map (UInt8, nodata 255, colour table, category names), optionally the
/// confidence (its own single-band file: the winning probability as 0..100, nodata 255; GDAL
/// tags a second band of a paletted GeoTIFF as Alpha, docs/segment.md) and the per-class
/// probabilities (Float32, one band per class, nodata -1). Each is finished as a COG under its
/// final name only when all are complete.
/// How the per-class probabilities are stored.
public enum ProbabilityEncoding: String, Sendable, CaseIterable, Codable {
    /// Float32 0..1, nodata -1.
    case float32
    /// Byte 0..250 (round(250 p)), nodata 255, with the band scale 1/250 and offset 0 that
    /// GDAL, QGIS and rasterio apply to read 0..1 back (within 1/500): a quarter of the raw size.
    case byte

    public static let byteScale: Float = 250
}

public final class SegmentOutputs: @unchecked Sendable {  // its state is only touched inside `use.run` (the writer task)
    public static let classNodata = ClassMap.nodata
    public static let probabilityNodata: Float = -1
    private let classMap: RasterWriter
    private let probabilities: RasterWriter?
    private let probabilityEncoding: ProbabilityEncoding
    private let confidence: RasterWriter?
    private let decide: (StitchedRows) -> ClassDecision.Result
    public let classes: [OutputClass]
    /// Pixels per output class so far.
    public private(set) var pixelCounts: [Int]
    /// Square metres per output class so far, on the ellipsoid (`PixelAreas`); nil for a scene
    /// without a CRS or geotransform.
    public private(set) var areas: [Double]?
    private let pixelAreas: PixelAreas?
    private let use = ExclusiveUse("the outputs of a segmentation run")

    /// - Parameters:
    ///   - decision: turns stitched per-query values into classes and probabilities.
    public convenience init(classMap path: String, probabilities probabilitiesPath: String?, confidence confidencePath: String? = nil, scene: RasterDataset,
                            classes: [OutputClass], decision: @escaping @Sendable (StitchedRows) -> ClassDecision.Result,
                            metadata: [String: String] = [:], overwrite: Bool) throws {
        try self.init(classMap: OutputFile(path: path, overwrite: overwrite, role: "class map"),
                      probabilities: probabilitiesPath.map { try OutputFile(path: $0, overwrite: overwrite, role: "probabilities") },
                      confidence: confidencePath.map { try OutputFile(path: $0, overwrite: overwrite, role: "confidence") },
                      scene: scene, classes: classes, decision: decision, metadata: metadata)
    }

    /// Where each output's rows are staged until `finish` (a run journal's files, to resume).
    public struct Staging: Sendable {
        public var classMap: RasterWriter.Staging = .temporary
        public var probabilities: RasterWriter.Staging = .temporary
        public var confidence: RasterWriter.Staging = .temporary
        public init() {}
        public init(classMap: RasterWriter.Staging, probabilities: RasterWriter.Staging, confidence: RasterWriter.Staging) {
            self.classMap = classMap; self.probabilities = probabilities; self.confidence = confidence
        }
    }

    /// What the rows already in reopened staging files hold: pixels and square metres per class.
    public struct Tally: Codable, Sendable, Equatable {
        public var pixelCounts: [Int]
        public var areas: [Double]?
        public init(pixelCounts: [Int], areas: [Double]?) { self.pixelCounts = pixelCounts; self.areas = areas }
    }

    /// Writes into the temporary files of `classMap`, `probabilities` and `confidence`
    /// (outputs of an `OutputSet`, or scratch files).
    /// - Parameters:
    ///   - creationOptions: GDAL COG creation options (`KEY=VALUE`) over the writer's own.
    ///   - staging: where the rows are staged; `resumed`: the tally of rows staged by an earlier
    ///     run in staging files that are reopened.
    public init(classMap: OutputFile, probabilities: OutputFile?, confidence confidenceFile: OutputFile? = nil, scene: RasterDataset,
                classes: [OutputClass], decision: @escaping @Sendable (StitchedRows) -> ClassDecision.Result,
                metadata: [String: String] = [:], creationOptions: [String] = [], probabilityEncoding: ProbabilityEncoding = .float32,
                staging: Staging = Staging(), resumed: Tally? = nil) throws {
        self.probabilityEncoding = probabilityEncoding
        guard !classes.isEmpty, classes.count < ClassMap.maxClasses else {
            throw GeoIOError("a class map holds 1 to \(ClassMap.maxClasses - 1) classes, got \(classes.count)")
        }
        self.classes = classes
        decide = decision
        pixelCounts = Array(repeating: 0, count: classes.count)
        if let gt = scene.geoTransform, let crs = scene.spatialReference {
            // A CRS that PROJ cannot carry to WGS 84 leaves the areas unknown rather than failing the map.
            pixelAreas = try? PixelAreas(width: scene.width, geoTransform: gt, crs: crs)
        } else {
            pixelAreas = nil
        }
        areas = pixelAreas.map { _ in Array(repeating: 0, count: classes.count) }
        if let resumed {
            guard resumed.pixelCounts.count == classes.count, (resumed.areas == nil) == (areas == nil), resumed.areas.map({ $0.count == classes.count }) ?? true else {
                throw GeoIOError("the tally of the rows written before does not fit these outputs")
            }
            pixelCounts = resumed.pixelCounts
            areas = resumed.areas
        }
        self.classMap = try RasterWriter(output: classMap, profile: RasterProfile(like: scene, bandCount: 1, dataType: .byte,
                                                                                 nodata: Double(Self.classNodata)),
                                         staging: staging.classMap)
        let classMap = self.classMap
        classMap.creationOptions = creationOptions
        var colors = classes.map(\.color)
        colors += Array(repeating: RGBA(0, 0, 0, 0), count: 256 - colors.count)
        try classMap.setColorTable(band: 1, colors)
        try classMap.setCategoryNames(band: 1, classes.map(\.name))
        try classMap.setDescription(band: 1, "class")
        if !metadata.isEmpty { try classMap.setMetadata(metadata) }
        if let confidenceFile {
            let writer = try RasterWriter(output: confidenceFile, profile: RasterProfile(like: scene, bandCount: 1, dataType: .byte,
                                                                                         nodata: Double(Self.classNodata)),
                                          staging: staging.confidence)
            writer.creationOptions = creationOptions
            try writer.setDescription(band: 1, "confidence (%)")
            if !metadata.isEmpty { try writer.setMetadata(metadata) }
            confidence = writer
        } else {
            confidence = nil
        }
        if let probabilitiesFile = probabilities {
            let byte = probabilityEncoding == .byte
            self.probabilities = try RasterWriter(output: probabilitiesFile, profile: RasterProfile(like: scene, bandCount: classes.count, dataType: byte ? .byte : .float32,
                                                                                                   nodata: byte ? Double(Self.classNodata) : Double(Self.probabilityNodata)),
                                                  staging: staging.probabilities)
            let probabilities = self.probabilities
            probabilities?.creationOptions = creationOptions
            if byte { for b in 1...classes.count { try probabilities?.setScaleOffset(band: b, scale: 1 / Double(ProbabilityEncoding.byteScale), offset: 0) } }
            for (i, c) in classes.enumerated() { try probabilities?.setDescription(band: i + 1, c.name) }
            if !metadata.isEmpty { try probabilities?.setMetadata(metadata) }
        } else {
            self.probabilities = nil
        }
    }

    /// Writes finished rows.
    public func write(_ rows: StitchedRows) throws {
        try write(decide(rows), rows: rows.row..<(rows.row + rows.rowCount), width: rows.width)
    }

    /// Writes rows already decided (a shard's rows, `ShardFiles`): `result` holds the classes of
    /// `rows`, with the confidence when this run writes it and every class's probability plane
    /// (class-major) when it writes probabilities.
    public func write(_ result: ClassDecision.Result, rows range: Range<Int>, width: Int) throws {
        try use.run {
            let rows = (row: range.lowerBound, rowCount: range.count, width: width)
            let window = PixelWindow.rows(range, width: width)
            let n = window.pixelCount
            try classMap.write(band: 1, window: window, bytes: result.classes)
            if let pixelAreas, var sums = areas {
                for r in 0..<rows.rowCount {
                    let perPixel = try pixelAreas.pixelArea(row: rows.row + r)
                    for x in 0..<rows.width {
                        let c = result.classes[r * rows.width + x]
                        guard c != Self.classNodata else { continue }
                        pixelCounts[Int(c)] += 1
                        sums[Int(c)] += perPixel[x / pixelAreas.blockWidth]
                    }
                }
                areas = sums
            } else {
                for c in result.classes where c != Self.classNodata { pixelCounts[Int(c)] += 1 }
            }
            if let confidence {
                let pct = (0..<n).map { i in result.classes[i] == Self.classNodata ? Self.classNodata : UInt8((result.confidence[i] * 100).rounded()) }
                try confidence.write(band: 1, window: window, bytes: pct)
            }
            if let probabilities {
                for b in 0..<classes.count {
                    let plane = Self.probabilityPlane(result, class: b, pixels: n)
                    if probabilityEncoding == .byte {
                        let bytes = plane.map { $0 < 0 ? Self.classNodata : UInt8(min(ProbabilityEncoding.byteScale, max(0, ($0 * ProbabilityEncoding.byteScale).rounded()))) }
                        try probabilities.write(band: b + 1, window: window, bytes: bytes)
                    } else {
                        try probabilities.write(band: b + 1, window: window, values: plane)
                    }
                }
            }
        }
    }

    /// The probabilities of output class `b` as the Float32 output holds them: -1 where the
    /// class map is nodata, 0 for a class without a query (a background class).
    public static func probabilityPlane(_ result: ClassDecision.Result, class b: Int, pixels n: Int) -> [Float] {
        let planes = result.probabilities.count / n
        return (0..<n).map { i in
            result.classes[i] == classNodata ? probabilityNodata : (b < planes ? result.probabilities[b * n + i] : 0)
        }
    }

    /// Writes the rows written so far through to the staging files (and the disk) and returns
    /// what they hold: what a run journal records.
    public func flush() throws -> Tally {
        try use.run {
            try classMap.flush()
            try confidence?.flush()
            try probabilities?.flush()
            return Tally(pixelCounts: pixelCounts, areas: areas)
        }
    }

    /// Finishes every output as a COG, renamed into place; with `commit` false they stay at
    /// their temporary names (`classMapPath`, `probabilitiesPath`) for an `OutputSet`.
    /// - Parameter step: told as each output's COG copy starts ("probabilities: COG copy and overviews").
    public func finish(commit: Bool = true, step: (String) -> Void = { _ in }) throws {
        try use.run {
            if let probabilities {
                step("probabilities: COG copy and overviews")
                try probabilities.finish(overviewResampling: .average, commit: commit)
            }
            if let confidence {
                step("confidence: COG copy and overviews")
                try confidence.finish(overviewResampling: .average, commit: commit)
            }
            step("class map: COG copy and overviews")
            try classMap.finish(overviewResampling: .nearest, commit: commit)
        }
    }

    /// Where the finished class map is before it is committed.
    public var classMapPath: String { classMap.output.temporaryURL.path }
    /// Where the finished probabilities are before they are committed.
    public var probabilitiesPath: String? { probabilities?.output.temporaryURL.path }

    public func discard() {
        use.run {
            classMap.discard()
            probabilities?.discard()
            confidence?.discard()
        }
    }
}

extension SegmentOutputs {
    /// Argmax of stitched values, nodata where the weight is 0: for segmenters whose outputs
    /// are already one score per class (tests, and classifiers that are not CLIP).
    public static func argmax(_ rows: StitchedRows) -> ClassDecision.Result {
        let n = rows.rowCount * rows.width
        var classes = [UInt8](repeating: classNodata, count: n)
        var confidence = [Float](repeating: 0, count: n)
        for i in 0..<n where rows.weights[i] > 0 {
            var best = 0
            for k in 1..<rows.classCount where rows.values[k * n + i] > rows.values[best * n + i] { best = k }
            classes[i] = UInt8(best)
            confidence[i] = rows.values[best * n + i]
        }
        return ClassDecision.Result(probabilities: rows.values, classes: classes, confidence: confidence)
    }
}
