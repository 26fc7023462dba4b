import Foundation
import GeoIO
import TestSupport
import Testing

@Suite("Writing rasters and vectors")
struct WriterTests {
    @Test("COG round trip: grid, CRS, nodata, colour table, category names, metadata; nothing else left behind")
    func cogRoundTrip() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.tif").path
        SyntheticRaster.write(path: input, width: 1100, height: 700, bands: 3, crs: "EPSG:32632", geoTransform: [400000, 0.3, 0, 5600000, 0, -0.3]) { _, x, y in Double((x * y) % 256) }
        let scene = try RasterDataset(path: input)
        let out = dir.appendingPathComponent("map.tif").path
        let writer = try RasterWriter(path: out, profile: RasterProfile(like: scene, bandCount: 1, dataType: .byte, nodata: 255), overwrite: false)
        try writer.setColorTable(band: 1, [RGBA(255, 0, 0), RGBA(0, 128, 0), RGBA(0, 0, 255)])
        try writer.setCategoryNames(band: 1, ["building", "tree", "water"])
        try writer.setMetadata(["LANDSCRIBE_VERSION": "test"])
        let bytes: [UInt8] = (0..<(1100 * 700)).map { (i: Int) -> UInt8 in i % 3 == 0 ? 255 : UInt8(i % 3) }
        try writer.write(band: 1, window: PixelWindow(col: 0, row: 0, width: 1100, height: 700), bytes: bytes)
        #expect(!FileManager.default.fileExists(atPath: out), "nothing under the final name before finish()")
        try writer.finish()

        let map = try RasterDataset(path: out)
        #expect(map.metadata(domain: "IMAGE_STRUCTURE")["LAYOUT"] == "COG")
        #expect(map.width == 1100 && map.height == 700)
        #expect(map.geoTransform == scene.geoTransform)
        #expect(map.spatialReference?.epsg == 32632)
        #expect(map.bands[0].nodata == 255 && map.bands[0].dataType == .byte)
        #expect(Array(map.colorTable(band: 1).prefix(3)) == [RGBA(255, 0, 0), RGBA(0, 128, 0), RGBA(0, 0, 255)])
        #expect(map.categoryNames(band: 1) == ["building", "tree", "water"])
        #expect(map.metadata["LANDSCRIBE_VERSION"] == "test")
        #expect(try map.read(window: PixelWindow(col: 0, row: 0, width: 1100, height: 700), bands: [1]) == bytes.map(Float.init))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test("a tall output written in strips is a COG with internal overviews down to one block, averaged from the full resolution")
    func tallCOG() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("p.tif").path
        let (w, h) = (48, 2100)
        let writer = try RasterWriter(path: out, profile: RasterProfile(width: w, height: h, bandCount: 2, dataType: .float32, nodata: -1), overwrite: false)
        func value(_ b: Int, _ x: Int, _ y: Int) -> Float { Float(b * 100 + (x * 3 + y) % 17) }
        for row in stride(from: 0, to: h, by: 512) {
            let window = PixelWindow(col: 0, row: row, width: w, height: min(512, h - row))
            for b in 1...2 {
                try writer.write(band: b, window: window, values: (0..<window.pixelCount).map { i in value(b, i % w, row + i / w) })
            }
        }
        try writer.finish(overviewResampling: .average)

        let cog = try RasterDataset(path: out)
        #expect(cog.metadata(domain: "IMAGE_STRUCTURE")["LAYOUT"] == "COG")
        #expect(try cog.read(window: PixelWindow(col: 0, row: 0, width: w, height: h), bands: [2]) == (0..<(w * h)).map { value(2, $0 % w, $0 / w) })
        // Halved until both sides fit one 512-pixel block.
        #expect(RasterProbe.overviewSizes(path: out, band: 2) == [[24, 1050], [12, 525], [6, 262]])
        let first = RasterProbe.overview(path: out, band: 2, level: 0)
        for (x, y) in [(0, 0), (23, 1049), (7, 400)] {
            let mean = (value(2, 2 * x, 2 * y) + value(2, 2 * x + 1, 2 * y) + value(2, 2 * x, 2 * y + 1) + value(2, 2 * x + 1, 2 * y + 1)) / 4
            #expect(first[y * 24 + x] == mean, "overview pixel (\(x), \(y))")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test("an existing output is refused without overwrite, replaced with it")
    func overwrite() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("map.tif").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        let profile = RasterProfile(width: 10, height: 10, bandCount: 1, dataType: .float32)
        let error = try #require(throws: OutputError.self) { try RasterWriter(path: out, profile: profile, overwrite: false) }
        #expect(error.kind == .exists && error.path == out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("keep me".utf8))
        let writer = try RasterWriter(path: out, profile: profile, overwrite: true)
        try writer.write(band: 1, window: PixelWindow(col: 0, row: 0, width: 10, height: 10), values: Array(repeating: 1.5, count: 100))
        try writer.finish(overviewResampling: .average)
        #expect(try RasterDataset(path: out).read(window: PixelWindow(col: 0, row: 0, width: 10, height: 10), bands: [1]).allSatisfy { $0 == 1.5 })
    }

    @Test("a writer dropped before finish leaves nothing behind")
    func abandoned() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("map.tif").path
        do {
            let writer = try RasterWriter(path: out, profile: RasterProfile(width: 10, height: 10, bandCount: 1, dataType: .byte), overwrite: false)
            try writer.write(band: 1, window: PixelWindow(col: 0, row: 0, width: 10, height: 10), bytes: Array(repeating: 1, count: 100))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("GeoJSON is RFC 7946: a polygon drawn in UTM 32N lands at its longitude/latitude, lon first, right-hand winding")
    func geoJSON() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("objects.geojson").path
        // 12 E, 50 N is E 714984.2367, N 5542944.0186 in UTM 32N (PROJ: cs2cs EPSG:4326 EPSG:32632).
        let (e, n) = (714984.2367, 5542944.0186)
        let writer = try VectorWriter(path: out, format: .geoJSON, layerName: "objects", crs: try SpatialReference(epsg: 32632),
                                      fields: [VectorField("id", .integer), VectorField("class", .string)], overwrite: false)
        // Clockwise in UTM on purpose: RFC 7946 wants counter-clockwise outer rings.
        try writer.add(try Geometry(polygon: [[(e, n), (e, n + 10), (e + 10, n + 10), (e + 10, n)]]), properties: [.integer(1), .string("tank")])
        try writer.finish()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let feature = try #require((json["features"] as? [[String: Any]])?.first)
        #expect((feature["properties"] as? [String: Any])?["class"] as? String == "tank")
        let ring = try #require(((feature["geometry"] as? [String: Any])?["coordinates"] as? [[[Double]]])?.first)
        #expect(ring.contains { abs($0[0] - 12.0) < 1e-6 && abs($0[1] - 50.0) < 1e-6 }, "\(ring)")
        // Shoelace sum > 0: counter-clockwise.
        let area2 = zip(ring, ring.dropFirst()).reduce(0.0) { $0 + $1.0[0] * $1.1[1] - $1.1[0] * $1.0[1] }
        #expect(area2 > 0)
        #expect(json["crs"] == nil, "RFC 7946 has no crs member")
    }

    @Test("GeoPackage keeps the scene's CRS")
    func geoPackage() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("objects.gpkg").path
        let writer = try VectorWriter(path: out, format: .geoPackage, layerName: "objects", crs: try SpatialReference(epsg: 32632),
                                      fields: [VectorField("area_m2", .real)], overwrite: false)
        try writer.add(try Geometry(polygon: [[(500000, 5650000), (500010, 5650000), (500010, 5650010), (500000, 5650010)]]), properties: [.real(100)])
        try writer.finish()
        #expect(FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["objects.gpkg"])
    }

    @Test("two GeoPackages of the same features written a second apart are identical byte for byte")
    func geoPackageDeterministic() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [Data] = []
        for name in ["a.gpkg", "b.gpkg"] {
            let out = dir.appendingPathComponent(name).path
            let writer = try VectorWriter(path: out, format: .geoPackage, layerName: "objects", crs: try SpatialReference(epsg: 32632),
                                          fields: [VectorField("area_m2", .real)], overwrite: false)
            try writer.add(try Geometry(polygon: [[(500000, 5650000), (500010, 5650000), (500010, 5650010), (500000, 5650010)]]), properties: [.real(100)])
            try writer.finish()
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
            if name == "a.gpkg" { usleep(1_100_000) }
        }
        #expect(files[0] == files[1])
    }

    @Test("geodesic area of a 1 x 1 degree cell at the equator")
    func geodesicArea() {
        // Karney's value for the WGS 84 ellipsoid is about 12,308.778 km^2.
        let a = Geodesy.area(lons: [0, 1, 1, 0], lats: [0, 0, 1, 1])
        #expect(abs(a / 1e6 - 12308.78) < 1)
    }
}
