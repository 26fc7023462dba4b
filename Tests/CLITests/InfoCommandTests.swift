import Foundation
import TestSupport
import Testing

@Suite("landscribe info")
struct InfoCommandTests {
    @Test("--json has the contract's fields with the right values")
    func json() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("utm.tif").path
        SyntheticRaster.write(path: path, width: 1000, height: 600, bands: 4, type: "UInt16", crs: "EPSG:32633",
                              geoTransform: [300000, 2, 0, 6000000, 0, -2], nodata: 0) { b, x, _ in Double(x + b) }
        let r = try CLI.run(["info", path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["width"] as? Int == 1000 && j["height"] as? Int == 600 && j["bands"] as? Int == 4)
        #expect(j["epsg"] as? Int == 32633)
        #expect((j["crs"] as? String)?.contains("UTM zone 33N") == true)
        #expect(abs((j["gsd_m"] as? Double ?? 0) - 2) < 0.01)
        #expect(j["tiles"] as? Int == 3 * 2)
        let small = try CLI.run(["info", path, "--json", "--tile", "256", "--overlap", "0"])
        let js = try #require(try JSONSerialization.jsonObject(with: Data(small.stdout.utf8)) as? [String: Any])
        #expect(js["tiles"] as? Int == 4 * 3)
    }

    @Test("a scene without a CRS has null crs, epsg and gsd_m")
    func noCRS() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("plain.tif").path
        SyntheticRaster.write(path: path, width: 300, height: 200, crs: nil, geoTransform: nil) { _, x, _ in Double(x % 256) }
        let r = try CLI.run(["info", path, "--json"])
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["crs"] is NSNull && j["epsg"] is NSNull && j["gsd_m"] is NSNull)
        #expect(j["tiles"] as? Int == 1)
        let text = try CLI.run(["info", path])
        #expect(text.status == 0 && text.stdout.contains("none"))
    }

    @Test("bad input: exit 1 and one line naming the file or option")
    func badInput() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("readme.tif")
        try "hello".write(to: text, atomically: true, encoding: .utf8)
        let truncated = dir.appendingPathComponent("truncated.tif").path
        SyntheticRaster.write(path: truncated, width: 600, height: 600, options: ["COMPRESS=DEFLATE"]) { _, x, y in Double((x ^ y) % 256) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: truncated))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let cases: [([String], String)] = [
            (["info", dir.appendingPathComponent("missing.tif").path], "missing.tif"),
            (["info", dir.path], dir.path),
            (["info", text.path], "readme.tif"),
            (["info", truncated], "truncated.tif"),
            (["info", truncated, "--tile", "512", "--overlap", "600"], "--overlap"),
        ]
        for (args, named) in cases {
            let r = try CLI.run(args)
            #expect(r.status == 1, "\(args): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && r.stderr.contains(named), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal") && r.stdout.isEmpty)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["readme.tif", "truncated.tif"])
    }

    @Test("real scenes: geographic and no-CRS", arguments: [("adelaide_2.tif", 4326, 0.46, 9), ("dubai_tile7_nocrs.tif", 0, 0.0, 224)])
    func realScenes(name: String, epsg: Int, gsd: Double, tiles: Int) throws {
        guard let path = CLI.sharedScene(name) else {
            print("skipped: ../shared/data/scenes/\(name) is not here (only in the development workspace)")
            return
        }
        let r = try CLI.run(["info", path, "--json"])
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["tiles"] as? Int == tiles)
        if epsg == 0 {
            #expect(j["epsg"] is NSNull && j["gsd_m"] is NSNull)
        } else {
            #expect(j["epsg"] as? Int == epsg)
            #expect(abs((j["gsd_m"] as? Double ?? 0) - gsd) < 0.01)
        }
    }

    @Test("--help and --version answer")
    func help() throws {
        let h = try CLI.run(["info", "--help"])
        #expect(h.status == 0 && h.stdout.contains("ground sample distance"))
        let v = try CLI.run(["--version"])
        #expect(v.status == 0 && !v.stdout.isEmpty)
    }
}
