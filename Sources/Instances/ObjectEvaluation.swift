import Foundation
import GeoIO

/// Object-level precision, recall and F1 at an IoU threshold, per class and over all classes.
public struct ObjectMetrics: Sendable, Equatable {
    public struct ClassScore: Sendable, Equatable {
        public var name: String
        public var truePositives: Int, falsePositives: Int, falseNegatives: Int
        /// tp / (tp + fp), 0 when nothing was predicted.
        public var precision: Double { ratio(truePositives, truePositives + falsePositives) }
        /// tp / (tp + fn), 0 when there is no truth object.
        public var recall: Double { ratio(truePositives, truePositives + falseNegatives) }
        /// 2 p r / (p + r), 0 when both are 0.
        public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    }
    public var iouThreshold: Double
    /// Classes with a truth or predicted object, sorted by name.
    public var perClass: [ClassScore]
    /// Counts summed over the classes (micro average).
    public var overall: ClassScore
}

private func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

/// Matches predicted polygons to truth polygons of the same class: predictions in order of
/// decreasing score (file order on ties, missing scores last), each to the still unmatched truth
/// object with the highest IoU, when that IoU is at least the threshold (greedy, as COCO does).
/// IoU = area(P ∩ T) / (area(P) + area(T) - area(P ∩ T)), with GEOS's intersection, computed
/// in a Lambert azimuthal equal-area projection centred on the truth data (areas true to well
/// under 0.1% across a scene); files without a CRS are compared in their own units.
public struct ObjectEvaluator: Sendable {
    public var iouThreshold: Double
    /// The class field of the predicted objects ("class", as detect writes it).
    public var classField: String
    /// The class field of the truth objects.
    public var truthClassField: String
    /// The score field of the predicted objects.
    public var scoreField: String

    public init(iouThreshold: Double = 0.5, classField: String = "class", truthClassField: String = "class", scoreField: String = "score") {
        self.iouThreshold = iouThreshold; self.classField = classField
        self.truthClassField = truthClassField; self.scoreField = scoreField
    }

    public func evaluate(prediction: String, truth: String) throws -> ObjectMetrics {
        let p = try VectorReader.read(path: prediction), t = try VectorReader.read(path: truth)
        guard (p.crs == nil) == (t.crs == nil) else {
            throw GeoIOError("'\(prediction)' and '\(truth)' cannot be compared: one has a CRS and the other has none")
        }
        // A local equal-area projection centred on the truth (or prediction) objects.
        var project: (CoordinateTransform, CoordinateTransform)?
        if let pc = p.crs, let tc = t.crs {
            let wgs84 = try SpatialReference.wgs84()
            let boxes = (t.features.isEmpty ? p.features : t.features).map { $0.geometry.copy() }
            let toWGS = try CoordinateTransform(from: tc, to: wgs84)
            var lon = 0.0, lat = 0.0
            for g in boxes {
                try g.transform(toWGS)
                let e = g.envelope
                lon += (e.minX + e.maxX) / 2; lat += (e.minY + e.maxY) / 2
            }
            let n = Double(max(1, boxes.count))
            let laea = try SpatialReference(definition: "+proj=laea +lat_0=\(lat / n) +lon_0=\(lon / n) +datum=WGS84 +units=m +no_defs")
            project = (try CoordinateTransform(from: pc, to: laea), try CoordinateTransform(from: tc, to: laea))
        }
        func objects(_ features: [VectorFeature], _ file: String, _ classField: String, _ ct: CoordinateTransform?) throws -> [(cls: String, score: Double, shape: Geometry, area: Double)] {
            try features.enumerated().map { i, f in
                guard case .string(let cls)? = f.properties[classField] else {
                    throw GeoIOError("feature \(i + 1) of '\(file)' has no text field '\(classField)'")
                }
                let shape = try f.geometry.madeValid()
                if let ct { try shape.transform(ct) }
                let score: Double = switch f.properties[scoreField] {
                case .real(let v)?: v
                case .integer(let v)?: Double(v)
                default: -.infinity
                }
                return (cls, score, shape, shape.planarArea)
            }
        }
        let predicted = try objects(p.features, prediction, classField, project?.0)
        let truthObjects = try objects(t.features, truth, truthClassField, project?.1)
        var scores: [String: ObjectMetrics.ClassScore] = [:]
        for name in Set(predicted.map(\.cls)).union(truthObjects.map(\.cls)) {
            scores[name] = .init(name: name, truePositives: 0, falsePositives: 0, falseNegatives: 0)
        }
        var matched = [Bool](repeating: false, count: truthObjects.count)
        let order = predicted.indices.sorted { a, b in
            predicted[a].score != predicted[b].score ? predicted[a].score > predicted[b].score : a < b
        }
        for pi in order {
            let pr = predicted[pi]
            var best = -1, bestIoU = iouThreshold
            for (ti, tr) in truthObjects.enumerated() where !matched[ti] && tr.cls == pr.cls {
                guard let inter = pr.shape.intersection(tr.shape) else { continue }
                let a = inter.planarArea
                let iou = a / (pr.area + tr.area - a)
                if iou >= bestIoU && (best < 0 || iou > bestIoU) { best = ti; bestIoU = iou }
            }
            if best >= 0 {
                matched[best] = true
                scores[pr.cls]!.truePositives += 1
            } else {
                scores[pr.cls]!.falsePositives += 1
            }
        }
        for (ti, tr) in truthObjects.enumerated() where !matched[ti] { scores[tr.cls]!.falseNegatives += 1 }
        let perClass = scores.values.sorted { $0.name < $1.name }
        let overall = ObjectMetrics.ClassScore(
            name: "all", truePositives: perClass.map(\.truePositives).reduce(0, +),
            falsePositives: perClass.map(\.falsePositives).reduce(0, +), falseNegatives: perClass.map(\.falseNegatives).reduce(0, +))
        return ObjectMetrics(iouThreshold: iouThreshold, perClass: perClass, overall: overall)
    }
}
