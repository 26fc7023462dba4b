import Foundation
import TestSupport
import Testing

/// docs/guarantees.md, "The same bytes": the outputs of a run do not depend on the number of
/// threads. Each thread count gets its own model cache, so the text queries are computed anew
/// on that many threads too.
@Suite("The same bytes on any number of threads")
struct DeterminismTests {
    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("segment: class map, confidence and probabilities are byte-identical for 1, 2, 3 and 8 threads")
    func segment() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        // 300 x 220 in 128-pixel tiles: edge tiles of every shape, four rotations of each.
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 300, height: 220, bands: 3) { b, x, y in Double((x * (b + 3) + y * (7 - b) + x * y / 13) % 256) }
        var first: (map: Data, probabilities: Data)? = nil
        for threads in [1, 2, 3, 8] {
            let map = dir.appendingPathComponent("lc\(threads).tif").path, probabilities = dir.appendingPathComponent("p\(threads).tif").path
            let r = try CLI.run(["segment", scene, "-o", map, "--probabilities", probabilities, "--confidence", "--classes", "water; land; tree, forest",
                                 "--model", model, "--tile", "128", "--overlap", "32", "--threads", "\(threads)", "--quiet"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache\(threads)").path])
            try #require(r.status == 0, "\(r.stderr)")
            // The confidence is its own file beside the class map: compared with the map's bytes.
            let result = (try Self.bytes(map) + Self.bytes(map.replacingOccurrences(of: ".tif", with: ".confidence.tif")), try Self.bytes(probabilities))
            if let first {
                // Compared as Bool: a failed `==` on Data makes the testing library diff megabytes.
                let (sameMap, sameProbabilities) = (result.0 == first.map, result.1 == first.probabilities)
                #expect(sameMap, "the class map on \(threads) threads differs from 1 thread's")
                #expect(sameProbabilities, "the probabilities on \(threads) threads differ from 1 thread's")
            } else {
                first = result
            }
        }
    }

    @Test("embed: text and image embeddings are identical for 1, 2 and 3 threads")
    func embed() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let image = dir.appendingPathComponent("image.tif").path
        SyntheticRaster.write(path: image, width: 300, height: 300, bands: 3) { b, x, y in Double((x * (b + 1) + y * 3 + x * y / 11) % 256) }
        // 320 x 320 at patch 16: 401 tokens, two row chunks; 40 texts of 77 tokens: 3080 rows.
        let texts = (0..<40).flatMap { ["--text", "a satellite photo of thing number \($0)"] }
        var first: [String]? = nil
        for threads in [1, 2, 3] {
            let t = try CLI.run(["embed", "--model", model, "--threads", "\(threads)"] + texts)
            let i = try CLI.run(["embed", "--model", model, "--image", image, "--image", image, "--size", "320", "--threads", "\(threads)"])
            try #require(t.status == 0 && i.status == 0, "\(t.stderr) \(i.stderr)")
            if let first { #expect([t.stdout, i.stdout] == first, "embeddings on \(threads) threads differ from 1 thread's") } else { first = [t.stdout, i.stdout] }
        }
    }

    @Test("segment with the SAM 3 engine: class map and probabilities are byte-identical for 1 and 3 threads")
    func sam3() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 300, height: 220, bands: 3) { b, x, y in Double((x * (b + 3) + y * (7 - b) + x * y / 13) % 256) }
        var first: [Data]? = nil
        for threads in [1, 3] {
            let map = dir.appendingPathComponent("lc\(threads).tif").path, probabilities = dir.appendingPathComponent("p\(threads).tif").path
            let r = try CLI.run(["segment", scene, "-o", map, "--probabilities", probabilities, "--classes", "car, vehicle; tree; water",
                                 "--model", model, "--tile", "128", "--overlap", "32", "--object-threshold", "0.2", "--threads", "\(threads)", "--quiet"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache\(threads)").path])
            try #require(r.status == 0, "\(r.stderr)")
            let result = [try Self.bytes(map), try Self.bytes(probabilities)]
            if let first { let same = result == first; #expect(same, "SAM 3 outputs on \(threads) threads differ from 1 thread's") } else { first = result }
        }
    }

    @Test("detect: GeoJSON and GeoPackage are byte-identical for 1 and 3 threads")
    func detect() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let scene = SegmentCommandTests.scene(in: dir)
        let pipeline = dir.appendingPathComponent("objects.yaml")
        try """
        name: objects
        model: \(model)
        tiling: {size: 128, overlap: 32}
        classes:
          - name: ground
            prompts: [ground]
          - name: building
            prompts: [building, roof]
            instances: true
        """.write(to: pipeline, atomically: true, encoding: .utf8)
        var first: (Data, Data)? = nil
        for threads in [1, 3] {
            let geojson = dir.appendingPathComponent("o\(threads).geojson").path, gpkg = dir.appendingPathComponent("o\(threads).gpkg").path
            let r = try CLI.run(["detect", scene, "-o", geojson, "--gpkg", gpkg, "--pipeline", pipeline.path, "--threads", "\(threads)", "--quiet"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache\(threads)").path])
            try #require(r.status == 0, "\(r.stderr)")
            let result = (try Self.bytes(geojson), try Self.bytes(gpkg))
            if let first {
                let (sameGeoJSON, sameGeoPackage) = (result.0 == first.0, result.1 == first.1)
                #expect(sameGeoJSON, "the GeoJSON on \(threads) threads differs from 1 thread's")
                #expect(sameGeoPackage, "the GeoPackage on \(threads) threads differs from 1 thread's")
            } else {
                first = result
            }
        }
    }
}
