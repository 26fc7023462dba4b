import ArgumentParser
import Foundation
import GeoIO
import Instances

/// `landscribe evaluate --prediction P.tif --truth T.tif [--classes-truth "v:name,..."] [--ignore V] [--unseen NAMES] [--json]`
/// and/or `--prediction-vector P.geojson --truth-vector T.geojson`.
struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a class map against truth (IoU, mIoU, h-mIoU), and objects against truth polygons.",
        discussion: """
        Pixels: IoU per class = TP / (TP + FP + FN), mIoU over the classes present in truth or \
        prediction, pixel accuracy = correct / evaluated pixels (docs/METHOD.md section 8). The \
        prediction's class names are its category names (as segment writes them). Truth values \
        map to names with --classes-truth "1:building,2:road"; without it a truth value v is \
        the prediction's class v. Truth pixels equal to --ignore values or to the truth's nodata \
        value are skipped. A prediction nodata pixel (255) on an evaluated truth pixel counts \
        as wrong: a false negative of the truth class, a false positive of no class.

        Objects: --prediction-vector (detect's GeoJSON) and --truth-vector polygons with a \
        'class' field are matched greedily by decreasing score at IoU >= --iou (0.5): \
        precision, recall and F1 per class and over all.

        JSON fields: miou, per_class [{name, iou, truth_pixels, predicted_pixels}], \
        pixel_accuracy, and with --unseen smiou, umiou, hmiou; plus evaluated_pixels, \
        unpredicted_pixels, confusion {classes, matrix}; objects {iou_threshold, precision, \
        recall, f1, per_class [{name, precision, recall, f1, tp, fp, fn}]} with vectors.
        """)

    @Option(help: "The predicted class map (UInt8 with category names, as segment writes it).")
    var prediction: String?

    @Option(help: "The truth raster on the same grid.")
    var truth: String?

    @Option(name: .customLong("classes-truth"), help: "Truth value to class name: \"1:building,2:road\".")
    var classesTruth: String?

    @Option(help: "Truth values to skip (repeat or separate with commas).")
    var ignore: [String] = []

    @Option(help: "A vector file (any OGR format, any CRS) whose polygons' pixels are not scored, such as the exemplars of segment --exemplars.")
    var exclude: String?

    @Option(help: "Class names held out as unseen, separated by commas: adds s-mIoU, u-mIoU and h-mIoU.")
    var unseen: String?

    @Option(name: .customLong("prediction-vector"), help: "Predicted objects (GeoJSON or any OGR vector) with class and score.")
    var predictionVector: String?

    @Option(name: .customLong("truth-vector"), help: "Truth objects with a class field.")
    var truthVector: String?

    @Option(name: .customLong("truth-class-field"), help: "The class field of the truth objects.")
    var truthClassField = "class"

    @Option(help: "IoU at which a predicted object matches a truth object.")
    var iou = 0.5

    @Flag(help: "Print a JSON object instead of a table.")
    var json = false

    func run() async throws {
        try await failing {
            let rasters = try Self.pair(prediction, "--prediction", truth, "--truth")
            let vectors = try Self.pair(predictionVector, "--prediction-vector", truthVector, "--truth-vector")
            guard rasters != nil || vectors != nil else {
                throw GeoIOError("give --prediction and --truth (class maps), or --prediction-vector and --truth-vector (objects)")
            }
            guard iou > 0, iou <= 1 else { throw GeoIOError("option --iou: must be in (0, 1], got \(iou)") }
            var out: [String: Any] = [:]
            var text: [String] = []
            if let (p, t) = rasters {
                let evaluator = PixelEvaluator(truthClasses: try Self.parseTruthClasses(classesTruth), ignore: try Self.parseIgnore(ignore),
                                               unseen: Self.list(unseen), exclude: exclude)
                let m = try evaluator.evaluate(prediction: p, truth: t)
                out.merge(Self.json(m)) { a, _ in a }
                text += Self.table(m)
            }
            if let (p, t) = vectors {
                let m = try ObjectEvaluator(iouThreshold: iou, truthClassField: truthClassField).evaluate(prediction: p, truth: t)
                out["objects"] = Self.json(m)
                text += Self.table(m)
            }
            if json { try printJSON(out) } else { print(text.joined(separator: "\n")) }
        }
    }

    /// Both files or neither; one alone is an error naming the missing option.
    static func pair(_ a: String?, _ aName: String, _ b: String?, _ bName: String) throws -> (String, String)? {
        switch (a, b) {
        case let (a?, b?): return (a, b)
        case (nil, nil): return nil
        case (nil, _): throw GeoIOError("option \(bName) needs \(aName)")
        case (_, nil): throw GeoIOError("option \(aName) needs \(bName)")
        }
    }

    static func list(_ s: String?) -> [String] {
        (s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func parseTruthClasses(_ s: String?) throws -> [Int: String]? {
        guard let s else { return nil }
        var out: [Int: String] = [:]
        for item in list(s) {
            let parts = item.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let v = Int(parts[0]), !parts[1].isEmpty else {
                throw GeoIOError("option --classes-truth: '\(item)' is not VALUE:NAME (e.g. \"1:building,2:road\")")
            }
            guard out[v] == nil else { throw GeoIOError("option --classes-truth: value \(v) is given twice") }
            out[v] = parts[1]
        }
        guard !out.isEmpty else { throw GeoIOError("option --classes-truth: no VALUE:NAME pairs") }
        return out
    }

    static func parseIgnore(_ items: [String]) throws -> Set<Int> {
        var out = Set<Int>()
        for item in items.flatMap({ list($0) }) {
            guard let v = Int(item) else { throw GeoIOError("option --ignore: '\(item)' is not an integer value") }
            out.insert(v)
        }
        return out
    }

    static func json(_ m: PixelMetrics) -> [String: Any] {
        var out: [String: Any] = [
            "miou": m.miou ?? NSNull(), "pixel_accuracy": m.pixelAccuracy ?? NSNull(),
            "per_class": m.perClass.map { ["name": $0.name, "iou": $0.iou, "truth_pixels": $0.truthPixels, "predicted_pixels": $0.predictedPixels] as [String: Any] },
            "evaluated_pixels": m.evaluatedPixels, "unpredicted_pixels": m.unpredictedPixels,
            "confusion": ["classes": m.confusion.names + ["(none)"], "matrix": m.confusion.counts] as [String: Any],
        ]
        if m.smiou != nil || m.umiou != nil {
            out["smiou"] = m.smiou ?? NSNull()
            out["umiou"] = m.umiou ?? NSNull()
            out["hmiou"] = m.hmiou ?? NSNull()
        }
        return out
    }

    static func json(_ m: ObjectMetrics) -> [String: Any] {
        func scores(_ c: ObjectMetrics.ClassScore) -> [String: Any] {
            ["name": c.name, "precision": c.precision, "recall": c.recall, "f1": c.f1,
             "tp": c.truePositives, "fp": c.falsePositives, "fn": c.falseNegatives]
        }
        var out = scores(m.overall)
        out["name"] = nil
        out["iou_threshold"] = m.iouThreshold
        out["per_class"] = m.perClass.map(scores)
        return out
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%6.2f", $0 * 100) } ?? "     -" }

    static func table(_ m: PixelMetrics) -> [String] {
        let width = max(12, (m.perClass.map(\.name.count).max() ?? 0) + 2)
        func pad(_ s: String) -> String { s.padding(toLength: width, withPad: " ", startingAt: 0) }
        var lines = ["\(pad("class"))   IoU %   truth px   predicted px"]
        for c in m.perClass {
            lines.append("\(pad(c.name)) \(percent(c.iou))  \(String(format: "%9d", c.truthPixels))  \(String(format: "%13d", c.predictedPixels))")
        }
        lines.append("\(pad("mIoU")) \(percent(m.miou))")
        lines.append("\(pad("pixel acc.")) \(percent(m.pixelAccuracy))   (\(m.evaluatedPixels) pixels evaluated, \(m.unpredictedPixels) without prediction)")
        if m.smiou != nil || m.umiou != nil {
            lines.append("\(pad("s-mIoU")) \(percent(m.smiou))")
            lines.append("\(pad("u-mIoU")) \(percent(m.umiou))")
            lines.append("\(pad("h-mIoU")) \(percent(m.hmiou))")
        }
        return lines
    }

    static func table(_ m: ObjectMetrics) -> [String] {
        var lines = ["objects at IoU >= \(m.iouThreshold)", "class           precision  recall    F1     tp    fp    fn"]
        for c in m.perClass + [m.overall] {
            lines.append("\(c.name.padding(toLength: 14, withPad: " ", startingAt: 0))   \(percent(c.precision))  \(percent(c.recall))  \(percent(c.f1))  \(String(format: "%5d %5d %5d", c.truePositives, c.falsePositives, c.falseNegatives))")
        }
        return lines
    }
}
