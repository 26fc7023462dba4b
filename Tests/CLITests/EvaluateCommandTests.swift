import Foundation
import GeoIO
import TestSupport
import Testing

@Suite("landscribe evaluate")
struct EvaluateCommandTests {
    static let gt: [Double] = [500000, 10, 0, 5600000, 0, -10]

    /// A class map as segment writes it: Byte, nodata 255, category names.
    static func writePrediction(_ path: String, width: Int, values: [UInt8], names: [String], geoTransform: [Double] = gt) throws {
        let profile = RasterProfile(width: width, height: values.count / width, bandCount: 1, dataType: .byte,
                                    geoTransform: GeoTransform(geoTransform), crsWKT: try SpatialReference(epsg: 32632).wkt, nodata: 255)
        let w = try RasterWriter(path: path, profile: profile, overwrite: true)
        try w.setCategoryNames(band: 1, names)
        try w.write(band: 1, window: PixelWindow(col: 0, row: 0, width: width, height: values.count / width), bytes: values)
        try w.finish()
    }

    static func writeTruth(_ path: String, width: Int, values: [Int], geoTransform: [Double] = gt, height: Int? = nil) {
        SyntheticRaster.write(path: path, width: width, height: height ?? values.count / width, bands: 1, crs: "EPSG:32632",
                              geoTransform: geoTransform) { _, x, y in y * width + x < values.count ? Double(values[y * width + x]) : 0 }
    }

    /// prediction (0 building, 1 road, 2 water, 255 nodata)   truth (1 building, 2 road, 3 water, 0 ignored)
    ///   0 0 1 1                                               1 1 2 2
    ///   0 2 1 255                                             1 1 2 2
    ///   2 2 2 1                                               3 3 0 3
    /// 11 evaluated pixels (the truth 0 is skipped, and so is the water predicted there).
    /// Confusion, truth rows x predicted columns (building, road, water, none):
    ///   building [3, 0, 1, 0]   road [0, 3, 0, 1]   water [0, 1, 2, 0]
    /// IoU building 3 / (3 + 0 + 1) = 0.75; road 3 / (3 + 1 + 1) = 0.6 (the nodata pixel is a false
    /// negative); water 2 / (2 + 1 + 1) = 0.5. mIoU 1.85 / 3; pixel accuracy 8 / 11.
    /// With water unseen: s = (0.75 + 0.6) / 2 = 0.675, u = 0.5, h = 2 s u / (s + u) = 0.675 / 1.175.
    func handComputed(_ dir: URL) throws -> (String, String) {
        let p = dir.appendingPathComponent("pred.tif").path, t = dir.appendingPathComponent("truth.tif").path
        try Self.writePrediction(p, width: 4, values: [0, 0, 1, 1, 0, 2, 1, 255, 2, 2, 2, 1], names: ["building", "road", "water"])
        Self.writeTruth(t, width: 4, values: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 0, 3])
        return (p, t)
    }

    @Test("hand-computed confusion matrix, IoUs, accuracy and h-mIoU; JSON fields exact")
    func pixels() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, t) = try handComputed(dir)
        let r = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--classes-truth", "1:building,2:road,3:water",
                             "--ignore", "0", "--unseen", "water", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(Set(j.keys) == ["miou", "per_class", "pixel_accuracy", "smiou", "umiou", "hmiou",
                                "evaluated_pixels", "unpredicted_pixels", "confusion"])
        let confusion = try #require(j["confusion"] as? [String: Any])
        #expect(confusion["classes"] as? [String] == ["building", "road", "water", "(none)"])
        #expect(confusion["matrix"] as? [[Int]] == [[3, 0, 1, 0], [0, 3, 0, 1], [0, 1, 2, 0]])
        let perClass = try #require(j["per_class"] as? [[String: Any]])
        #expect(perClass.map { $0["name"] as? String } == ["building", "road", "water"])
        let ious = perClass.map { $0["iou"] as? Double ?? -1 }
        for (got, want) in zip(ious, [0.75, 0.6, 0.5]) { #expect(abs(got - want) < 1e-12) }
        #expect(abs((j["miou"] as? Double ?? -1) - 1.85 / 3) < 1e-12)
        #expect(abs((j["pixel_accuracy"] as? Double ?? -1) - 8.0 / 11) < 1e-12)
        #expect(abs((j["smiou"] as? Double ?? -1) - 0.675) < 1e-12)
        #expect(abs((j["umiou"] as? Double ?? -1) - 0.5) < 1e-12)
        #expect(abs((j["hmiou"] as? Double ?? -1) - 0.675 / 1.175) < 1e-12)
        #expect(j["evaluated_pixels"] as? Int == 11 && j["unpredicted_pixels"] as? Int == 1)

        // Without --unseen the split fields are absent; the table on a terminal names the classes.
        let plain = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--classes-truth", "1:building,2:road,3:water", "--ignore", "0", "--json"])
        let jp = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
        #expect(jp["hmiou"] == nil && jp["smiou"] == nil)
        let text = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--classes-truth", "1:building,2:road,3:water", "--ignore", "0"])
        #expect(text.status == 0 && text.stdout.contains("building") && text.stdout.contains("61.67"), "\(text.stdout)")
    }

    @Test("--exclude: pixels inside the polygons (in the scene's CRS or EPSG:4326) are not scored")
    func exclude() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, t) = try handComputed(dir)
        // A square around the centre of pixel (1, 1), the water predicted on building.
        let polygon = "[[[500012, 5599988], [500018, 5599988], [500018, 5599982], [500012, 5599982], [500012, 5599988]]]"
        let utm = dir.appendingPathComponent("ex.geojson").path
        try "{\"type\": \"FeatureCollection\", \"crs\": {\"type\": \"name\", \"properties\": {\"name\": \"urn:ogc:def:crs:EPSG::32632\"}}, \"features\": [{\"type\": \"Feature\", \"properties\": {\"class\": \"water\"}, \"geometry\": {\"type\": \"Polygon\", \"coordinates\": \(polygon)}}]}"
            .write(toFile: utm, atomically: true, encoding: .utf8)
        let r = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--classes-truth", "1:building,2:road,3:water", "--ignore", "0",
                             "--exclude", utm, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["evaluated_pixels"] as? Int == 10)
        #expect((j["confusion"] as? [String: Any])?["matrix"] as? [[Int]] == [[3, 0, 0, 0], [0, 3, 0, 1], [0, 1, 2, 0]])
        let missing = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--exclude", dir.appendingPathComponent("none.gpkg").path])
        #expect(missing.status == 1 && missing.stderr.contains("no such file"), "\(missing.stderr)")
    }

    @Test("truth values as prediction indexes without --classes-truth; a class only predicted has IoU 0")
    func indexes() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("pred.tif").path, t = dir.appendingPathComponent("truth.tif").path
        // prediction 0 0 1 2   truth 0 0 1 1   (9 = ignored)
        //            0 1 1 1         0 1 1 9
        // a: TP 3 -> 1.0; b: TP 3, FN 1 (predicted c) -> 0.75; c: FP 1 -> 0.0. mIoU 1.75 / 3.
        try Self.writePrediction(p, width: 4, values: [0, 0, 1, 2, 0, 1, 1, 1], names: ["a", "b", "c"])
        Self.writeTruth(t, width: 4, values: [0, 0, 1, 1, 0, 1, 1, 9])
        let r = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--ignore", "9", "--json"])
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ious = (j["per_class"] as? [[String: Any]] ?? []).map { $0["iou"] as? Double ?? -1 }
        #expect(ious == [1.0, 0.75, 0.0])
        #expect(abs((j["miou"] as? Double ?? -1) - 1.75 / 3) < 1e-12)
        // Without --ignore 9 the truth value 9 has no class: exit 1, one line naming it.
        let bad = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--json"])
        #expect(bad.status == 1 && bad.stderr.split(separator: "\n").count == 1 && bad.stderr.contains("--ignore 9"), "\(bad.stderr)")
    }

    @Test("mismatched grids, bad options: exit 1 with one line naming the files or option")
    func errors() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, t) = try handComputed(dir)
        let shifted = dir.appendingPathComponent("shifted.tif").path
        Self.writeTruth(shifted, width: 4, values: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 0, 3], geoTransform: [500010, 10, 0, 5600000, 0, -10])
        let bigger = dir.appendingPathComponent("bigger.tif").path
        Self.writeTruth(bigger, width: 4, values: [1], height: 4)
        let cases: [([String], [String])] = [
            (["--prediction", p, "--truth", shifted], ["pred.tif", "shifted.tif"]),
            (["--prediction", p, "--truth", bigger], ["pred.tif", "bigger.tif"]),
            (["--prediction", p, "--truth", t, "--classes-truth", "1=building"], ["--classes-truth"]),
            (["--prediction", p, "--truth", t, "--classes-truth", "1:building,2:road,3:water", "--ignore", "0", "--unseen", "tree"], ["--unseen", "tree"]),
            (["--prediction", p], ["--truth"]),
            (["--truth", t, "--ignore", "x"], ["--prediction"]),
            ([], ["--prediction"]),
        ]
        for (args, named) in cases {
            let r = try CLI.run(["evaluate"] + args + ["--json"])
            #expect(r.status == 1, "\(args): status \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1 && named.allSatisfy { r.stderr.contains($0) }, "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    /// Squares in units of 1e-4 degree from lon 12, lat 50: x0, x1, y0, y1.
    static func feature(_ cls: String, _ score: Double?, _ b: (Double, Double, Double, Double)) -> String {
        let (x0, x1, y0, y1) = (12 + b.0 * 1e-4, 12 + b.1 * 1e-4, 50 + b.2 * 1e-4, 50 + b.3 * 1e-4)
        let score = score.map { ", \"score\": \($0)" } ?? ""
        return """
        {"type": "Feature", "properties": {"class": "\(cls)"\(score)}, "geometry": {"type": "Polygon", "coordinates": \
        [[[\(x0), \(y0)], [\(x1), \(y0)], [\(x1), \(y1)], [\(x0), \(y1)], [\(x0), \(y0)]]]}}
        """
    }

    @Test("objects: greedy matching by score at IoU 0.5, precision, recall, F1 by hand")
    func objects() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        func collection(_ features: [String]) -> String { "{\"type\": \"FeatureCollection\", \"features\": [\(features.joined(separator: ",\n"))]}" }
        // Truth: T1 building [0,10]x[0,10], T2 building [30,40]x[0,10], T3 tank [0,10]x[30,40].
        // Predictions: P2 building [2.5,12.5] (IoU with T1 75/125 = 0.6, score 0.95) is taken
        // first and matches T1; P1 building [1,11] (IoU 90/110, score 0.9) finds T1 taken: FP;
        // P3 building far away: FP; P5 building exactly on T3 (a tank): FP; P4 tank [5,15]x[30,40]
        // (IoU 50/150 with T3): FP, and T3, T2 are FN.
        // building: tp 1, fp 3, fn 1 -> P 0.25, R 0.5, F1 1/3. tank: 0, 1, 1 -> 0, 0, 0.
        // all: tp 1, fp 4, fn 2 -> P 0.2, R 1/3, F1 0.25.
        let truth = dir.appendingPathComponent("truth.geojson")
        try collection([Self.feature("building", nil, (0, 10, 0, 10)), Self.feature("building", nil, (30, 40, 0, 10)),
                        Self.feature("tank", nil, (0, 10, 30, 40))]).write(to: truth, atomically: true, encoding: .utf8)
        let pred = dir.appendingPathComponent("pred.geojson")
        try collection([Self.feature("building", 0.9, (1, 11, 0, 10)), Self.feature("building", 0.95, (2.5, 12.5, 0, 10)),
                        Self.feature("building", 0.8, (60, 70, 0, 10)), Self.feature("tank", 0.7, (5, 15, 30, 40)),
                        Self.feature("building", 0.5, (0, 10, 30, 40))]).write(to: pred, atomically: true, encoding: .utf8)
        let r = try CLI.run(["evaluate", "--prediction-vector", pred.path, "--truth-vector", truth.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let o = try #require(j["objects"] as? [String: Any])
        #expect(o["tp"] as? Int == 1 && o["fp"] as? Int == 4 && o["fn"] as? Int == 2)
        #expect(abs((o["precision"] as? Double ?? -1) - 0.2) < 1e-12 && abs((o["recall"] as? Double ?? -1) - 1.0 / 3) < 1e-12)
        #expect(abs((o["f1"] as? Double ?? -1) - 0.25) < 1e-12)
        let per = try #require(o["per_class"] as? [[String: Any]])
        #expect(per.map { $0["name"] as? String } == ["building", "tank"])
        #expect(abs((per[0]["f1"] as? Double ?? -1) - 1.0 / 3) < 1e-12 && per[0]["fp"] as? Int == 3)
        #expect(per[1]["f1"] as? Double == 0 && per[1]["fn"] as? Int == 1)
        // At IoU 0.85 nothing matches: P1's 0.82 is below.
        let strict = try CLI.run(["evaluate", "--prediction-vector", pred.path, "--truth-vector", truth.path, "--iou", "0.85", "--json"])
        let js = try #require(try JSONSerialization.jsonObject(with: Data(strict.stdout.utf8)) as? [String: Any])
        #expect((js["objects"] as? [String: Any])?["tp"] as? Int == 0)
    }
}
