import Foundation
import GeoIO
import TestSupport
import Testing

@Suite("landscribe detect")
struct DetectCommandTests {
    /// 8-connected components of the pixels whose class is in `classes`, counted by flood fill.
    static func components(_ labels: [Float], width: Int, height: Int, classes: Set<Float>) -> Int {
        var seen = [Bool](repeating: false, count: labels.count)
        var count = 0
        for start in 0..<labels.count where !seen[start] && classes.contains(labels[start]) {
            count += 1
            var stack = [start]
            seen[start] = true
            while let i = stack.popLast() {
                let (x, y) = (i % width, i / width)
                for dy in -1...1 {
                    for dx in -1...1 {
                        let (nx, ny) = (x + dx, y + dy)
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let j = ny * width + nx
                        if !seen[j] && labels[j] == labels[i] { seen[j] = true; stack.append(j) }
                    }
                }
            }
        }
        return count
    }

    /// The tiny model and synthetic scene of the segment tests in `dir`: the scene, the options
    /// every run shares, and the environment (a model cache inside `dir`).
    static func fixture(in dir: URL, rotations: String) throws -> (scene: String, common: [String], env: [String: String]) {
        let model = try SegmentCommandTests.tinyModel(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let common = ["--classes", "tank; ground; water", "--model", model, "--tile", "128", "--overlap", "32", "--rotations", rotations, "--quiet"]
        return (scene, common, ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
    }

    @Test("objects are the 8-connected components of the class map segment writes, as RFC 7946 GeoJSON")
    func matchesSegment() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir, rotations: "0,180")
        let map = dir.appendingPathComponent("map.tif").path, geojson = dir.appendingPathComponent("objects.geojson").path
        let gpkg = dir.appendingPathComponent("objects.gpkg").path
        #expect(try CLI.run(["segment", scene, "-o", map] + common, environment: env).status == 0)
        let r = try CLI.run(["detect", scene, "-o", geojson, "--gpkg", gpkg, "--min-area", "0"] + common + ["--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")

        let labels = try RasterDataset(path: map).read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1])
        let expected = Self.components(labels, width: 200, height: 150, classes: [0, 1, 2])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: geojson))) as? [String: Any])
        let features = try #require(json["features"] as? [[String: Any]])
        #expect(expected > 0 && features.count == expected, "\(features.count) objects, \(expected) components")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["objects"] as? Int == expected)
        let properties = features.compactMap { $0["properties"] as? [String: Any] }
        #expect(Set(properties.compactMap { $0["class"] as? String }).isSubset(of: ["tank", "ground", "water"]))
        #expect(properties.allSatisfy { p in (p["score"] as? Double).map { $0 > 0 && $0 <= 1 } == true && (p["area_m2"] as? Double ?? 0) > 0 })
        // The scene is UTM 32N at 0.5 m pixels: total area = valid pixels x 0.25 m^2, to about a pixel an object.
        let area = properties.reduce(0.0) { $0 + ($1["area_m2"] as? Double ?? 0) }
        #expect(abs(area - Double(200 * 150 - 40 * 30) * 0.25) < Double(features.count) * 2)
        #expect(FileManager.default.fileExists(atPath: gpkg))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test("--split-touching: in --help; the parts cover the pixels of the components, no fewer objects")
    func splitTouching() throws {
        let help = try CLI.run(["detect", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--split-touching") && help.stdout.contains("--min-area"))
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir, rotations: "0")
        let whole = dir.appendingPathComponent("whole.geojson").path, split = dir.appendingPathComponent("split.geojson").path
        #expect(try CLI.run(["detect", scene, "-o", whole] + common, environment: env).status == 0)
        let r = try CLI.run(["detect", scene, "-o", split, "--split-touching"] + common + ["--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        func pixels(_ path: String) throws -> [Int] {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            return try #require(json["features"] as? [[String: Any]]).compactMap { ($0["properties"] as? [String: Any])?["pixels"] as? Int }
        }
        let (w, s) = (try pixels(whole), try pixels(split))
        #expect(!w.isEmpty && s.count >= w.count && s.reduce(0, +) == w.reduce(0, +))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["objects"] as? Int == s.count)
    }

    @Test("a scene without a CRS is refused unless --pixel-coordinates; then objects sit on the raster as QGIS places it")
    func noCRS() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let scene = dir.appendingPathComponent("plain.tif").path
        SyntheticRaster.write(path: scene, width: 100, height: 80, crs: nil, geoTransform: nil) { b, x, y in Double((x + y * b) % 256) }
        let out = dir.appendingPathComponent("o.geojson").path
        let args = ["detect", scene, "-o", out, "--classes", "a; b", "--model", model, "--tile", "128", "--overlap", "32", "--rotations", "0", "--quiet"]
        let refused = try CLI.run(args)
        #expect(refused.status == 1 && refused.stderr.contains("--pixel-coordinates") && !FileManager.default.fileExists(atPath: out))
        let gpkg = dir.appendingPathComponent("o.gpkg").path
        let r = try CLI.run(args + ["--pixel-coordinates", "--gpkg", gpkg], environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        // QGIS's convention for a raster without georeferencing: x = column, y = -row.
        let (features, _) = try VectorReader.read(path: out)
        #expect(!features.isEmpty)
        for f in features {
            let e = f.geometry.envelope
            #expect(e.minX >= 0 && e.maxX <= 100 && e.minY >= -80 && e.maxY <= 0, "\(e)")
        }
        // The GeoPackage declares GeoPackage's undefined Cartesian SRS, not the undefined geographic one.
        let (packaged, crs) = try VectorReader.read(path: gpkg)
        #expect(packaged.count == features.count && crs?.name == "Undefined Cartesian SRS" && crs?.isGeographic == false)
    }

    @Test("-o by extension: GeoPackage, FlatGeobuf, a shapefile with its side files, in the scene's CRS; the GeoJSON's objects")
    func formats() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (scene, common, env) = try Self.fixture(in: dir, rotations: "0")
        var counts: [String: Int] = [:]
        for ext in ["geojson", "gpkg", "fgb", "shp"] {
            let out = dir.appendingPathComponent("objects.\(ext)").path
            let r = try CLI.run(["detect", scene, "-o", out] + common, environment: env)
            #expect(r.status == 0, "\(ext): \(r.stderr)")
            let (features, crs) = try VectorReader.read(path: out)
            counts[ext] = features.count
            #expect(crs?.epsg == (ext == "geojson" ? 4326 : 32632), "\(ext)")
            #expect(features.allSatisfy { $0.properties["class"] != nil && $0.properties["area_m2"] != nil }, "\(ext)")
            if ext != "geojson" {
                // In the scene's CRS: inside the scene's extent (UTM 32N, origin 500000, 5650000, 0.5 m pixels).
                #expect(features.allSatisfy { let e = $0.geometry.envelope; return e.minX >= 500000 && e.maxX <= 500100 && e.minY >= 5649925 && e.maxY <= 5650000 }, "\(ext)")
            }
        }
        #expect(counts["geojson"]! > 0 && Set(counts.values).count == 1, "\(counts)")
        for side in ["shx", "dbf", "prj", "cpg"] { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("objects.\(side)").path), "\(side)") }
        #expect(try String(contentsOf: dir.appendingPathComponent("objects.cpg"), encoding: .utf8).contains("UTF-8"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.isEmpty)
        // The shapefile is one output: an existing one is refused whole, --overwrite replaces it whole.
        let again = try CLI.run(["detect", scene, "-o", dir.appendingPathComponent("objects.shp").path] + common, environment: env)
        #expect(again.status == 1 && again.stderr.contains("--overwrite"))
    }
}
