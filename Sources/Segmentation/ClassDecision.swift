import Foundation
public import Tiling

/// docs/METHOD.md section 6, per pixel: p = softmax(logit_scale * logits) over the queries, a
/// class's probability is the maximum over its queries (synonyms), the predicted class is the
/// argmax over classes, or the background class when that probability is under the threshold.
public struct ClassDecision: Sendable {
    public let queryClass: [Int]
    /// Classes that have queries (the first `classCount` output classes).
    public let classCount: Int
    public let logitScale: Float
    public let threshold: Float
    /// Output index given to pixels under the threshold.
    public let backgroundIndex: Int?
    /// The values are already scores (the SAM 3 engine, METHOD.md section 9 step 6): no
    /// softmax, a class's probability is the maximum of its queries' values.
    public let valuesAreScores: Bool

    public init(queryClass: [Int], logitScale: Float, threshold: Float, backgroundIndex: Int?) {
        self.init(queryClass: queryClass, logitScale: logitScale, threshold: threshold, backgroundIndex: backgroundIndex, valuesAreScores: false)
    }

    /// The decision over per-query scores (0..1) that need no softmax.
    public static func scores(queryClass: [Int], threshold: Float, backgroundIndex: Int?) -> ClassDecision {
        ClassDecision(queryClass: queryClass, logitScale: 1, threshold: threshold, backgroundIndex: backgroundIndex, valuesAreScores: true)
    }

    init(queryClass: [Int], logitScale: Float, threshold: Float, backgroundIndex: Int?, valuesAreScores: Bool) {
        self.valuesAreScores = valuesAreScores
        self.queryClass = queryClass
        classCount = (queryClass.max() ?? -1) + 1
        self.logitScale = logitScale
        self.threshold = threshold
        self.backgroundIndex = backgroundIndex
    }

    public struct Result: Sendable {
        /// Class-major: probabilities[c * n + i]; 0 where nodata.
        public var probabilities: [Float]
        /// Output class per pixel; `nodata` where the weight is 0.
        public var classes: [UInt8]
        /// The winning class's probability; 0 where nodata.
        public var confidence: [Float]

        public init(probabilities: [Float], classes: [UInt8], confidence: [Float]) {
            self.probabilities = probabilities; self.classes = classes; self.confidence = confidence
        }
    }

    public static let nodata = ClassMap.nodata

    /// - Parameters:
    ///   - logits: query-major, logits[k * n + i] for the K queries.
    ///   - weights: per pixel; 0 marks nodata.
    public func apply(logits: [Float], weights: [Float]) -> Result {
        let k = queryClass.count, n = weights.count
        precondition(logits.count == k * n)
        var probabilities = [Float](repeating: 0, count: classCount * n)
        var classes = [UInt8](repeating: Self.nodata, count: n)
        var confidence = [Float](repeating: 0, count: n)
        var p = [Float](repeating: 0, count: k)
        for i in 0..<n where weights[i] > 0 {
            var sum: Float = 1
            if valuesAreScores {
                for q in 0..<k { p[q] = logits[q * n + i] }
            } else {
                var m = -Float.infinity
                for q in 0..<k { m = max(m, logitScale * logits[q * n + i]) }
                sum = 0
                for q in 0..<k { p[q] = exp(logitScale * logits[q * n + i] - m); sum += p[q] }
            }
            var best = 0
            var bestP: Float = -1
            for q in 0..<k {
                let c = queryClass[q], v = p[q] / sum
                if v > probabilities[c * n + i] { probabilities[c * n + i] = v }
            }
            for c in 0..<classCount where probabilities[c * n + i] > bestP { best = c; bestP = probabilities[c * n + i] }
            confidence[i] = bestP
            if bestP < threshold, let b = backgroundIndex { classes[i] = UInt8(b) } else { classes[i] = UInt8(best) }
        }
        return Result(probabilities: probabilities, classes: classes, confidence: confidence)
    }

    /// The decision for stitched rows of per-query logits.
    public func apply(_ rows: StitchedRows) -> Result { apply(logits: rows.values, weights: rows.weights) }
}
