import Foundation
import GeoIO
import TestSupport
import Testing

/// docs/guarantees.md, "Runs resume": a run killed outright (kill -9) leaves a journal beside
/// its first output; `--resume` continues from it and writes the same bytes as a run that was
/// never stopped; a journal of other settings is refused; without `--resume` it is removed.
@Suite("Resuming a killed run")
struct ResumeTests {
    static func journal(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".landscribe-journal") }.sorted()
    }

    /// The rows the journal in `folder` records as written, or nil.
    static func journaledRows(_ folder: String, output: String) -> Int? {
        let path = folder + "/.\(output).landscribe-journal.progress.json"
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return json["rows"] as? Int
    }

    /// Starts `arguments`, kills it with SIGKILL once its journal records `atLeast` rows, and
    /// returns the rows recorded then.
    static func killHard(after atLeast: Int, _ arguments: [String], environment: [String: String], folder: String, output: String) throws -> Int {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while (Self.journaledRows(folder, output: output) ?? 0) < atLeast, process.isRunning, Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return Self.journaledRows(folder, output: output) ?? 0
    }

    @Test("kill -9, then --resume: the same class map and probabilities as an uninterrupted run, fewer tiles, no journal left")
    func segmentResumes() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        // A real scene when ../shared/data/scenes is there (a user's clone has none), else a synthetic one.
        let scene = CLI.sharedScene("oem_koeln_50.tif") ?? dir.appendingPathComponent("big.tif").path
        if !FileManager.default.fileExists(atPath: scene) {
            SyntheticRaster.write(path: scene, width: 1000, height: 1000, bands: 3) { b, x, y in Double((x * (b + 2) + y * 3 + x * y / 17) % 256) }
        }
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        func arguments(_ folder: String) -> [String] {
            ["segment", scene, "-o", folder + "/lc.tif", "--probabilities", folder + "/p.tif", "--confidence", "--classes", "water; land; tree, forest",
             "--model", model, "--tile", "128", "--overlap", "32", "--quiet"]
        }
        let whole = dir.appendingPathComponent("whole").path, killed = dir.appendingPathComponent("killed").path
        for folder in [whole, killed] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let reference = try CLI.run(arguments(whole) + ["--json"], environment: env)
        try #require(reference.status == 0, "\(reference.stderr)")
        let wholeSummary = try #require(try JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])

        // Past the third strip: the resumed run starts at a later grid row (tiles above reach no row left).
        let rows = try Self.killHard(after: 300, arguments(killed), environment: env, folder: killed, output: "lc.tif")
        #expect(rows >= 300 && rows < 1000, "killed after \(rows) rows")
        #expect(!FileManager.default.fileExists(atPath: killed + "/lc.tif"))
        #expect(try Self.journal(killed).contains(".lc.tif.landscribe-journal.plan.json"))

        let resumed = try CLI.run(arguments(killed) + ["--resume", "--json"], environment: env)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        #expect(summary["resumed_rows"] as? Int == rows)
        #expect((summary["encoder_runs"] as? Int ?? 0) < (wholeSummary["encoder_runs"] as? Int ?? 0))
        #expect(summary["classes"] as? [[String: AnyHashable]] == wholeSummary["classes"] as? [[String: AnyHashable]], "pixel counts per class")
        for name in ["lc.tif", "lc.confidence.tif", "p.tif"] {
            let same = try Data(contentsOf: URL(fileURLWithPath: whole + "/" + name)) == Data(contentsOf: URL(fileURLWithPath: killed + "/" + name))
            #expect(same, "\(name) after kill -9 and --resume differs from the uninterrupted run's")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: killed).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test("--resume with other settings is refused naming the journal and the setting; without --resume the journal is removed")
    func otherSettings() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 900, height: 900, bands: 3) { b, x, y in Double((x * (b + 2) + y * 5) % 256) }
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        let out = dir.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let base = ["segment", scene, "-o", out + "/lc.tif", "--model", model, "--tile", "128", "--overlap", "32", "--quiet"]
        let rows = try Self.killHard(after: 1, base + ["--classes", "water; land"], environment: env, folder: out, output: "lc.tif")
        #expect(rows > 0)
        let before = try Self.journal(out)
        let other = try CLI.run(base + ["--classes", "water; land; tree", "--resume"], environment: env)
        #expect(other.status == 1, "\(other.stderr)")
        #expect(other.stderr.contains(".lc.tif.landscribe-journal.plan.json' is of a different run (LANDSCRIBE_CLASSES: water; land then, water; land; tree now); run without --resume to start over"), "\(other.stderr)")
        #expect(try Self.journal(out) == before, "a refused --resume keeps the journal")
        #expect(!FileManager.default.fileExists(atPath: out + "/lc.tif"))

        // A journal whose staging file is gone cannot be resumed: one line, and how to start over.
        unlink(out + "/.lc.tif.landscribe-journal.classes.staging.tif")
        let damaged = try CLI.run(base + ["--classes", "water; land", "--resume"], environment: env)
        #expect(damaged.status == 1 && damaged.stderr.contains("cannot be resumed") && damaged.stderr.contains("run without --resume to start over"),
                "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/lc.tif"))

        let fresh = try CLI.run(base + ["--classes", "water; land", "--json"], environment: env)
        try #require(fresh.status == 0, "\(fresh.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(fresh.stdout.utf8)) as? [String: Any])
        #expect(summary["resumed_rows"] as? Int == 0, "without --resume the run starts over")
        #expect(try Self.journal(out).isEmpty)
    }

    @Test("--resume with nothing to resume warns and runs from the first row")
    func nothingToResume() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let out = dir.appendingPathComponent("lc.tif").path
        let r = try CLI.run(["segment", scene, "-o", out, "--classes", "a; b", "--model", model, "--resume", "--json"],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("--resume: no rows of an earlier run of '\(out)' to resume from; starting from the first row"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test("detect with a SAM 3 model refuses --resume (its objects are gathered in memory) and writes nothing")
    func sam3DetectRefusesResume() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let out = dir.appendingPathComponent("o.geojson").path
        let r = try CLI.run(["detect", scene, "-o", out, "--classes", "car; tree", "--model", model, "--tile", "128", "--overlap", "32", "--resume"],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("detect with the sam3 engine cannot resume yet"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") || $0.hasPrefix("o.") }.isEmpty)
    }

    @Test("detect: kill -9, then --resume gives the same GeoJSON")
    func detectResumes() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 800, height: 800, bands: 3) { b, x, y in Double(((x / 40 + y / 40) % 3) * 80 + b * 10) }
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        let pipeline = dir.appendingPathComponent("objects.yaml")
        try """
        name: objects
        model: \(model)
        tiling: {size: 128, overlap: 32}
        classes:
          - {name: ground, prompts: [ground]}
          - {name: building, prompts: [building, roof], instances: true}
        """.write(to: pipeline, atomically: true, encoding: .utf8)
        let whole = dir.appendingPathComponent("whole").path, killed = dir.appendingPathComponent("killed").path
        for folder in [whole, killed] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        func arguments(_ folder: String) -> [String] { ["detect", scene, "-o", folder + "/o.geojson", "--pipeline", pipeline.path, "--quiet"] }
        let reference = try CLI.run(arguments(whole), environment: env)
        try #require(reference.status == 0, "\(reference.stderr)")
        let rows = try Self.killHard(after: 300, arguments(killed), environment: env, folder: killed, output: "o.geojson")
        #expect(rows >= 300 && rows < 800, "killed after \(rows) rows")
        let resumed = try CLI.run(arguments(killed) + ["--resume"], environment: env)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        let same = try Data(contentsOf: URL(fileURLWithPath: whole + "/o.geojson")) == Data(contentsOf: URL(fileURLWithPath: killed + "/o.geojson"))
        #expect(same, "the GeoJSON after kill -9 and --resume differs from the uninterrupted run's")
        #expect(try FileManager.default.contentsOfDirectory(atPath: killed).filter { $0.hasPrefix(".") }.isEmpty)
    }
}
