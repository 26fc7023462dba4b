import Foundation
import GeoIO
import TestSupport
import Testing

@Suite("Reading rasters")
struct RasterDatasetTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let crs: String?
        let epsg: Int?
        let geoTransform: [Double]?
        let width: Int, height: Int, bands: Int
        let type: String
        /// Expected ground sample distance in metres, nil when it cannot be known.
        let gsd: Double?
        var testDescription: String { "\(crs ?? "no CRS") \(width)x\(height)x\(bands) \(type)" }
    }

    static let cases: [Case] = [
        // UTM 32N, 0.5 m pixels, a size that is no multiple of 512.
        Case(crs: "EPSG:32632", epsg: 32632, geoTransform: [500000, 0.5, 0, 5650000, 0, -0.5], width: 700, height: 530, bands: 3, type: "Byte", gsd: 0.5),
        // Geographic at the equator: 1e-5 degree is 1.113 m east-west and 1.106 m north-south.
        Case(crs: "EPSG:4326", epsg: 4326, geoTransform: [10, 1e-5, 0, 0.0005, 0, -1e-5], width: 100, height: 100, bands: 1, type: "UInt16", gsd: (1.11319 + 1.10574) / 2),
        // Web mercator at 60 degrees north: 2 m of map is 1 m on the ground.
        Case(crs: "EPSG:3857", epsg: 3857, geoTransform: [1_000_000, 2, 0, 8_399_737.89, 0, -2], width: 300, height: 200, bands: 4, type: "Float32", gsd: 1.0),
        // No CRS and no geotransform.
        Case(crs: nil, epsg: nil, geoTransform: nil, width: 64, height: 33, bands: 3, type: "Byte", gsd: nil),
    ]

    @Test("size, bands, types, CRS, EPSG and ground sample distance", arguments: cases)
    func describes(_ c: Case) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: path, width: c.width, height: c.height, bands: c.bands, type: c.type, crs: c.crs, geoTransform: c.geoTransform) { b, x, y in Double((x + 3 * y + b) % 200) }
        let ds = try RasterDataset(path: path)
        #expect(ds.width == c.width && ds.height == c.height && ds.bandCount == c.bands)
        #expect(ds.bands.allSatisfy { $0.dataType.rawValue == c.type })
        #expect(ds.spatialReference?.epsg == c.epsg)
        #expect(ds.geoTransform?.coefficients == c.geoTransform)
        if let expected = c.gsd {
            let gsd = try #require(ds.groundSampleDistance)
            #expect(abs(gsd - expected) / expected < 0.005, "gsd \(gsd) m, expected \(expected) m")
        } else {
            #expect(ds.groundSampleDistance == nil)
        }
    }

    @Test("windowed reads return the stored values of the chosen bands", arguments: ["Byte", "UInt16", "Float32"])
    func windowedRead(type: String) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        let f: (Int, Int, Int) -> Double = { b, x, y in type == "Float32" ? Double(x) * 0.25 - Double(y) + Double(b) : Double((x + 2 * y + 50 * b) % 256) }
        SyntheticRaster.write(path: path, width: 90, height: 70, bands: 4, type: type, value: f)
        let ds = try RasterDataset(path: path)
        let w = PixelWindow(col: 13, row: 21, width: 40, height: 30)
        let values = try ds.read(window: w, bands: [4, 2])
        #expect(values.count == 2 * 40 * 30)
        for (k, b) in [4, 2].enumerated() {
            for y in 0..<30 {
                for x in 0..<40 {
                    #expect(values[k * 1200 + y * 40 + x] == Float(f(b, x + 13, y + 21)))
                }
            }
        }
        #expect(throws: GeoIOError.self) { try ds.read(window: w, bands: [5]) }
        #expect(throws: GeoIOError.self) { try ds.read(window: PixelWindow(col: 60, row: 0, width: 40, height: 10), bands: [1]) }
    }

    @Test("nodata: a pixel is nodata when every chosen band equals its nodata value")
    func nodataBorder() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        // A 5-pixel nodata border; inside, band 2 touches 0 at one pixel (still valid: band 1 is not 0).
        SyntheticRaster.write(path: path, width: 40, height: 30, bands: 3, nodata: 0) { b, x, y in
            if x < 5 || y < 5 || x >= 35 || y >= 25 { return 0 }
            if b == 2 && x == 10 && y == 10 { return 0 }
            return 100
        }
        let ds = try RasterDataset(path: path)
        #expect(ds.bands.map(\.nodata) == [0, 0, 0])
        let w = PixelWindow(col: 0, row: 0, width: 40, height: 30)
        let valid = try ds.validity(window: w, bands: [1, 2, 3], values: try ds.read(window: w, bands: [1, 2, 3]))
        for y in 0..<30 {
            for x in 0..<40 {
                let inside = x >= 5 && y >= 5 && x < 35 && y < 25
                #expect(valid[y * 40 + x] == (inside ? 1 : 0), "pixel \(x),\(y)")
            }
        }
    }

    @Test("bad input is a one-line error naming the file")
    func badInput() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.tif")
        try "not a raster".write(to: text, atomically: true, encoding: .utf8)
        for (path, words) in [(dir.appendingPathComponent("missing.tif").path, "no such file"), (dir.path, "directory"), (text.path, "not a raster")] {
            let error = try #require(throws: GeoIOError.self) { try RasterDataset(path: path) }
            #expect(error.message.contains(path) && error.message.contains(words), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test("reading never writes beside the input")
    func readOnly() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: path, width: 50, height: 50) { _, x, _ in Double(x) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let ds = try RasterDataset(path: path)
            _ = try ds.approximateRange(band: 1)
            _ = try ds.read(window: PixelWindow(col: 0, row: 0, width: 50, height: 50), bands: [1, 2, 3])
            _ = ds.groundSampleDistance
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["scene.tif"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
