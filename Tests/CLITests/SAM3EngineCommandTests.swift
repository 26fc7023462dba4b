import Foundation
import GeoIO
import TestSupport
import Testing

/// `segment` and `detect` with a SAM 3 model folder (the tiny fixture with the cut tokenizer):
/// the SAM 3 engine chosen by the folder, on the synthetic UTM scene of the segment tests.
@Suite("segment and detect with the SAM 3 engine")
struct SAM3EngineCommandTests {
    static let classes = ["--classes", "car, vehicle; tree; water"]

    static func fixture(in dir: URL) throws -> (scene: String, common: [String], env: [String: String]) {
        let model = try PredictFixtures.model(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let common = ["--model", model, "--tile", "128", "--overlap", "32",
                      "--object-threshold", "0.2", "--threads", "2"]
        return (scene, common, ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
    }

    @Test("segment: the scene's grid, nodata kept, scores 0..1, engine in the summary and the provenance, rotations {0} by default")
    func segment() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path, probs = dir.appendingPathComponent("p.tif").path
        let r = try CLI.run(["segment", scene, "-o", out, "--probabilities", probs, "--threshold", "0.265", "--background", "other", "--json"] + common + Self.classes,
                            environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try PredictFixtures.json(r.stdout)
        #expect(summary["engine"] as? String == "sam3")
        #expect(summary["tiles"] as? Int == 4 && summary["encoder_runs"] as? Int == 4, "one rotation per tile by default")
        let map = try RasterDataset(path: out), input = try RasterDataset(path: scene)
        #expect(map.width == 200 && map.height == 150 && map.geoTransform == input.geoTransform)
        #expect(map.metadata["LANDSCRIBE_ENGINE"] == "sam3" && map.metadata["LANDSCRIBE_ROTATIONS"] == "0")
        #expect(map.metadata["LANDSCRIBE_OBJECT_THRESHOLD"] == "0.2" && map.metadata["LANDSCRIBE_CLS_LAMBDA"] == nil)
        #expect(map.categoryNames(band: 1).prefix(4) == ["car", "tree", "water", "other"])
        let classes = try map.read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1])
        for y in 0..<150 {
            for x in 0..<200 {
                let v = classes[y * 200 + x]
                #expect((v == 255) == (x < 40 && y < 30), "pixel \(x), \(y): \(v)")
                if (v == 255) != (x < 40 && y < 30) { return }
            }
        }
        #expect(Set(classes.filter { $0 != 255 }).isSubset(of: [0, 1, 2, 3]))
        let scores = try RasterDataset(path: probs).read(window: PixelWindow(col: 100, row: 100, width: 50, height: 50), bands: [1, 2, 3])
        #expect(scores.allSatisfy { $0 >= 0 && $0 <= 1 } && scores.contains { $0 > 0 })
        let names = (summary["classes"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["car", "tree", "water", "other"])
    }

    @Test("segment with SAM 3: memory follows the scene's width, not its height (1280 and 2560 rows, 256 wide)")
    func memoryOnTallScenes() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, common, env) = try Self.fixture(in: dir)
        // The peaks are the child's own (VmHWM): with getrusage's ru_maxrss, which the kernel
        // carries over exec, they were this test runner's size whenever that was larger, and
        // grew with it between the two runs (+92 MB in one CI run, +27 MB in another).
        var peaks: [Int] = []
        // One column of 256-pixel tiles (the tiny SAM 3 costs the same per tile whatever its size).
        let tiling = ["--tile", "256", "--overlap", "64"]
        for height in [1280, 2560] {
            let scene = dir.appendingPathComponent("tall\(height).tif").path
            SyntheticRaster.write(path: scene, width: 256, height: height, bands: 3) { b, x, y in Double((x * (b + 2) + y * 3 + (x ^ y)) % 256) }
            let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("lc\(height).tif").path, "--json"] + common + tiling + Self.classes, environment: env)
            try #require(r.status == 0, "\(r.stderr)")
            peaks.append(try #require(try PredictFixtures.json(r.stdout)["peak_memory_bytes"] as? Int))
        }
        // Twice the rows (13 tiles instead of 6): the stitcher's strip and the writers' blocks
        // stay the same; the peaks differ by the noise of the allocator and GDAL's cache.
        #expect(peaks[1] - peaks[0] < 16_000_000, "peak memory \(peaks[0]) bytes for 1280 rows, \(peaks[1]) for 2560")
    }

    @Test("--rotations 0,90 runs the ensemble on SAM 3 too")
    func rotations() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path
        let r = try CLI.run(["segment", scene, "-o", out, "--rotations", "0,90", "--json"] + common + Self.classes, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try PredictFixtures.json(r.stdout)["encoder_runs"] as? Int == 8)
        #expect(try RasterDataset(path: out).metadata["LANDSCRIBE_ROTATIONS"] == "0,90")
    }

    @Test("detect: SAM 3's own objects as RFC 7946 polygons with scores above the object threshold, areas, ids 1..n")
    func detect() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir)
        let geojson = dir.appendingPathComponent("objects.geojson").path, gpkg = dir.appendingPathComponent("objects.gpkg").path
        let r = try CLI.run(["detect", scene, "-o", geojson, "--gpkg", gpkg, "--min-area", "0", "--json"] + common + Self.classes, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try PredictFixtures.json(r.stdout)
        #expect(summary["engine"] as? String == "sam3")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: geojson))) as? [String: Any])
        let features = try #require(json["features"] as? [[String: Any]])
        #expect(!features.isEmpty && summary["objects"] as? Int == features.count)
        let properties = features.compactMap { $0["properties"] as? [String: Any] }
        #expect(properties.compactMap { $0["id"] as? Int } == Array(1...features.count))
        #expect(properties.allSatisfy { p in (p["score"] as? Double).map { $0 > 0.2 && $0 <= 1 } == true })
        #expect(properties.allSatisfy { ($0["area_m2"] as? Double ?? 0) > 0 && ($0["pixels"] as? Int ?? 0) > 0 })
        #expect(Set(properties.compactMap { $0["class"] as? String }).isSubset(of: ["car", "tree", "water"]))
        // No pixel is in two objects, and nodata is in none: the pixels add up to at most the valid pixels.
        #expect(properties.reduce(0) { $0 + ($1["pixels"] as? Int ?? 0) } <= 200 * 150 - 40 * 30)
    }

    @Test("bad input: an object threshold outside (0, 1), a prompt over SAM 3's 32 tokens: one line, exit 1, nothing written")
    func badInput() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path
        for value in ["0", "1", "1.5", "nan"] {
            let r = try CLI.run(["segment", scene, "-o", out] + common + Self.classes + ["--object-threshold", value], environment: env)
            #expect(r.status == 1 && r.stderr.contains("--object-threshold") && r.stderr.split(separator: "\n").count == 1, "\(value): \(r.stderr)")
        }
        let long = Array(repeating: "tree", count: 40).joined(separator: " ")
        let r = try CLI.run(["segment", scene, "-o", out] + common + ["--classes", "forest, \(long); water"], environment: env)
        #expect(r.status == 1 && r.stderr.contains("class 'forest'") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
