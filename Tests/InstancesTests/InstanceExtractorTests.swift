import Foundation
import GeoIO
import Instances
import TestSupport
import Testing

/// A 1100 x 1100 class map with known objects. Classes: 0 background, 1 building, 2 tank,
/// 3 water (not an instance class). The labeller runs in strips of 256 rows (boundaries at rows
/// 256, 512, 768, 1024); 512 is also a tile border of `segment`.
enum Scene {
    static let size = 1100
    static let names = ["background", "building", "tank", "water"]

    static func inRect(_ x: Int, _ y: Int, _ x0: Int, _ x1: Int, _ y0: Int, _ y1: Int) -> Bool {
        x >= x0 && x < x1 && y >= y0 && y < y1
    }

    /// The disc: pixel centres within 60 px of (300, 512); straddles row 512.
    static func inDisc(_ x: Int, _ y: Int) -> Bool {
        let dx = Double(x) + 0.5 - 300, dy = Double(y) + 0.5 - 512
        return dx * dx + dy * dy <= 60 * 60
    }

    /// Class of pixel (x, y).
    static func value(_ x: Int, _ y: Int) -> Double {
        if y < 20 { return 3 }                                     // water stripe, not an object
        if x < 5 && y > 1000 { return 255 }                        // nodata
        if inDisc(x, y) { return 2 }                               // tank disc across row 512
        if inRect(x, y, 600, 700, 200, 320) { return 1 }           // rectangle across row 256
        if inRect(x, y, 100, 200, 700, 800) && !inRect(x, y, 130, 150, 730, 760) { return 1 } // hole of 20 x 30
        if inRect(x, y, 800, 820, 600, 620) || inRect(x, y, 820, 840, 620, 640) { return 1 } // touch at a corner
        if inRect(x, y, 1050, 1100, 1050, 1100) { return 2 }       // at the scene's edge
        if inRect(x, y, 50, 53, 50, 53) { return 1 }               // 9 pixels: for --min-area
        if inRect(x, y, 400, 450, 900, 950) { return 1 }           // two classes side by side:
        if inRect(x, y, 450, 500, 900, 950) { return 2 }           // two objects
        if inRect(x, y, 900, 910, 700, 800) || inRect(x, y, 940, 950, 700, 800) || inRect(x, y, 900, 950, 790, 800) {
            return 1                                               // U whose arms join below row 768
        }
        return 0
    }

    /// The probability field given to every class band.
    static func probability(_ x: Int, _ y: Int) -> Double { 0.3 + 0.6 * Double((x * 7 + y * 3) % 11) / 10 }

    /// Expected objects: class, pixel area (holes excluded), a pixel inside, analytic area in px.
    static let expected: [(cls: Int, pixels: Int, inside: (Int, Int), analytic: Double)] = [
        (1, 12000, (650, 250), 12000),
        (2, 11304, (300, 512), Double.pi * 3600),
        (1, 9400, (110, 710), 9400),
        (1, 800, (810, 610), 800),
        (1, 9, (51, 51), 9),
        (1, 2500, (420, 920), 2500),
        (2, 2500, (470, 920), 2500),
        (1, 2300, (905, 750), 2300),
        (2, 2500, (1075, 1075), 2500),
    ]

    /// Mean of the probability field over the 8-connected component containing `inside`.
    static func expectedScore(_ inside: (Int, Int)) -> Double {
        let c = value(inside.0, inside.1)
        var seen = Set<Int>(), stack = [inside.1 * size + inside.0], sum = 0.0
        seen.insert(stack[0])
        while let i = stack.popLast() {
            let x = i % size, y = i / size
            sum += probability(x, y)
            for dy in -1...1 { for dx in -1...1 {
                let nx = x + dx, ny = y + dy
                guard nx >= 0, ny >= 0, nx < size, ny < size, value(nx, ny) == c else { continue }
                if seen.insert(ny * size + nx).inserted { stack.append(ny * size + nx) }
            } }
        }
        return sum / Double(seen.count)
    }

    static func write(dir: URL, crs: String?, geoTransform: [Double]?, probabilities: Bool = true) -> (map: String, probs: String?) {
        let map = dir.appendingPathComponent("classes.tif").path
        SyntheticRaster.write(path: map, width: size, height: size, bands: 1, crs: crs, geoTransform: geoTransform, nodata: 255) { _, x, y in value(x, y) }
        guard probabilities else { return (map, nil) }
        let probs = dir.appendingPathComponent("probs.tif").path
        SyntheticRaster.write(path: probs, width: size, height: size, bands: 4, type: "Float32", crs: crs, geoTransform: geoTransform) { _, x, y in probability(x, y) }
        return (map, probs)
    }

    /// UTM 32N, 1 m pixels, placed so that pixel corner (600, 200) (the rectangle's top-left
    /// corner) is E 714984.2367, N 5542944.0186 = lon 12, lat 50 (PROJ's cs2cs).
    static let utm = [714984.2367 - 600, 1, 0, 5542944.0186 + 200, 0, -1]
    /// WGS 84 degrees, 1e-5 degree pixels, top-left corner at lon 12, lat 50.
    static let geographic = [12.0, 1e-5, 0, 50.0, 0, -1e-5]
}

/// The features of a GeoJSON file, read as plain JSON (independently of OGR).
func geoJSONFeatures(_ path: String) throws -> [[String: Any]] {
    let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
    return try #require(object?["features"] as? [[String: Any]])
}

/// All [x, y] positions of a GeoJSON Polygon or MultiPolygon geometry.
func positions(_ feature: [String: Any]) -> [(Double, Double)] {
    func walk(_ any: Any) -> [(Double, Double)] {
        if let p = any as? [Double], p.count >= 2 { return [(p[0], p[1])] }
        if let list = any as? [Any] { return list.flatMap(walk) }
        return []
    }
    return walk((feature["geometry"] as? [String: Any])?["coordinates"] ?? [])
}

@Suite("Objects from class maps")
struct InstanceExtractorTests {
    func extract(_ dir: URL, _ inputs: (map: String, probs: String?), options: ExtractionOptions = ExtractionOptions(), gpkg: Bool = false) throws -> (ExtractionSummary, String) {
        let out = dir.appendingPathComponent("objects.geojson").path
        var o = options
        o.stripRows = 256
        let summary = try InstanceExtractor(options: o).extract(
            classMap: inputs.map, probabilities: inputs.probs, classNames: Scene.names, instanceClasses: [1, 2],
            geojson: out, gpkg: gpkg ? dir.appendingPathComponent("objects.gpkg").path : nil, overwrite: false)
        return (summary, out)
    }

    @Test("UTM scene: counts, classes, scores, areas, validity, lon/lat placement, no temporary files")
    func utm() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = Scene.write(dir: dir, crs: "EPSG:32632", geoTransform: Scene.utm)
        let (summary, out) = try extract(dir, inputs, gpkg: true)

        #expect(summary.components == 9)
        #expect(summary.objects.count == 9)
        #expect(summary.perClass == [.init(name: "building", objects: 6), .init(name: "tank", objects: 3)])
        let features = try geoJSONFeatures(out)
        #expect(features.count == 9)
        // Objects are numbered in order of their first pixel, row by row.
        let order = [(1, 9), (1, 12000), (2, 11304), (1, 800), (1, 9400), (1, 2300), (1, 2500), (2, 2500), (2, 2500)]
        #expect(summary.objects.map { [$0.classIndex, $0.pixels] } == order.map { [$0.0, $0.1] })
        #expect(summary.objects.map(\.id) == Array(1...9))

        for e in Scene.expected {
            let candidates = summary.objects.filter { $0.classIndex == e.cls && $0.pixels == e.pixels }
            let o = try #require(candidates.first, "no object of class \(e.cls) with \(e.pixels) pixels")
            // Area: within one pixel times the perimeter of the analytic shape (1 m pixels).
            let perimeter = e.analytic == Double.pi * 3600 ? 2 * Double.pi * 60 : 4 * e.analytic.squareRoot()
            let area = try #require(o.areaM2)
            #expect(abs(area - e.analytic) <= perimeter, "area \(area) vs \(e.analytic)")
            // Two tanks have 2500 pixels: one of the candidates has the object's mean probability.
            let expectedScore = Scene.expectedScore(e.inside)
            #expect(candidates.contains { abs(($0.score ?? -1) - expectedScore) < 1e-5 }, "\(e.pixels) pixels: scores \(candidates.map(\.score)) vs \(expectedScore)")
        }
        // Rectangles keep their exact area through simplification (1 m x 1 m pixels, UTM scale
        // factor ~0.9997 near E 715 km makes the ellipsoidal area a little larger).
        let rect = try #require(summary.objects.first { $0.pixels == 12000 })
        #expect(abs(try #require(rect.areaM2) - 12000) < 12000 * 2e-3)
        #expect(rect.areaPixels == 12000)
        let holed = try #require(summary.objects.first { $0.pixels == 9400 })
        #expect(holed.areaPixels == 9400, "the hole is kept")

        // GeoJSON: properties, 7 decimals, the rectangle's corner at lon 12, lat 50.
        let rectFeature = try #require(features.first { ($0["properties"] as? [String: Any])?["pixels"] as? Int == 12000 })
        let props = try #require(rectFeature["properties"] as? [String: Any])
        #expect(props["class"] as? String == "building")
        #expect(Set(props.keys) == ["id", "class", "score", "area_m2", "pixels"])
        let pts = positions(rectFeature)
        #expect(pts.contains { abs($0.0 - 12) < 2e-7 && abs($0.1 - 50) < 2e-7 }, "\(pts)")
        #expect(pts.allSatisfy { $0.0 >= 12 - 1e-4 && $0.0 < 12.002 && $0.1 <= 50.0001 && $0.1 > 49.998 })

        // Polygons read back through OGR are valid, in both outputs.
        let json = try VectorReader.read(path: out)
        #expect(json.features.count == 9 && json.features.allSatisfy { $0.geometry.isValid })
        #expect(json.crs?.epsg == 4326)
        let diagonal = try #require(json.features.first { $0.properties["pixels"] == .integer(800) })
        #expect(diagonal.geometry.polygons.count == 2, "squares touching at a corner: one object, two polygons")
        let gpkg = try VectorReader.read(path: dir.appendingPathComponent("objects.gpkg").path)
        #expect(gpkg.crs?.epsg == 32632)
        #expect(gpkg.features.count == 9 && gpkg.features.allSatisfy { $0.geometry.isValid })
        let gpkgRect = try #require(gpkg.features.first { $0.properties["pixels"] == .integer(12000) })
        #expect(abs(gpkgRect.geometry.envelope.minX - 714984.2367) < 1e-3 && abs(gpkgRect.geometry.envelope.maxY - 5542944.0186) < 1e-3)
        #expect(abs(gpkgRect.geometry.planarArea - 12000) < 1e-6)

        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == ["classes.tif", "objects.geojson", "objects.gpkg", "probs.tif"], "left behind: \(files)")
    }

    @Test("geographic scene: areas in square metres on the ellipsoid, never square degrees")
    func geographic() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (summary, out) = try extract(dir, Scene.write(dir: dir, crs: "EPSG:4326", geoTransform: Scene.geographic))
        #expect(summary.objects.count == 9)
        // Expected: the rectangle spans 100 x 120 pixels of 1e-5 degrees from lat 50 - 200e-5.
        // Small-rectangle area on the WGS 84 ellipsoid: M dphi * N cos(phi) dlambda.
        let a = 6_378_137.0, f = 1 / 298.257223563, e2 = f * (2 - f)
        let phi = (50 - 260e-5) * Double.pi / 180
        let w = 1 - e2 * sin(phi) * sin(phi)
        let m = a * (1 - e2) / pow(w, 1.5), n = a / w.squareRoot()
        let rad = Double.pi / 180
        let expected = m * (120e-5 * rad) * n * cos(phi) * (100e-5 * rad)
        let rect = try #require(summary.objects.first { $0.pixels == 12000 })
        let area = try #require(rect.areaM2)
        #expect(abs(area - expected) / expected < 1e-4, "area \(area) m² vs \(expected) m²")
        #expect(area > 8000 && area < 10000, "about 0.72 m x 1.11 m per pixel")
        let features = try geoJSONFeatures(out)
        let feature = try #require(features.first { ($0["properties"] as? [String: Any])?["pixels"] as? Int == 12000 })
        #expect(positions(feature).contains { abs($0.0 - 12.006) < 2e-7 && abs($0.1 - 49.998) < 2e-7 })
        #expect(try VectorReader.read(path: out).features.allSatisfy { $0.geometry.isValid })
    }

    @Test("minimum area drops small objects after measuring; holes can be filled")
    func filters() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = Scene.write(dir: dir, crs: "EPSG:32632", geoTransform: Scene.utm, probabilities: false)
        let (summary, out) = try extract(dir, inputs, options: ExtractionOptions(minArea: 1000, fillHolesBelow: 601))
        #expect(summary.components == 9 && summary.belowMinArea == 2, "9 and 800 m² objects dropped")
        #expect(summary.objects.count == 7 && !summary.objects.contains { $0.pixels < 1000 })
        #expect(summary.objects.allSatisfy { $0.score == nil }, "no probabilities: no score")
        let holed = try #require(summary.objects.first { $0.pixels == 9400 })
        #expect(holed.areaPixels == 10000, "a 600-pixel hole is filled below 601")
        let props = try #require(try geoJSONFeatures(out).first?["properties"] as? [String: Any])
        #expect(props["score"] is NSNull)
        #expect(summary.objects.map(\.id) == Array(1...7), "ids are consecutive after filtering")
    }

    @Test("a scene without CRS: an error naming the flag, or pixel coordinates (y = -row) with it")
    func noCRS() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = Scene.write(dir: dir, crs: nil, geoTransform: nil)
        let error = try #require(throws: GeoIOError.self) { try extract(dir, inputs) }
        #expect(error.kind == .noGeoreferencing && error.message.contains("classes.tif"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["classes.tif", "probs.tif"])
        let (summary, out) = try extract(dir, inputs, options: ExtractionOptions(pixelCoordinates: true))
        #expect(summary.objects.count == 9 && summary.objects.allSatisfy { $0.areaM2 == nil })
        let f = try #require(try geoJSONFeatures(out).first { ($0["properties"] as? [String: Any])?["pixels"] as? Int == 12000 })
        // QGIS's convention for a raster without georeferencing: x = column, y = -row.
        #expect(Set(positions(f).map { [$0.0, $0.1] }) == [[600, -200], [700, -200], [700, -320], [600, -320]])
        // An existing output is refused without overwrite.
        let again = try #require(throws: OutputError.self) { try extract(dir, inputs, options: ExtractionOptions(pixelCoordinates: true)) }
        #expect(again.kind == .exists)
    }
}

@Suite("Component labelling in strips")
struct ComponentLabelerTests {
    @Test("a 2000 x 20000 map: buffers follow the width and the strip, not the height")
    func boundedMemory() {
        let width = 2000, height = 20000, strip = 256
        let labeler = ComponentLabeler(width: width, instanceClasses: [1])
        // A bar through every strip, a square every 300 rows, and a staircase of pixels that
        // touch only at corners (one object) crossing several strip boundaries.
        func cls(_ x: Int, _ y: Int) -> UInt8 {
            if x >= 10 && x < 20 { return 1 }
            if x >= 100 && x < 110 && y % 300 < 10 { return 1 }
            if y >= 500 && y < 1500 && x == 500 + (y - 500) { return 1 }
            return 0
        }
        var maxCapacity = 0
        for row in stride(from: 0, to: height, by: strip) {
            let rows = min(strip, height - row)
            var classes = [UInt8](repeating: 0, count: rows * width)
            for y in 0..<rows { for x in 0..<width { classes[y * width + x] = cls(x, row + y) } }
            labeler.add(strip: classes)
            maxCapacity = max(maxCapacity, labeler.stripBufferCapacities.max()!)
        }
        labeler.finish()
        // One label per pixel of a strip at most (plus the allocator's page rounding of capacities).
        #expect(maxCapacity <= width * strip * 101 / 100, "largest strip buffer \(maxCapacity)")
        let squares = (0..<height).filter { $0 % 300 == 0 }.count
        #expect(labeler.objects.count == 1 + squares + 1)
        #expect(labeler.objects[0].pixels == 10 * height, "the bar is one object across \(height / strip + 1) strips")
        #expect(labeler.objects.contains { $0.pixels == 1000 }, "the diagonal staircase is one object")
    }

    @Test("relabelling gives the same object in every strip it crosses")
    func relabel() {
        // 6 x 6, strips of 2 rows:      ids expected:
        //   1 . . . 1 .                 1 . . . 1 .
        //   1 . . 1 . .                 1 . . 1 . .
        //   1 . 1 . . 2                 1 . 1 . . 2
        //   . 1 . . . 2                 . 1 . . . 2
        //   . . . . . .                 . . . . . .
        //   2 2 . . . .                 3 3 . . . .
        // The diagonal crosses the strip boundary at (3, 1)-(2, 2) and meets the left column at
        // (1, 3)-(0, 2): one object of 7 pixels; the two class-2 pairs are two objects.
        let map: [UInt8] = [1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 2, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]
        let labeler = ComponentLabeler(width: 6, instanceClasses: [1, 2])
        for s in 0..<3 { labeler.add(strip: Array(map[(s * 12)..<(s * 12 + 12)])) }
        labeler.finish()
        #expect(labeler.objects.map(\.pixels) == [7, 2, 2])
        #expect(labeler.objects.map(\.classIndex) == [1, 2, 2])
        let ids = (0..<3).flatMap { s in labeler.relabel(strip: Array(map[(s * 12)..<(s * 12 + 12)])) }
        #expect(ids == [1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 2, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0])
    }
}
