import Foundation
import GeoIO

/// Pixel counts of truth class (rows) against predicted class (columns) over named classes.
/// The last column counts truth pixels the prediction left without a class (nodata, or a value
/// without a category name).
public struct ConfusionMatrix: Sendable, Equatable {
    public let names: [String]
    /// `counts[t][p]`: pixels of truth class t predicted as p; `counts[t][names.count]`: no prediction.
    public var counts: [[Int]]

    public init(names: [String]) {
        self.names = names
        counts = Array(repeating: Array(repeating: 0, count: names.count + 1), count: names.count)
    }

    public init(names: [String], counts: [[Int]]) {
        precondition(counts.count == names.count && counts.allSatisfy { $0.count == names.count + 1 })
        self.names = names
        self.counts = counts
    }
}

/// The scores of docs/METHOD.md section 8.
public struct PixelMetrics: Sendable, Equatable {
    public struct ClassScore: Sendable, Equatable {
        public var name: String
        public var iou: Double
        public var truthPixels: Int
        public var predictedPixels: Int
    }
    /// Classes present in truth or prediction, in class order.
    public var perClass: [ClassScore]
    /// nil when no pixel was evaluated (truth all nodata or ignored): no score, rather than 0.
    public var miou: Double?
    public var pixelAccuracy: Double?
    /// With an unseen split: means over the present seen / unseen classes (nil when a side has
    /// no present class) and their harmonic mean (nil unless both exist).
    public var smiou: Double?
    public var umiou: Double?
    public var hmiou: Double?
    /// Non-ignored truth pixels, and those among them without a prediction.
    public var evaluatedPixels: Int
    public var unpredictedPixels: Int
    public var confusion: ConfusionMatrix

    /// IoU_c = TP / (TP + FP + FN) per class present in truth or prediction; mIoU their mean;
    /// pixel accuracy = correct / evaluated; `unseen` names split the classes for s/u/h-mIoU.
    public init(confusion: ConfusionMatrix, unseen: Set<String> = []) {
        self.confusion = confusion
        let k = confusion.names.count
        let c = confusion.counts
        var scores: [ClassScore] = []
        var correct = 0, total = 0, unpredicted = 0
        for i in 0..<k {
            let tp = c[i][i]
            let truth = c[i].reduce(0, +)
            let predicted = (0..<k).reduce(0) { $0 + c[$1][i] }
            correct += tp
            total += truth
            unpredicted += c[i][k]
            guard truth > 0 || predicted > 0 else { continue }
            scores.append(ClassScore(name: confusion.names[i], iou: Double(tp) / Double(truth + predicted - tp),
                                     truthPixels: truth, predictedPixels: predicted))
        }
        perClass = scores
        func mean(_ s: [ClassScore]) -> Double? { s.isEmpty ? nil : s.map(\.iou).reduce(0, +) / Double(s.count) }
        miou = total == 0 ? nil : mean(scores)
        pixelAccuracy = total == 0 ? nil : Double(correct) / Double(total)
        evaluatedPixels = total
        unpredictedPixels = unpredicted
        if unseen.isEmpty {
            smiou = nil; umiou = nil; hmiou = nil
        } else {
            let s = mean(scores.filter { !unseen.contains($0.name) }), u = mean(scores.filter { unseen.contains($0.name) })
            smiou = s; umiou = u
            if let s, let u { hmiou = s + u == 0 ? 0 : 2 * s * u / (s + u) } else { hmiou = nil }
        }
    }
}

/// Compares a predicted class map with a truth raster, streaming both in strips of rows.
public struct PixelEvaluator: Sendable {
    /// Truth value -> class name; nil takes truth values as indexes into the prediction's classes.
    public var truthClasses: [Int: String]?
    /// Truth values that are not evaluated (besides the truth band's nodata value).
    public var ignore: Set<Int>
    /// Class names held out as unseen, for s-mIoU, u-mIoU and h-mIoU.
    public var unseen: [String]
    public var stripRows: Int
    /// A vector file whose polygons' pixels are not evaluated (the exemplars of `segment
    /// --exemplars`, say): pixels whose centre is inside one (GDAL's rasterizer), in any CRS.
    public var exclude: String?

    public init(truthClasses: [Int: String]? = nil, ignore: Set<Int> = [], unseen: [String] = [], stripRows: Int = 256, exclude: String? = nil) {
        self.truthClasses = truthClasses; self.ignore = ignore; self.unseen = unseen; self.stripRows = stripRows; self.exclude = exclude
    }

    /// The polygons of `exclude` as one geometry in the truth's pixel coordinates.
    static func excluded(_ path: String, on t: RasterDataset) throws -> Geometry? {
        let (features, crs) = try VectorReader.read(path: path)
        guard !features.isEmpty else { return nil }
        let all = Geometry.collect(features.map(\.geometry))
        if let target = t.spatialReference, let gt = t.geoTransform, let inverse = gt.inverted() {
            if let crs, !crs.isSame(as: target) { try all.transform(try CoordinateTransform(from: crs, to: target)) }
            all.apply(inverse)
        } else if t.geoTransform != nil || crs != nil {
            throw GeoIOError("'\(t.path)' has no CRS or georeferencing: the polygons of '\(path)' cannot be placed on it")
        }
        return all
    }

    /// - Throws: `GeoIOError` naming the files for rasters on different grids or CRSs, and the
    ///   option for a truth value without a class or an unseen name that is no class.
    public func evaluate(prediction: String, truth: String) throws -> PixelMetrics {
        let p = try RasterDataset(path: prediction), t = try RasterDataset(path: truth)
        try Self.checkSameGrid(p, t)
        var names = p.categoryNames(band: 1)
        while names.last == "" { names.removeLast() }
        guard !names.isEmpty else {
            throw GeoIOError("'\(prediction)' has no class names (category names): evaluate a class map written by landscribe segment")
        }
        let predictedNames = names.count
        let truthName: [Int: String] = truthClasses ?? Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.offset, $0.element) })
        for name in truthName.values.sorted() where !names.contains(name) { names.append(name) }
        for name in unseen where !names.contains(name) {
            throw EvaluationError.unknownUnseenClass(name: name, prediction: prediction, classes: names)
        }
        let index = Dictionary(names.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let predictionNodata = p.bands[0].nodata.flatMap { $0.isFinite && abs($0) < 1e9 ? Int($0) : nil }
        var matrix = ConfusionMatrix(names: names)
        let noPrediction = names.count
        let truthNodata = t.bands[0].nodata
        let excluded = try exclude.flatMap { try Self.excluded($0, on: t) }
        for window in PixelWindow.strips(ofHeight: max(1, stripRows), width: p.width, height: p.height) {
            let pv = try p.read(window: window, bands: [1]), tv = try t.read(window: window, bands: [1])
            let skip = try excluded?.rasterized(window: window)
            for i in 0..<window.pixelCount {
                if let skip, skip[i] != 0 { continue }
                let tf = tv[i]
                if tf.isNaN || Double(tf) == truthNodata { continue }
                guard abs(tf) < 1e9 else { throw GeoIOError("truth value \(tf) in '\(truth)' is not a class value") }
                let tValue = Int(tf)
                if ignore.contains(tValue) { continue }
                guard let tName = truthName[tValue], let ti = index[tName] else {
                    throw EvaluationError.unmappedTruthValue(value: tValue, truth: truth, predictionClasses: truthClasses == nil ? predictedNames : nil)
                }
                let pf = pv[i]
                var pi = noPrediction
                if pf >= 0, pf < Float(predictedNames), Int(pf) != predictionNodata { pi = Int(pf) }
                matrix.counts[ti][pi] += 1
            }
        }
        return PixelMetrics(confusion: matrix, unseen: Set(unseen))
    }

    /// Same size, geotransform (to 1e-9 of each coefficient's magnitude) and CRS, else an
    /// error naming both files.
    static func checkSameGrid(_ a: RasterDataset, _ b: RasterDataset) throws {
        let pair = "'\(a.path)' and '\(b.path)'"
        guard a.width == b.width, a.height == b.height else {
            throw GeoIOError("\(pair) are not on the same grid: \(a.width)x\(a.height) and \(b.width)x\(b.height) pixels")
        }
        let ga = a.geoTransform?.coefficients ?? GeoTransform.identity.coefficients
        let gb = b.geoTransform?.coefficients ?? GeoTransform.identity.coefficients
        for (x, y) in zip(ga, gb) where abs(x - y) > 1e-9 * max(1, abs(x), abs(y)) {
            throw GeoIOError("\(pair) are not on the same grid: geotransforms (\(GeoTransform(ga))) and (\(GeoTransform(gb))) differ")
        }
        switch (a.spatialReference, b.spatialReference) {
        case (nil, nil): break
        case let (x?, y?) where x.isSame(as: y): break
        default:
            throw GeoIOError("\(pair) are not on the same grid: their CRSs differ (\(a.spatialReference?.name ?? "none") and \(b.spatialReference?.name ?? "none"))")
        }
    }
}

/// Why an evaluation cannot be made as asked; a command line words these with its options.
public enum EvaluationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A class named as unseen is neither a prediction class nor a mapped truth class.
    case unknownUnseenClass(name: String, prediction: String, classes: [String])
    /// A truth value maps to no class: truth values are prediction indexes
    /// (`predictionClasses` of them), or an explicit mapping (nil) leaves this value out.
    case unmappedTruthValue(value: Int, truth: String, predictionClasses: Int?)

    public var description: String {
        switch self {
        case let .unknownUnseenClass(name, prediction, classes):
            return "unseen class '\(name)' is not a class of '\(prediction)' or of the truth mapping (classes: \(classes.joined(separator: ", ")))"
        case let .unmappedTruthValue(value, truth, n):
            let how = n.map { "the prediction has \($0) classes (values 0-\($0 - 1)); map truth values to class names" } ?? "the truth mapping leaves it out"
            return "truth value \(value) in '\(truth)' has no class: \(how), or ignore it"
        }
    }
}
