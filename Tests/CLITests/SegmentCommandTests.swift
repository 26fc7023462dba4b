import Foundation
import GeoIO
import TestSupport
import Testing

/// `segment` end to end with the tiny random CLIP of the parity fixtures (its map means nothing;
/// these tests check the outputs' form, not their content: parity is checked in SegmentationTests).
@Suite("landscribe segment")
struct SegmentCommandTests {
    /// A model folder in Hugging Face layout assembled from the test fixtures.
    static func tinyModel(in dir: URL) throws -> String {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CLIPTests/Fixtures")
        let model = dir.appendingPathComponent("tiny-model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for (folder, file) in [("tiny-clip", "config.json"), ("tiny-clip", "model.safetensors"), ("clip-tokenizer", "vocab.json"), ("clip-tokenizer", "merges.txt")] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(folder).appendingPathComponent(file), to: model.appendingPathComponent(file))
        }
        return model.path
    }

    /// A UTM scene 200 x 150 with a nodata block in the top-left corner.
    static func scene(in dir: URL) -> String {
        let path = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: path, width: 200, height: 150, bands: 3, nodata: 0) { b, x, y in
            if x < 40 && y < 30 { return 0 }
            return Double(30 + (x * (b + 1) + y * 2) % 200)
        }
        return path
    }

    @Test("class map on the scene's grid with colours, names, provenance; nodata stays nodata; probabilities and preview")
    func outputs() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path, probs = dir.appendingPathComponent("p.tif").path
        let png = dir.appendingPathComponent("lc.png").path
        let r = try CLI.run(["segment", scene, "-o", out, "--classes", "building, roof; water, river; tree",
                             "--model", model, "--tile", "128", "--overlap", "32", "--rotations", "0,90",
                             "--probabilities", probs, "--confidence", "--preview", png, "--json"],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["tiles"] as? Int == 4 && summary["encoder_runs"] as? Int == 8)
        let classes = try #require(summary["classes"] as? [[String: Any]])
        #expect(classes.map { $0["name"] as? String } == ["building", "water", "tree"])
        #expect(classes.reduce(0) { $0 + ($1["pixels"] as? Int ?? 0) } == 200 * 150 - 40 * 30)

        let input = try RasterDataset(path: scene), map = try RasterDataset(path: out)
        #expect(map.metadata(domain: "IMAGE_STRUCTURE")["LAYOUT"] == "COG")
        #expect(map.width == 200 && map.height == 150 && map.bandCount == 1)
        #expect(map.geoTransform == input.geoTransform && map.spatialReference?.epsg == input.spatialReference?.epsg)
        #expect(map.categoryNames(band: 1) == ["building", "water", "tree"])
        #expect(map.colorTable(band: 1).count >= 3)
        #expect(map.metadata["LANDSCRIBE_ROTATIONS"] == "0,90" && map.metadata["LANDSCRIBE_WEIGHTS_SHA256"]?.count == 64)
        #expect(map.metadata["LANDSCRIBE_PROMPTS"] == "building: building, roof; water: water, river; tree: tree")
        #expect(["onednn ", "openblas "].contains { map.metadata["LANDSCRIBE_MATRIX_BACKEND"]?.hasPrefix($0) == true })
        #expect(["avx512", "avx2+fma", "baseline"].contains(map.metadata["LANDSCRIBE_KERNELS"] ?? ""))
        let labels = try map.read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1])
        // The confidence is its own single-band file, never an Alpha band of the class map.
        let confidenceMap = try RasterDataset(path: dir.appendingPathComponent("lc.confidence.tif").path)
        #expect(confidenceMap.bandCount == 1 && confidenceMap.bands[0].colorInterpretation == "Gray" && confidenceMap.bands[0].nodata == 255)
        #expect(confidenceMap.geoTransform == input.geoTransform && confidenceMap.metadata(domain: "IMAGE_STRUCTURE")["LAYOUT"] == "COG")
        let confidence = try confidenceMap.read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1])
        for y in 0..<150 {
            for x in 0..<200 {
                let nodata = x < 40 && y < 30
                #expect((labels[y * 200 + x] == 255) == nodata)
                if !nodata { #expect(labels[y * 200 + x] < 3 && confidence[y * 200 + x] >= 20 && confidence[y * 200 + x] <= 100) }
            }
        }
        let p = try RasterDataset(path: probs)
        #expect(p.bandCount == 3 && p.bands[0].dataType == .float32 && p.bands[0].nodata == -1)
        // Float32 with the floating-point predictor (about half the size, docs/segment.md); class indexes without one.
        #expect(p.metadata(domain: "IMAGE_STRUCTURE")["PREDICTOR"] == "3" && map.metadata(domain: "IMAGE_STRUCTURE")["PREDICTOR"] == nil)
        let planes = try p.read(window: PixelWindow(col: 100, row: 100, width: 1, height: 1), bands: [1, 2, 3])
        #expect(planes.allSatisfy { $0 >= 0 && $0 <= 1 } && planes.max()! > 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: png)).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))

        // The QGIS style beside the map: a paletted renderer with each class's value, colour and name.
        let qml = try String(contentsOf: dir.appendingPathComponent("lc.qml"), encoding: .utf8)
        #expect(qml.contains("<rasterrenderer type=\"paletted\" band=\"1\""))
        let colors = map.colorTable(band: 1)
        for (i, name) in ["building", "water", "tree"].enumerated() {
            #expect(qml.contains("<paletteEntry value=\"\(i)\" color=\"\(colors[i].hex)\" alpha=\"255\" label=\"\(name)\"/>"), "\(qml)")
        }
        // The STAC item: classes with values, colours and counts, the outline in WGS 84, provenance.
        let item = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("lc.stac.json"))) as? [String: Any])
        #expect(item["type"] as? String == "Feature" && item["stac_version"] as? String == "1.0.0" && item["id"] as? String == "lc")
        // gdaltransform -s_srs EPSG:32632 -t_srs EPSG:4326 of the corners (500000, 5650000) and (500100, 5649925)
        let bbox = try #require(item["bbox"] as? [Double])
        for (got, want) in zip(bbox, [9, 51.0009002461317, 9.00142516683914, 51.0015746921996]) { #expect(abs(got - want) < 1e-7, "\(bbox)") }
        let geometry = try #require(item["geometry"] as? [String: Any])
        let ring = try #require((geometry["coordinates"] as? [[[Double]]])?.first)
        #expect(geometry["type"] as? String == "Polygon" && ring.first == ring.last && ring.count == 65)
        let assets = try #require(item["assets"] as? [String: Any])
        let classAsset = try #require(assets["classes"] as? [String: Any])
        #expect(classAsset["href"] as? String == "lc.tif")
        let stacClasses = try #require(classAsset["classification:classes"] as? [[String: Any]])
        #expect(stacClasses.map { $0["value"] as? Int } == [0, 1, 2, 255])
        #expect(stacClasses.map { $0["title"] as? String } == ["building", "water", "tree", "nodata"])
        #expect(stacClasses.prefix(3).enumerated().allSatisfy { i, c in c["color_hint"] as? String == colors[i].hex.dropFirst().uppercased() })
        #expect(zip(stacClasses.prefix(3), classes).allSatisfy { $0["count"] as? Int == $1["pixels"] as? Int })
        #expect((assets["confidence"] as? [String: Any])?["href"] as? String == "lc.confidence.tif")
        #expect((assets["style"] as? [String: Any])?["href"] as? String == "lc.qml")
        let properties = try #require(item["properties"] as? [String: Any])
        #expect(properties["proj:epsg"] as? Int == 32632 && properties["proj:shape"] as? [Int] == [150, 200])
        #expect((properties["landscribe:provenance"] as? [String: String])?["LANDSCRIBE_ROTATIONS"] == "0,90")
        #expect(properties["label:type"] as? String == "raster")
        // The category names stay in the PAM side file too.
        #expect(try String(contentsOfFile: out + ".aux.xml", encoding: .utf8).contains("<Category>water</Category>"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test("the style, STAC item and confidence beside a class map are refused when they exist, and may not be inputs")
    func sidecarsAtomic() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path
        let base = ["segment", scene, "-o", out, "--classes", "water; land", "--model", model, "--tile", "128", "--overlap", "32", "--rotations", "0", "--quiet"]
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        for side in ["lc.qml", "lc.stac.json", "lc.confidence.tif"] {
            let path = dir.appendingPathComponent(side)
            try Data("precious".utf8).write(to: path)
            let r = try CLI.run(base + ["--confidence"], environment: env)
            #expect(r.status == 1 && r.stderr.contains(side) && r.stderr.contains("--overwrite"), "\(r.stderr)")
            #expect(try Data(contentsOf: path) == Data("precious".utf8))
            #expect(!FileManager.default.fileExists(atPath: out))
            try FileManager.default.removeItem(at: path)
        }
        // An input may not be a side file either: the templates file 'p.qml' beside '-o p.tif'.
        let pipelineQML = dir.appendingPathComponent("p.qml")
        try Data("a photo of {}.\n".utf8).write(to: pipelineQML)
        let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("p.tif").path, "--classes", "water; land", "--model", model,
                             "--templates", pipelineQML.path], environment: env)
        #expect(r.status == 1 && r.stderr.contains("p.qml") && r.stderr.contains("style"), "\(r.stderr)")
        #expect(try Data(contentsOf: pipelineQML) == Data("a photo of {}.\n".utf8))
    }

    @Test("the area table: pixels, shares and areas on the ellipsoid in --json, --stats as CSV and JSON")
    func statistics() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        var tables: [String: String] = [:]
        var summaries: [[String: Any]] = []
        for ext in ["csv", "json"] {
            let stats = dir.appendingPathComponent("stats.\(ext)").path
            let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("lc-\(ext).tif").path, "--classes", "water; land; a, b", "--model", model,
                                 "--tile", "128", "--overlap", "32", "--rotations", "0", "--stats", stats, "--json"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == 0, "\(r.stderr)")
            tables[ext] = try String(contentsOfFile: stats, encoding: .utf8)
            summaries.append(try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]))
        }
        // 0.5 m pixels on UTM 32N's central meridian: 0.25 / 0.9996² m² each (k0 = 0.9996).
        let valid = 200 * 150 - 40 * 30, pixelArea = 0.25 / (0.9996 * 0.9996)
        let classes = try #require(summaries[0]["classes"] as? [[String: Any]])
        #expect(classes.map { $0["name"] as? String } == ["water", "land", "a"])
        let areas = classes.compactMap { $0["area_m2"] as? Double }, shares = classes.compactMap { $0["share"] as? Double }
        #expect(areas.count == 3 && abs(areas.reduce(0, +) - Double(valid) * pixelArea) < 1e-3, "\(areas)")
        #expect(shares.count == 3 && abs(shares.reduce(0, +) - 1) < 1e-12)
        for c in classes { #expect(abs((c["area_m2"] as? Double ?? 0) - Double(c["pixels"] as? Int ?? -1) * pixelArea) < 1e-4) }
        let lines = try #require(tables["csv"]).split(separator: "\n")
        #expect(lines.first == "class,value,pixels,share,area_m2,area_ha" && lines.count == 5)
        #expect(lines[1].hasPrefix("water,0,\(classes[0]["pixels"] as? Int ?? -1),"))
        #expect(lines.last?.hasPrefix("total,,\(valid),1.000000,\(String(format: "%.2f", Double(valid) * pixelArea)),") == true, "\(lines.last ?? "")")
        let jsonTable = try #require(tables["json"])
        let table = try #require(try JSONSerialization.jsonObject(with: Data(jsonTable.utf8)) as? [String: Any])
        let total = try #require(table["total"] as? [String: Any])
        #expect(total["pixels"] as? Int == valid && abs((total["area_ha"] as? Double ?? 0) - Double(valid) * pixelArea / 10_000) < 1e-7)
        #expect((table["classes"] as? [[String: Any]])?.map { $0["value"] as? Int } == [0, 1, 2])
    }

    @Test("--scale fixes the 16-bit stretch (the same tile reads the same from two scenes), --co reaches the COG writer")
    func gisControls() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir)
        // Two UInt16 scenes, the second with a bright corner that moves its percentiles.
        var scenes: [String] = []
        for bright in [false, true] {
            let path = dir.appendingPathComponent("u16-\(bright).tif").path
            SyntheticRaster.write(path: path, width: 200, height: 150, bands: 3, type: "UInt16") { b, x, y in
                bright && x >= 150 ? 60_000 : Double(1000 + (x * (b + 1) + y * 2) % 2000)
            }
            scenes.append(path)
        }
        var maps: [[Float]] = []
        for (i, scene) in scenes.enumerated() {
            let out = dir.appendingPathComponent("m\(i).tif").path
            let r = try CLI.run(["segment", scene, "-o", out, "--classes", "water; land; road", "--model", model, "--tile", "128", "--overlap", "32",
                                 "--rotations", "0", "--quiet", "--scale", "1000,3000", "--co", "COMPRESS=LZW"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == 0, "\(r.stderr)")
            let map = try RasterDataset(path: out)
            #expect(map.metadata(domain: "IMAGE_STRUCTURE")["COMPRESSION"] == "LZW")
            #expect(map.metadata["LANDSCRIBE_INPUT_SCALING"] == "1000.0..3000.0, 1000.0..3000.0, 1000.0..3000.0 -> 0..255 (fixed by --scale)")
            #expect(map.metadata["LANDSCRIBE_CREATION_OPTIONS"] == "COMPRESS=LZW")
            maps.append(try map.read(window: PixelWindow(col: 0, row: 0, width: 96, height: 150), bands: [1]))
        }
        // Columns 0-95 (the first column of tiles, before any overlap with the next) hold the same
        // values in both scenes: with a fixed stretch they map alike (with each scene's percentiles they do not).
        #expect(maps[0] == maps[1])
    }

    @Test("--aoi with a polygon file maps only the polygon: its bounding box is the grid, pixels outside it are nodata")
    func polygonAOI() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)  // UTM 32N, origin (500000, 5650000), 0.5 m pixels
        // A right triangle in the scene's CRS (the GeoJSON 2008 "crs" member): its right angle at the top right.
        let aoi = dir.appendingPathComponent("triangle.geojson")
        try Data("""
        {"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32632"}},"features":[{"type":"Feature","properties":{},
        "geometry":{"type":"Polygon","coordinates":[[[500010,5649990],[500060,5649990],[500060,5649940],[500010,5649990]]]}}]}
        """.utf8).write(to: aoi)
        let out = dir.appendingPathComponent("tri.tif").path
        let r = try CLI.run(["segment", scene, "-o", out, "--classes", "water; land", "--model", model, "--tile", "128", "--overlap", "32",
                             "--rotations", "0", "--aoi", aoi.path, "--quiet"], environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let map = try RasterDataset(path: out)
        #expect(map.width == 100 && map.height == 100)
        let classes = try map.read(window: PixelWindow(col: 0, row: 0, width: 100, height: 100), bands: [1])
        // Inside: the pixel centre right of the diagonal from the top left to the bottom right
        // corner; the scene's own nodata block (scene x < 40, y < 30: here x < 20, y < 10) stays nodata.
        var wrong = 0
        for y in 0..<100 {
            for x in 0..<100 where abs(x - y) > 1 && !(x < 20 && y < 10) { if (classes[y * 100 + x] == 255) == (x > y) { wrong += 1 } }
        }
        #expect(wrong == 0, "\(wrong) pixels away from the diagonal on the wrong side of the polygon")
    }

    @Test("a pipeline's gsd: hint resamples the scene, --gsd overrides it, a bad one names the key")
    func pipelineGSD() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)  // UTM 32N, 0.5 m pixels, 200 x 150
        func pipeline(_ gsd: String) throws -> String {
            let p = dir.appendingPathComponent("p\(gsd).yaml")
            try "name: gsd\nmodel: \(model)\ngsd: \(gsd)\ntiling: {size: 128, overlap: 32}\nrotations: [0]\nclasses:\n  - {name: water}\n  - {name: land}\n"
                .write(to: p, atomically: true, encoding: .utf8)
            return p.path
        }
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        for (args, pixel) in [(["--pipeline", try pipeline("1")], 1.0), (["--pipeline", try pipeline("1"), "--gsd", "2.5"], 2.5)] {
            let out = dir.appendingPathComponent("g\(Int(pixel)).tif").path
            let r = try CLI.run(["segment", scene, "-o", out, "--quiet"] + args, environment: env)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            let gt = try #require(try RasterDataset(path: out).geoTransform)
            #expect(gt.pixelWidth == pixel && gt.pixelHeight == -pixel, "\(args): \(gt)")
        }
        let bad = try pipeline("-1")
        let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("bad.tif").path, "--pipeline", bad], environment: env)
        #expect(r.status == 1 && r.stderr.contains("pipeline '\(bad)': gsd -1.0 must be a positive number of metres"), "\(r.stderr)")
    }

    @Test("--aoi crops the outputs on the scene's grid (a box in the scene's CRS, a vector file in WGS 84); --gsd maps on a resampled grid")
    func areaAndResolution() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        // The scene: UTM 32N, origin (500000, 5650000), 0.5 m pixels, 200 x 150.
        let lonLat = dir.appendingPathComponent("aoi.geojson")
        // (500020.2, 5649950.2)..(500060.2, 5649980.2) in UTM 32N, written as its lon/lat corners
        // (gdaltransform -s_srs EPSG:32632 -t_srs EPSG:4326): columns 40..121, rows 39..100 once rounded outward.
        try Data("""
        {"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[
        [9.000287881,51.001126865],[9.000857942,51.001126863],[9.000857947,51.001396638],[9.000287883,51.001396640],[9.000287881,51.001126865]]]}}]}
        """.utf8).write(to: lonLat)
        let cases: [([String], width: Int, height: Int, origin: (Double, Double), pixel: Double)] = [
            (["--aoi", "500010,5649940,500060,5649990"], 100, 100, (500010, 5649990), 0.5),
            (["--aoi", lonLat.path], 81, 61, (500020, 5649980.5), 0.5),
            (["--gsd", "1"], 100, 75, (500000, 5650000), 1),
        ]
        for (i, c) in cases.enumerated() {
            let out = dir.appendingPathComponent("v\(i).tif").path
            let r = try CLI.run(["segment", scene, "-o", out, "--classes", "water; land", "--model", model, "--tile", "128", "--overlap", "32",
                                 "--rotations", "0", "--quiet"] + c.0, environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == 0, "\(c.0): \(r.stderr)")
            let map = try RasterDataset(path: out)
            let gt = try #require(map.geoTransform)
            #expect(map.width == c.width && map.height == c.height, "\(c.0): \(map.width) x \(map.height)")
            #expect(abs(gt.originX - c.origin.0) < 1e-6 && abs(gt.originY - c.origin.1) < 1e-6 && gt.pixelWidth == c.pixel && gt.pixelHeight == -c.pixel, "\(c.0): \(gt)")
            #expect(map.spatialReference?.epsg == 32632 && map.metadata["LANDSCRIBE_SCENE"] == scene)
            #expect(map.metadata["LANDSCRIBE_VIEW"]?.contains(c.0[0] == "--gsd" ? "resampled to 1.0 m" : "aoi") == true)
        }
    }

    @Test("several scenes with --output-dir: each mapped with its sidecars, a bad one reported and skipped, exit 1; --fail-fast stops")
    func batch() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let second = dir.appendingPathComponent("second.tif").path, bad = dir.appendingPathComponent("bad.tif").path
        try FileManager.default.copyItem(atPath: scene, toPath: second)
        try Data("not a raster".utf8).write(to: URL(fileURLWithPath: bad))
        let folder = dir.appendingPathComponent("maps")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        let common = ["--output-dir", folder.path, "--classes", "water; land", "--model", model, "--tile", "128", "--overlap", "32", "--rotations", "0", "--confidence"]
        let r = try CLI.run(["segment", scene, bad, second] + common + ["--json"], environment: env)
        #expect(r.status == 1 && r.stderr.contains("bad.tif: cannot open") && r.stderr.contains("1 of 3 scenes failed"), "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let scenes = try #require(report["scenes"] as? [[String: Any]])
        #expect(scenes.map { $0["scene"] as? String } == [scene, bad, second])
        #expect(scenes.map { $0["error"] != nil } == [false, true, false])
        #expect(scenes.allSatisfy { $0["error"] != nil || (($0["summary"] as? [String: Any])?["tiles"] as? Int) == 4 })
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["scene.confidence.tif", "scene.qml", "scene.stac.json", "scene.tif", "scene.tif.aux.xml",
                          "second.confidence.tif", "second.qml", "second.stac.json", "second.tif", "second.tif.aux.xml"], "\(files)")
        // --fail-fast: the bad first scene stops the batch.
        let stopped = try CLI.run(["segment", bad, second] + common + ["--overwrite", "--fail-fast", "--quiet"], environment: env)
        #expect(stopped.status == 1 && stopped.stderr.split(separator: "\n").count == 1, "\(stopped.stderr)")
        // Usage: several scenes need --output-dir; per-run file options do not go with it; nor with detect's -o.
        for (args, message) in [(["segment", scene, second, "-o", dir.appendingPathComponent("x.tif").path], "--output-dir"),
                                (["segment", scene, "--output-dir", folder.path, "--preview", dir.appendingPathComponent("p.png").path], "--preview"),
                                (["detect", scene, second, "-o", dir.appendingPathComponent("o.geojson").path], "2 scenes: give --output-dir DIR instead of -o")] {
            let u = try CLI.run(args + ["--classes", "a; b", "--model", model], environment: env)
            #expect(u.status == 64 && u.stderr.contains(message), "\(args): \(u.stderr)")
        }
    }

    @Test("--probabilities-type byte: 0..250 with scale 1/250, within 1/500 of the Float32 probabilities, smaller")
    func byteProbabilities() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        var planes: [String: [Float]] = [:]
        for type in ["float32", "byte"] {
            let p = dir.appendingPathComponent("p-\(type).tif").path
            let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("m-\(type).tif").path, "--classes", "water; land; road", "--model", model,
                                 "--tile", "128", "--overlap", "32", "--rotations", "0", "--threads", "1", "--quiet", "--probabilities", p, "--probabilities-type", type],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == 0, "\(r.stderr)")
            let raster = try RasterDataset(path: p)
            #expect(raster.bands.allSatisfy { $0.dataType == (type == "byte" ? .byte : .float32) && $0.nodata == (type == "byte" ? 255 : -1) })
            planes[type] = try raster.read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1, 2, 3])
            if type == "byte" {
                let so = RasterProbe.scaleOffset(path: p, band: 2)
                #expect(so.scale == 1.0 / 250 && so.offset == 0)
            }
        }
        let f = try #require(planes["float32"]), b = try #require(planes["byte"])
        for i in f.indices {
            if f[i] < 0 { #expect(b[i] == 255) } else { #expect(abs(b[i] / 250 - f[i]) <= 1.0 / 500 + 1e-6, "pixel \(i): \(b[i]) against \(f[i])") }
        }
        let bad = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("x.tif").path, "--classes", "a; b", "--model", model, "--probabilities-type", "half"])
        #expect(bad.status == 64 && bad.stderr.contains("--probabilities-type"))
    }

    @Test("--vectors: every class as polygons, one per 8-connected region of the class map, in the scene's CRS, areas adding up")
    func vectors() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let map = dir.appendingPathComponent("lc.tif").path, vectors = dir.appendingPathComponent("lc.gpkg").path
        let r = try CLI.run(["segment", scene, "-o", map, "--classes", "water; land; road", "--model", model, "--tile", "128", "--overlap", "32",
                             "--rotations", "0", "--quiet", "--vectors", vectors, "--probabilities", dir.appendingPathComponent("p.tif").path],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let labels = try RasterDataset(path: map).read(window: PixelWindow(col: 0, row: 0, width: 200, height: 150), bands: [1])
        let regions = DetectCommandTests.components(labels, width: 200, height: 150, classes: [0, 1, 2])
        let (features, crs) = try VectorReader.read(path: vectors)
        #expect(regions > 0 && features.count == regions, "\(features.count) polygons, \(regions) regions")
        #expect(crs?.epsg == 32632)
        let names: Set<String> = Set(features.compactMap { f -> String? in
            if case .string(let s)? = f.properties["class"] { return s }
            return nil
        })
        #expect(names.isSubset(of: ["water", "land", "road"]) && !names.isEmpty)
        // Every valid pixel is in one polygon: 0.25 m² each (to about a pixel a polygon, from simplifying).
        let area = features.reduce(0.0) { sum, f in
            if case .real(let a)? = f.properties["area_m2"] { return sum + a }
            return sum
        }
        #expect(abs(area - Double(200 * 150 - 40 * 30) * 0.25) < Double(features.count) * 2, "\(area)")
        #expect(features.allSatisfy { $0.geometry.isValid })
    }

    @Test("after the last tile the progress line names each final write as it starts")
    func finalSteps() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("lc.tif").path, "--classes", "water; land", "--model", model,
                             "--tile", "128", "--overlap", "32", "--rotations", "0", "--probabilities", dir.appendingPathComponent("p.tif").path,
                             "--confidence", "--preview", dir.appendingPathComponent("lc.png").path],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let steps = r.stderr.split(separator: "\n").filter { $0.contains("writing ") }.map { String($0.split(separator: "writing ", maxSplits: 1)[1]) }
        #expect(steps == ["probabilities: COG copy and overviews", "confidence: COG copy and overviews", "class map: COG copy and overviews",
                          "style and STAC item", "preview"], "\(r.stderr)")
        #expect(r.stderr.contains("tiles 4/4  writing class map"))
    }

    @Test("peak_memory_bytes is the run's own: a large process that starts landscribe does not lend it its size")
    func peakMemoryIsTheRunsOwn() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        // The kernel carries getrusage's ru_maxrss over exec: a child started by this test
        // process (hundreds of MB while the suites run) reported at least the runner's size,
        // and a run's peak grew with whatever the parent held (seen in CI as +92 MB between two
        // otherwise equal runs). This process holds 1 GiB, touched, while the run goes.
        let ballast = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 30, alignment: 4096)
        defer { ballast.deallocate() }
        ballast.initializeMemory(as: UInt8.self, repeating: 1)
        let r = try CLI.run(["segment", scene, "-o", dir.appendingPathComponent("lc.tif").path, "--classes", "water; land", "--model", model,
                             "--tile", "128", "--overlap", "32", "--json"],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        try #require(r.status == 0, "\(r.stderr)")
        let peak = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])["peak_memory_bytes"] as? Int
        #expect(ballast.allSatisfy { $0 == 1 })
        // The tiny model's run needs a few hundred MB at most (libraries, GDAL's cache, the model).
        #expect(peak.map { $0 > 10_000_000 && $0 < 1 << 29 } == true, "peak \(String(describing: peak)) bytes")
    }

    @Test("an existing output is refused before any work, and kept; a bad option names itself; nothing is left behind")
    func refusals() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.tinyModel(in: dir), scene = Self.scene(in: dir)
        let out = dir.appendingPathComponent("lc.tif")
        try Data("precious".utf8).write(to: out)
        let emptyModel = dir.appendingPathComponent("empty-model")
        try FileManager.default.createDirectory(at: emptyModel, withIntermediateDirectories: true)
        let base = ["segment", scene, "-o", out.path, "--model", model, "--tile", "128", "--overlap", "32"]
        let cases: [([String], String)] = [
            (base + ["--classes", "water; land"], "--overwrite"),
            (base + ["--classes", "water; land", "--overwrite", "--bands", "1,2,9"], "--bands"),
            (base + ["--classes", "water; land", "--overwrite", "--rotations", "45"], "--rotations"),
            (base + ["--classes", "water; land", "--overwrite", "--templates", "nonsense"], "--templates"),
            (base + ["--pipeline", dir.appendingPathComponent("missing.yaml").path, "--overwrite"], "missing.yaml"),
            (["segment", dir.appendingPathComponent("nothing.tif").path, "-o", dir.appendingPathComponent("x.tif").path, "--classes", "a; b", "--model", model], "nothing.tif"),
            (["segment", scene, "-o", dir.appendingPathComponent("x.tif").path, "--classes", "a; b", "--model", emptyModel.path], "config.json"),
        ]
        for (args, named) in cases {
            let r = try CLI.run(args, environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == 1 && r.stderr.contains(named) && r.stderr.split(separator: "\n").count == 1, "\(args.suffix(4)): \(r.stderr)")
        }
        #expect(try Data(contentsOf: out) == Data("precious".utf8))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") || $0 == "x.tif" }
        #expect(left.isEmpty, "\(left)")
    }
}

@Suite("landscribe model inspect")
struct InspectCommandTests {
    @Test("architecture and parameter count of the tiny fixture model")
    func inspect() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let r = try CLI.run(["model", "inspect", model, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        // sum(p.numel() for p in transformers.CLIPModel.from_pretrained(tiny).parameters())
        #expect(j["parameters"] as? Int == 1_416_985)
        #expect((j["vision"] as? [String: Any])?["patch_size"] as? Int == 16)
        #expect(j["projection_dim"] as? Int == 32)
        let missing = try CLI.run(["model", "inspect", dir.path])
        #expect(missing.status == 1 && missing.stderr.contains("config.json"))
    }
}
