import Foundation
import GeoIO
import TestSupport
import Testing

/// docs/guarantees.md end to end: interrupts leave nothing, concurrent runs on one output are
/// refused, non-finite pixels cannot poison a map, an evaluation of nothing scores nothing.
@Suite("Guarantees end to end")
struct ReliabilityTests {
    static func cacheEnv(_ dir: URL) -> [String: String] { ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path] }

    static func hidden(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.sorted()
    }

    @Test("Ctrl-C and SIGTERM stop a run, remove its temporary files and exit 130 / 143", arguments: [SIGINT, SIGTERM])
    func interrupt(_ sig: Int32) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        // A real scene when ../shared/data/scenes is there (a user's clone has none), else a synthetic one.
        let scene = CLI.sharedScene("oem_koeln_50.tif") ?? dir.appendingPathComponent("big.tif").path
        if !FileManager.default.fileExists(atPath: scene) {
            SyntheticRaster.write(path: scene, width: 1600, height: 1600, bands: 3) { b, x, y in Double((x * (b + 2) + y * 3) % 256) }
        }
        let out = dir.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["segment", scene, "-o", out + "/lc.tif", "--probabilities", out + "/p.tif", "--preview", out + "/lc.png",
                             "--classes", "water; land; tree", "--model", model, "--tile", "128", "--overlap", "32", "--quiet"]
        process.environment = ProcessInfo.processInfo.environment.merging(Self.cacheEnv(dir)) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait until the run has temporaries (the staging GeoTIFFs appear as the writers start).
        let deadline = Date().addingTimeInterval(60)
        while try Self.hidden(URL(fileURLWithPath: out)).filter({ $0.contains(".partial") }).isEmpty, process.isRunning, Date() < deadline {
            usleep(20_000)
        }
        #expect(process.isRunning, "the run ended before it could be interrupted")
        kill(process.processIdentifier, sig)
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + sig, "\(message)")
        #expect(message.contains(sig == SIGINT ? "interrupted" : "terminated"))
        let left = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(left.isEmpty, "\(left)")
    }

    @Test("a scene that will take hours gets a warning with its tile count and an estimate before work starts")
    func longRunWarning() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        _ = SegmentCommandTests.scene(in: dir)
        // 512 pixels wide, 400 million tall: a million tiles, memory bounded by the width.
        let vrt = dir.appendingPathComponent("tall.vrt")
        let bands = (1...3).map { b in
            "<VRTRasterBand dataType=\"Byte\" band=\"\(b)\"><NoDataValue>0</NoDataValue><SimpleSource><SourceFilename relativeToVRT=\"1\">scene.tif</SourceFilename><SourceBand>\(b)</SourceBand></SimpleSource></VRTRasterBand>"
        }
        try "<VRTDataset rasterXSize=\"512\" rasterYSize=\"400000000\">\(bands.joined())</VRTDataset>".write(to: vrt, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["segment", vrt.path, "-o", dir.appendingPathComponent("lc.tif").path, "--classes", "water; land", "--model", model]
        process.environment = ProcessInfo.processInfo.environment.merging(Self.cacheEnv(dir)) { $1 }
        let err = Pipe()
        process.standardError = err
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("\n"), Date() < deadline, let chunk = try err.fileHandleForReading.read(upToCount: 1) {
            text += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(text.hasPrefix("landscribe: warning: 1041667 tiles x 4 rotations: roughly"), "\(text)")
        #expect(text.contains("hours") || text.contains("days"), "\(text)")
    }

    @Test("a second run on an output that a run is writing is refused at once, naming the holder")
    func concurrent() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path
        // This test process holds the output as a running segment would.
        let holder = try OutputSet([.init(path: out, role: "class map")], inputs: [], overwrite: true)
        defer { holder.discard() }
        let r = try CLI.run(["segment", scene, "-o", out, "--classes", "a; b", "--model", model, "--overwrite"], environment: Self.cacheEnv(dir))
        #expect(r.status == 1 && r.stderr.contains("is being written by another landscribe run (process \(getpid()))"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("infinities and NaN are nodata: finite scaling, nodata map pixels there; an all-NaN scene maps to nodata")
    func nonFinite() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        // Float32, 160 x 120: a quarter of the pixels +inf, a column of -inf, a row of NaN.
        let scene = dir.appendingPathComponent("float.tif").path
        func bad(_ x: Int, _ y: Int) -> Bool { (x < 80 && y < 60) || x == 100 || y == 90 }
        SyntheticRaster.write(path: scene, width: 160, height: 120, bands: 3, type: "Float32") { b, x, y in
            if x < 80 && y < 60 { return .infinity }
            if x == 100 { return -.infinity }
            if y == 90 { return .nan }
            return Double(1000 + (x * b + y) % 700)
        }
        let out = dir.appendingPathComponent("lc.tif").path
        let r = try CLI.run(["segment", scene, "-o", out, "--classes", "water; land", "--model", model, "--tile", "64", "--overlap", "16",
                             "--rotations", "0", "--quiet"], environment: Self.cacheEnv(dir))
        #expect(r.status == 0, "\(r.stderr)")
        let map = try RasterDataset(path: out)
        let scaling = try #require(map.metadata["LANDSCRIBE_INPUT_SCALING"])
        #expect(!scaling.contains("inf") && !scaling.contains("nan"), "\(scaling)")
        let labels = try map.read(window: PixelWindow(col: 0, row: 0, width: 160, height: 120), bands: [1])
        for y in 0..<120 { for x in 0..<160 { #expect((labels[y * 160 + x] == 255) == bad(x, y), "pixel \(x),\(y)") } }

        let allNaN = dir.appendingPathComponent("nan.tif").path
        SyntheticRaster.write(path: allNaN, width: 70, height: 50, bands: 1, type: "Float32") { _, _, _ in .nan }
        let empty = dir.appendingPathComponent("empty.tif").path
        let r2 = try CLI.run(["segment", allNaN, "-o", empty, "--classes", "water; land", "--model", model, "--tile", "64", "--overlap", "16",
                              "--json"], environment: Self.cacheEnv(dir))
        #expect(r2.status == 0, "\(r2.stderr)")
        let values = try RasterDataset(path: empty).read(window: PixelWindow(col: 0, row: 0, width: 70, height: 50), bands: [1])
        #expect(values.allSatisfy { $0 == 255 })
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r2.stdout.utf8)) as? [String: Any])
        #expect(summary["encoder_runs"] as? Int == 0)
    }

    @Test("evaluate over no pixels reports null scores, not 0")
    func evaluateNothing() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("pred.tif").path, t = dir.appendingPathComponent("truth.tif").path
        try EvaluateCommandTests.writePrediction(p, width: 4, values: [0, 1, 1, 0, 0, 1, 1, 0], names: ["a", "b"])
        EvaluateCommandTests.writeTruth(t, width: 4, values: [0, 0, 0, 0, 0, 0, 0, 0])
        let r = try CLI.run(["evaluate", "--prediction", p, "--truth", t, "--ignore", "0", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["miou"] is NSNull && j["pixel_accuracy"] is NSNull && j["evaluated_pixels"] as? Int == 0, "\(r.stdout)")
    }
}
