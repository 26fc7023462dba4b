// METHOD.md section 10's exemplar file: reading, CRS transformation, windows, and the bad
// inputs of issue 16, each with the message a user sees.
import Foundation
import GeoIO
@testable import Pipeline
import Segmentation
import TestSupport
import Testing

@Suite("Exemplar polygons")
struct ExemplarTests {
    static let classes = ["building", "road", "farmland"]

    /// A 200 x 160 scene in EPSG:3857, 10 m pixels, origin (1,000,000, 6,000,000).
    static func mercatorScene(_ folder: URL) throws -> RasterDataset {
        let path = folder.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: path, width: 200, height: 160, crs: "EPSG:3857", geoTransform: [1_000_000, 10, 0, 6_000_000, 0, -10]) { b, x, y in
            Double((x * 3 + y * 5 + b * 40) % 256)
        }
        return try RasterDataset(path: path)
    }

    /// Longitude and latitude (degrees) of scene pixel (x, y), by the spherical Mercator formulas.
    static func lonLat(_ x: Double, _ y: Double) -> (Double, Double) {
        let r = 6_378_137.0
        let (e, n) = (1_000_000 + 10 * x, 6_000_000 - 10 * y)
        return (e / r * 180 / .pi, (2 * atan(exp(n / r)) - .pi / 2) * 180 / .pi)
    }

    static func ring(_ points: [(Double, Double)], lonLat: Bool) -> String {
        let p = (points + [points[0]]).map { lonLat ? Self.lonLat($0.0, $0.1) : $0 }
        return "[[" + p.map { "[\($0.0), \($0.1)]" }.joined(separator: ", ") + "]]"
    }

    /// A GeoJSON file of features (class or nil, geometry JSON).
    static func geojson(_ folder: URL, _ features: [(String?, String)], name: String = "exemplars.geojson") -> String {
        let items = features.map { c, g in
            "{\"type\": \"Feature\", \"properties\": {\(c.map { "\"class\": \"\($0)\"" } ?? "\"other\": 1")}, \"geometry\": \(g)}"
        }
        let path = folder.appendingPathComponent(name).path
        try! "{\"type\": \"FeatureCollection\", \"features\": [\(items.joined(separator: ", "))]}".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func polygon(_ points: [(Double, Double)], lonLat: Bool = true) -> String {
        "{\"type\": \"Polygon\", \"coordinates\": \(ring(points, lonLat: lonLat))}"
    }

    func load(_ path: String, _ scene: RasterDataset, pixels: Bool = false) throws -> ExemplarSet {
        try ExemplarSet.load(ExemplarSettings(file: path, pixelCoordinates: pixels), scene: SceneGrid(scene), classNames: Self.classes)
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    @Test("polygons in EPSG:4326 land on the scene's pixels (EPSG:3857); classes match case-insensitively")
    func crsTransform() throws {
        let folder = SyntheticRaster.temporaryFolder()
        let scene = try Self.mercatorScene(folder)
        let path = Self.geojson(folder, [("Road", Self.polygon([(20, 30), (60, 30), (60, 70), (20, 70)])),
                                         ("FARMLAND", "{\"type\": \"MultiPolygon\", \"coordinates\": [\(Self.ring([(100, 10), (120, 10), (120, 20)], lonLat: true))]}")])
        let set = try load(path, scene)
        #expect(set.exemplars.map(\.classIndex) == [1, 2])
        #expect(set.skipped.isEmpty)
        let e = set.exemplars[0].geometry.envelope
        for (got, want) in [(e.minX, 20.0), (e.maxX, 60), (e.minY, 30), (e.maxY, 70)] { #expect(abs(got - want) < 1e-6, "\(got) vs \(want)") }
    }

    @Test("the window of METHOD.md 10.1: centred on the bounding box, clamped at the scene's edges")
    func window() {
        #expect(ExemplarSet.window(centreX: 100.7, centreY: 80.2, tile: 64, width: 200, height: 160) == PixelWindow(col: 68, row: 48, width: 64, height: 64))
        #expect(ExemplarSet.window(centreX: 3, centreY: 159, tile: 64, width: 200, height: 160) == PixelWindow(col: 0, row: 96, width: 64, height: 64))
        #expect(ExemplarSet.window(centreX: 199.5, centreY: 10, tile: 512, width: 200, height: 160) == PixelWindow(col: 0, row: 0, width: 200, height: 160),
                "a scene smaller than a tile: the whole scene")
        // Found by FuzzExemplars: a centre beyond Int's range trapped in the conversion.
        #expect(ExemplarSet.window(centreX: 5e299, centreY: -1e300, tile: 64, width: 200, height: 160) == PixelWindow(col: 136, row: 0, width: 64, height: 64))
        #expect(ExemplarSet.window(centreX: .nan, centreY: .infinity, tile: 64, width: 200, height: 160) == PixelWindow(col: 0, row: 96, width: 64, height: 64))
    }

    /// Found by FuzzExemplars (a mutated FlatGeobuf): coordinates far beyond the scene's grid.
    @Test("a polygon with coordinates beyond any grid is skipped, not a trap")
    func hugeCoordinates() throws {
        let folder = SyntheticRaster.temporaryFolder()
        let path = folder.appendingPathComponent("plain.tif").path
        SyntheticRaster.write(path: path, width: 64, height: 48, crs: nil, geoTransform: nil) { _, x, _ in Double(x) }
        let scene = try RasterDataset(path: path)
        let file = Self.geojson(folder, [("road", Self.polygon([(10, 10), (5e299, 10), (5e299, 1e300)], lonLat: false)),
                                         ("road", Self.polygon([(4, 4), (20, 4), (20, 30)], lonLat: false))])
        let set = try load(file, scene, pixels: true)
        #expect(set.exemplars.count == 1)
        #expect(set.skipped.map(\.reason) == ["coordinates out of range on the scene's grid"])
    }

    @Test("GDAL's rasterizer marks the pixels whose centre is inside the polygon")
    func rasterizedPixelCentres() throws {
        let g = try Geometry(polygon: [[(x: 1.4, y: 1.6), (x: 3.2, y: 1.6), (x: 3.2, y: 2.7), (x: 1.4, y: 2.7)]])
        let mask = try g.rasterized(window: PixelWindow(col: 0, row: 0, width: 5, height: 4))
        // pixel centres x 1.5 and 2.5 (3.5 is past 3.2), y 2.5 only (1.5 is above 1.6): pixels (1, 2) and (2, 2)
        let inside = mask.indices.filter { mask[$0] != 0 }.map { ($0 % 5, $0 / 5) }
        #expect(inside.map(\.0) == [1, 2] && inside.allSatisfy { $0.1 == 2 }, "\(inside) \(mask)")
        let shifted = try g.rasterized(window: PixelWindow(col: 1, row: 2, width: 2, height: 1))
        #expect(shifted == [1, 1], "the window's offset is honoured")
    }

    @Test("bad features are skipped, each with a reason naming it; a repairable bow-tie is kept")
    func skipped() throws {
        let folder = SyntheticRaster.temporaryFolder()
        let scene = try Self.mercatorScene(folder)
        let path = Self.geojson(folder, [
            ("buildng", Self.polygon([(20, 30), (60, 30), (60, 70)])),
            ("road", "{\"type\": \"Point\", \"coordinates\": [9.0, 47.0]}"),
            ("road", Self.polygon([(300, 30), (360, 30), (360, 70)])),
            (nil, Self.polygon([(20, 30), (60, 30), (60, 70)])),
            ("farmland", Self.polygon([(10, 10), (50, 50), (50, 10), (10, 50)])),   // a bow-tie
            ("road", "{\"type\": \"Polygon\", \"coordinates\": []}"),
        ])
        let set = try load(path, scene)
        #expect(set.exemplars.map(\.label) == ["feature 5 (FID 4)"])
        #expect(set.exemplars[0].geometry.isValid)
        #expect(set.skipped.map(\.reason) == [
            "class 'buildng' is not a pipeline class with prompts; did you mean 'building'?",
            "a Point, not a polygon",
            "outside the scene",
            "no class",
            "no geometry",                 // OGR reads a Polygon without coordinates as no geometry
        ])
        #expect(set.skipped.map(\.feature) == ["feature 1 (FID 0)", "feature 2 (FID 1)", "feature 3 (FID 2)", "feature 4 (FID 3)", "feature 6 (FID 5)"])
    }

    @Test("files that cannot serve are errors naming the file and the problem")
    func errors() throws {
        let folder = SyntheticRaster.temporaryFolder()
        let scene = try Self.mercatorScene(folder)
        let missing = folder.appendingPathComponent("none.geojson").path
        #expect(message { try load(missing, scene) } == "exemplars: cannot open '\(missing)': no such file")
        let empty = Self.geojson(folder, [], name: "empty.geojson")
        #expect(message { try load(empty, scene) } == "exemplars '\(empty)': the file has no features")
        let noClass = folder.appendingPathComponent("noclass.geojson").path
        try "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"properties\": {\"kind\": \"road\"}, \"geometry\": \(Self.polygon([(1, 1), (9, 1), (9, 9)]))}]}"
            .write(toFile: noClass, atomically: true, encoding: .utf8)
        #expect(message { try load(noClass, scene) } == "exemplars '\(noClass)': no attribute 'class' naming each polygon's class (fields: kind)")
        let useless = Self.geojson(folder, [("water", Self.polygon([(1, 1), (9, 1), (9, 9)])), ("road", Self.polygon([(-90, 1), (-80, 1), (-80, 9)]))], name: "useless.geojson")
        #expect(message { try load(useless, scene) }
                == "exemplars '\(useless)': none of the 2 features is usable (feature 1 (FID 0): class 'water' is not a pipeline class with prompts (classes: building, road, farmland); feature 2 (FID 1): outside the scene)")
        let text = folder.appendingPathComponent("notes.txt").path
        try "not vector data".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(message { try load(text, scene) } == "exemplars: cannot open '\(text)': not a vector file GDAL recognises")
    }

    @Test("a scene without CRS: refused, unless the polygons are pixel coordinates")
    func noCRS() throws {
        let folder = SyntheticRaster.temporaryFolder()
        let path = folder.appendingPathComponent("plain.tif").path
        SyntheticRaster.write(path: path, width: 64, height: 48, crs: nil, geoTransform: nil) { _, x, _ in Double(x) }
        let scene = try RasterDataset(path: path)
        let file = Self.geojson(folder, [("road", Self.polygon([(4, 4), (20, 4), (20, 30)], lonLat: false))])
        #expect(message { try load(file, scene) }.hasSuffix("has no CRS or georeferencing, so polygons cannot be placed on it; detect --pixel-coordinates reads them as pixel coordinates"))
        let set = try load(file, scene, pixels: true)
        let e = set.exemplars[0].geometry.envelope
        #expect(e.minX == 4 && e.maxX == 20 && e.minY == 4 && e.maxY == 30)
    }

    @Test("pipeline keys dec and exemplars: defaults, a path relative to the pipeline, strict keys")
    func pipelineKeys() throws {
        let s = try SegmentSettings.parse(yaml: "classes: [{name: road}, {name: water}]\ndec: {}\nexemplars: {file: ex/polys.gpkg, weight: 2.5}\n", path: "/data/p.yaml")
        #expect(s.decKeep == ChannelSelection.defaultKeep)
        #expect(s.exemplars == ExemplarSettings(file: "/data/ex/polys.gpkg", weight: 2.5))
        let plain = try SegmentSettings.parse(yaml: "classes: [{name: road}, {name: water}]\n", path: "p.yaml")
        #expect(plain.decKeep == nil && plain.exemplars == nil, "both off by default")
        #expect(message { try SegmentSettings.parse(yaml: "classes: [{name: road}, {name: water}]\nexemplars: {file: a.geojson, wieght: 2}\n", path: "p.yaml") }
                == "pipeline 'p.yaml': unknown key 'exemplars.wieght'; did you mean 'exemplars.weight'?")
        #expect(message { try SegmentSettings.parse(yaml: "classes: [{name: road}, {name: water}]\ndec: {keep: 0}\n", path: "p.yaml") }
                == "pipeline 'p.yaml': dec keep 0.0 must be more than 0 and at most 1")
        #expect(message { try SegmentSettings.parse(yaml: "classes: [{name: road}]\ndec: {keep: 0.5}\n", path: "p.yaml") }
                == "pipeline 'p.yaml': dec (keep 0.5) compares the text queries and needs at least two; there is one")
    }

    @Test("no output may replace the exemplar file")
    func exemplarFileIsAnInput() async throws {
        let folder = SyntheticRaster.temporaryFolder()
        _ = try Self.mercatorScene(folder)
        let file = Self.geojson(folder, [("road", Self.polygon([(20, 30), (60, 30), (60, 70)]))])
        var settings = SegmentSettings()
        try settings.setClasses("road; building")
        settings.exemplars = ExemplarSettings(file: file)
        let scene = folder.appendingPathComponent("scene.tif").path
        do {
            _ = try await SceneMapper().detect(DetectRequest(scene: scene, settings: settings, geojson: file, overwrite: true))
            Issue.record("an output on the exemplar file was accepted")
        } catch {
            #expect("\(error)".contains("is the exemplar file '\(file)'; inputs are never written"), "\(error)")
        }
    }
}
