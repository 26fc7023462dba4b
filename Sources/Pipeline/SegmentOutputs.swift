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
/// rows: the class map (UInt8, nodata 255, colour table, category names; with `confidence` a
/// second band, the winning probability as 0..100) and optionally the per-class probabilities
/// (Float32, one band per class, nodata -1). Each is finished as a COG under its final name only
/// when all are complete.
public final class SegmentOutputs: @unchecked Sendable {  // its state is only touched inside `use.run` (the writer task)
    public static let classNodata = ClassMap.nodata
    public static let probabilityNodata: Float = -1
    private let classMap: RasterWriter
    private let probabilities: RasterWriter?
    private let confidence: Bool
    private let decide: (StitchedRows) -> ClassDecision.Result
    public let classes: [OutputClass]
    /// Pixels per output class so far.
    public private(set) var pixelCounts: [Int]
    private let use = ExclusiveUse("the outputs of a segmentation run")

    /// - Parameters:
    ///   - decision: turns stitched per-query values into classes and probabilities.
    public convenience init(classMap path: String, probabilities probabilitiesPath: String?, confidence: Bool, scene: RasterDataset,
                            classes: [OutputClass], decision: @escaping @Sendable (StitchedRows) -> ClassDecision.Result,
                            metadata: [String: String] = [:], overwrite: Bool) throws {
        try self.init(classMap: OutputFile(path: path, overwrite: overwrite, role: "class map"),
                      probabilities: probabilitiesPath.map { try OutputFile(path: $0, overwrite: overwrite, role: "probabilities") },
                      confidence: confidence, scene: scene, classes: classes, decision: decision, metadata: metadata)
    }

    /// Writes into the temporary files of `classMap` and `probabilities` (outputs of an
    /// `OutputSet`, or scratch files).
    /// - Parameters:
    ///   - staging: where the rows are staged until `finish` (a run journal's files, to resume).
    ///   - resumedPixelCounts: pixels per class of rows written by an earlier run into the
    ///     staging files being reopened.
    public init(classMap: OutputFile, probabilities: OutputFile?, confidence: Bool, scene: RasterDataset,
                classes: [OutputClass], decision: @escaping @Sendable (StitchedRows) -> ClassDecision.Result,
                metadata: [String: String] = [:],
                staging: (classMap: RasterWriter.Staging, probabilities: RasterWriter.Staging) = (.temporary, .temporary),
                resumedPixelCounts: [Int]? = nil) throws {
        guard !classes.isEmpty, classes.count < ClassMap.maxClasses else {
            throw GeoIOError("a class map holds 1 to \(ClassMap.maxClasses - 1) classes, got \(classes.count)")
        }
        self.classes = classes
        self.confidence = confidence
        decide = decision
        pixelCounts = resumedPixelCounts ?? Array(repeating: 0, count: classes.count)
        precondition(pixelCounts.count == classes.count)
        self.classMap = try RasterWriter(output: classMap, profile: RasterProfile(like: scene, bandCount: confidence ? 2 : 1, dataType: .byte,
                                                                                 nodata: Double(Self.classNodata)),
                                         staging: staging.classMap)
        let classMap = self.classMap
        var colors = classes.map(\.color)
        colors += Array(repeating: RGBA(0, 0, 0, 0), count: 256 - colors.count)
        try classMap.setColorTable(band: 1, colors)
        try classMap.setCategoryNames(band: 1, classes.map(\.name))
        try classMap.setDescription(band: 1, "class")
        if confidence { try classMap.setDescription(band: 2, "confidence (%)") }
        if !metadata.isEmpty { try classMap.setMetadata(metadata) }
        if let probabilitiesFile = probabilities {
            self.probabilities = try RasterWriter(output: probabilitiesFile, profile: RasterProfile(like: scene, bandCount: classes.count, dataType: .float32,
                                                                                                   nodata: Double(Self.probabilityNodata)),
                                                  staging: staging.probabilities)
            let probabilities = self.probabilities
            for (i, c) in classes.enumerated() { try probabilities?.setDescription(band: i + 1, c.name) }
            if !metadata.isEmpty { try probabilities?.setMetadata(metadata) }
        } else {
            self.probabilities = nil
        }
    }

    /// Writes finished rows.
    public func write(_ rows: StitchedRows) throws {
        try use.run {
            let result = decide(rows)
            let window = PixelWindow.rows(rows.row..<(rows.row + rows.rowCount), width: rows.width)
            let n = window.pixelCount
            try classMap.write(band: 1, window: window, bytes: result.classes)
            for c in result.classes where c != Self.classNodata { pixelCounts[Int(c)] += 1 }
            if confidence {
                let pct = (0..<n).map { i in result.classes[i] == Self.classNodata ? Self.classNodata : UInt8((result.confidence[i] * 100).rounded()) }
                try classMap.write(band: 2, window: window, bytes: pct)
            }
            if let probabilities {
                let planes = result.probabilities.count / n
                for b in 0..<classes.count {
                    let plane: [Float] = (0..<n).map { i in
                        result.classes[i] == Self.classNodata ? Self.probabilityNodata : (b < planes ? result.probabilities[b * n + i] : 0)
                    }
                    try probabilities.write(band: b + 1, window: window, values: plane)
                }
            }
        }
    }

    /// Writes the rows written so far through to the staging files and returns the pixels per
    /// class in them: what a run journal records.
    public func flush() throws -> [Int] {
        try use.run {
            try classMap.flush()
            try probabilities?.flush()
            return pixelCounts
        }
    }

    /// Finishes every output as a COG, renamed into place; with `commit` false they stay at
    /// their temporary names (`classMapPath`, `probabilitiesPath`) for an `OutputSet`.
    public func finish(commit: Bool = true) throws {
        try use.run {
            try probabilities?.finish(overviewResampling: .average, commit: commit)
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
