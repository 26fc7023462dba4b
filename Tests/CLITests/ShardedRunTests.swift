import Foundation
import TestSupport
import Testing

/// docs/scale-out.md: a scene planned into shards, each shard run on its own, and merged gives
/// the bytes of one run; bad shard folders are refused in one line with nothing written.
@Suite("Sharded runs: plan, shard, merge")
struct ShardedRunTests {
    static let classes = "water; land; tree, forest"
    /// 128-pixel tiles overlapping by 32: tile rows start every 96 rows, so a shard boundary
    /// (a tile row's origin) lies inside the tile row above's 32-row overlap.
    static let tiling = ["--tile", "128", "--overlap", "32"]

    struct Folder {
        let dir: URL
        let model: String
        let environment: [String: String]
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        init(_ name: String = #function) throws {
            dir = SyntheticRaster.temporaryFolder(name)
            model = try SegmentCommandTests.tinyModel(in: dir)
            environment = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        }

        /// A 300 x 700 scene by default: seven tile rows; the top 150 rows are nodata, so the valid tiles
        /// are not spread evenly over the rows.
        func scene(crs: Bool = true, width: Int = 300, height: Int = 700) -> String {
            let scene = path(crs ? "scene.tif" : "plain.tif")
            SyntheticRaster.write(path: scene, width: width, height: height, bands: 3, crs: crs ? "EPSG:32632" : nil,
                                  geoTransform: crs ? [500000, 0.5, 0, 5650000, 0, -0.5] : nil, nodata: 0) { b, x, y in
                y < 150 ? 0 : Double(1 + (x * (b + 3) + y * (7 - b) + x * y / 13) % 255)
            }
            return scene
        }

        func run(_ arguments: [String], _ extra: [String: String] = [:]) throws -> CLI.Result {
            try CLI.run(arguments, environment: environment.merging(extra) { $1 })
        }

        func bytes(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }
    }

    /// Plans `scene` into `shards`, runs every shard (in reverse order, on varying thread
    /// counts), merges into `merged*`, and returns the plan.
    static func sharded(_ f: Folder, scene: String, shards: Int, command: String = "segment", outputs: [String], extra: [String] = []) throws -> [String: Any] {
        let dir = f.path("shards-\(command)-\(shards)")
        let plan = try f.run([command, scene, "--plan", "\(shards)", "--shard-dir", dir, "--classes", classes, "--model", f.model, "--quiet"] + tiling + outputs + extra)
        try #require(plan.status == 0, "\(plan.stderr)")
        for i in (0..<shards).reversed() {
            let r = try f.run(["shard", dir, "--index", "\(i)", "--threads", "\(1 + i % 3)", "--quiet"])
            try #require(r.status == 0, "\(r.stderr)")
        }
        let merge = try f.run(["merge", dir, "--quiet"])
        try #require(merge.status == 0, "\(merge.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/plan.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("segment: class map, confidence and probabilities of 1, 3 and 7 shards are byte-identical to one run")
    func segmentShards() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene()
        let single = try f.run(["segment", scene, "-o", f.path("single.tif"), "--probabilities", f.path("single-p.tif"), "--confidence",
                                "--classes", Self.classes, "--model", f.model, "--quiet"] + Self.tiling)
        try #require(single.status == 0, "\(single.stderr)")
        for shards in [1, 3, 7] {
            let name = "merged\(shards)"
            let plan = try Self.sharded(f, scene: scene, shards: shards, outputs: ["-o", f.path("\(name).tif"), "--probabilities", f.path("\(name)-p.tif"), "--confidence"])
            let planned = try #require(plan["shards"] as? [[String: Any]])
            #expect(planned.count == shards)
            let tileRows = try #require((plan["grid"] as? [String: Any])?["rowOrigins"] as? [Int])
            for s in planned.dropFirst() {
                // Every boundary is a tile row's origin, inside the overlap of the tile row above.
                let first = try #require(s["firstRow"] as? Int)
                let row = try #require(tileRows.firstIndex(of: first))
                #expect(row > 0 && first < tileRows[row - 1] + 128, "boundary \(first) is not inside the tile row above's overlap")
                #expect(s["haloGridRows"] as? Int == 1)
            }
            let sameMap = try f.bytes("\(name).tif") == f.bytes("single.tif")
            let sameConfidence = try f.bytes("\(name).confidence.tif") == f.bytes("single.confidence.tif")
            let sameProbabilities = try f.bytes("\(name)-p.tif") == f.bytes("single-p.tif")
            #expect(sameMap, "the class map of \(shards) shards differs from one run's")
            #expect(sameConfidence, "the confidence of \(shards) shards differs from one run's")
            #expect(sameProbabilities, "the probabilities of \(shards) shards differ from one run's")
        }
    }

    @Test("a scene without a CRS: 3 shards give one run's class map")
    func sceneWithoutCRS() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene(crs: false)
        let single = try f.run(["segment", scene, "-o", f.path("single.tif"), "--classes", Self.classes, "--model", f.model, "--quiet"] + Self.tiling)
        try #require(single.status == 0, "\(single.stderr)")
        _ = try Self.sharded(f, scene: scene, shards: 3, outputs: ["-o", f.path("merged.tif")])
        let same = try f.bytes("merged.tif") == f.bytes("single.tif")
        #expect(same, "the class map of 3 shards of a scene without CRS differs from one run's")
    }

    @Test("detect: the GeoJSON and GeoPackage of 3 shards are byte-identical to one run's")
    func detectShards() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene()
        let single = try f.run(["detect", scene, "-o", f.path("single.geojson"), "--gpkg", f.path("single.gpkg"), "--classes", Self.classes,
                                "--model", f.model, "--quiet"] + Self.tiling, ["SOURCE_DATE_EPOCH": "0"])
        try #require(single.status == 0, "\(single.stderr)")
        let dir = f.path("shards")
        let plan = try f.run(["detect", scene, "--plan", "3", "--shard-dir", dir, "-o", f.path("merged.geojson"), "--gpkg", f.path("merged.gpkg"),
                              "--classes", Self.classes, "--model", f.model, "--quiet"] + Self.tiling)
        try #require(plan.status == 0, "\(plan.stderr)")
        for i in 0..<3 {
            // The index as a Slurm array task and a Kubernetes Indexed Job pod get it.
            let r = try f.run(["shard", dir, "--quiet"], i == 1 ? ["SLURM_ARRAY_TASK_ID": "1"] : ["JOB_COMPLETION_INDEX": "\(i)"])
            try #require(r.status == 0, "\(r.stderr)")
        }
        let merge = try f.run(["merge", dir, "--quiet"], ["SOURCE_DATE_EPOCH": "0"])
        try #require(merge.status == 0, "\(merge.stderr)")
        let sameGeoJSON = try f.bytes("merged.geojson") == f.bytes("single.geojson")
        let sameGeoPackage = try f.bytes("merged.gpkg") == f.bytes("single.gpkg")
        #expect(sameGeoJSON, "the objects of 3 shards differ from one run's")
        #expect(sameGeoPackage, "the GeoPackage of 3 shards differs from one run's")
    }

    @Test("detect with the SAM 3 engine: its own objects, joined across shard borders, give one run's GeoJSON and GeoPackage")
    func sam3Objects() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        // Two tile columns, four tile rows: the tiny SAM 3 is slow enough without more.
        let scene = f.scene(width: 180, height: 400)
        let model = try PredictFixtures.model(in: f.dir)
        let common = ["--classes", "car, vehicle; tree; water", "--model", model, "--object-threshold", "0.2", "--min-area", "0", "--quiet"] + Self.tiling
        let single = try f.run(["detect", scene, "-o", f.path("single.geojson"), "--gpkg", f.path("single.gpkg")] + common)
        try #require(single.status == 0, "\(single.stderr)")
        let dir = f.path("shards")
        try #require(try f.run(["detect", scene, "--plan", "3", "--shard-dir", dir, "-o", f.path("merged.geojson"), "--gpkg", f.path("merged.gpkg")] + common).status == 0)
        for i in 0..<3 {
            let r = try f.run(["shard", dir, "--index", "\(i)", "--quiet"])
            try #require(r.status == 0, "\(r.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/shard-000\(i).objects.json"))
        }
        let merge = try f.run(["merge", dir, "--quiet"])
        try #require(merge.status == 0, "\(merge.stderr)")
        let objects = try #require(try JSONSerialization.jsonObject(with: f.bytes("single.geojson")) as? [String: Any])
        #expect((objects["features"] as? [Any])?.isEmpty == false, "the tiny SAM 3 found no object: the comparison would be empty")
        let sameGeoJSON = try f.bytes("merged.geojson") == f.bytes("single.geojson")
        let sameGeoPackage = try f.bytes("merged.gpkg") == f.bytes("single.gpkg")
        #expect(sameGeoJSON, "SAM 3's objects of 3 shards differ from one run's")
        #expect(sameGeoPackage, "SAM 3's GeoPackage of 3 shards differs from one run's")
    }

    @Test("a shard run twice writes the same bytes; a missing, foreign or out-of-range shard and a changed scene are one-line errors with nothing merged")
    func badShards() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene()
        let dir = f.path("shards")
        let planArguments = ["segment", scene, "--plan", "3", "--shard-dir", dir, "-o", f.path("merged.tif"), "--classes", Self.classes, "--model", f.model, "--quiet"] + Self.tiling
        try #require(try f.run(planArguments).status == 0)
        // Planning again over a plan needs --overwrite; more shards than tile rows is refused.
        let again = try f.run(planArguments)
        #expect(again.status == 1 && again.stderr.contains("plan.json' exists") && again.stderr.contains("--overwrite"), "\(again.stderr)")
        let tooMany = try f.run(["segment", scene, "--plan", "8", "--shard-dir", f.path("other"), "--classes", Self.classes, "--model", f.model, "--quiet"] + Self.tiling)
        #expect(tooMany.status == 1 && tooMany.stderr.contains("--plan: 8 shards, but the scene has 7 tile rows"), "\(tooMany.stderr)")

        for i in [0, 2] { try #require(try f.run(["shard", dir, "--index", "\(i)", "--quiet"]).status == 0) }
        // Shard 1 is missing: the merge names it and writes nothing.
        let missing = try f.run(["merge", dir, "--quiet"])
        #expect(missing.status == 1 && missing.stderr.contains("shard 1 of 3 is not done") && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.path("merged.tif")))
        let outOfRange = try f.run(["shard", dir, "--index", "3"])
        #expect(outOfRange.status == 1 && outOfRange.stderr.contains("shard index 3 is out of range: the plan has 3 shards"), "\(outOfRange.stderr)")
        let noIndex = try f.run(["shard", dir], ["SLURM_ARRAY_TASK_ID": "", "JOB_COMPLETION_INDEX": ""])
        #expect(noIndex.status == 1 && noIndex.stderr.contains("no shard index"), "\(noIndex.stderr)")

        // Run twice: the same files, the same manifest.
        let names = ["shard-0002.classes.tif", "shard-0002.json"]
        let before = try names.map { try f.bytes("shards/\($0)") }
        try #require(try f.run(["shard", dir, "--index", "2", "--threads", "3", "--quiet"]).status == 0)
        let sameShard = try names.map { try f.bytes("shards/\($0)") } == before
        #expect(sameShard, "a shard run again changed its files")

        // A shard of another plan: planned again with other settings, old shards are foreign.
        try FileManager.default.copyItem(atPath: dir + "/shard-0000.json", toPath: f.path("old-shard-0000.json"))
        try #require(try f.run(planArguments.filter { $0 != "--quiet" } + ["--threshold", "0.4", "--overwrite", "--quiet"]).status == 0)
        for i in [1, 2] { try #require(try f.run(["shard", dir, "--index", "\(i)", "--quiet"]).status == 0) }
        try FileManager.default.copyItem(atPath: f.path("old-shard-0000.json"), toPath: dir + "/shard-0000.json")
        let foreign = try f.run(["merge", dir, "--quiet"])
        #expect(foreign.status == 1 && foreign.stderr.contains("shard-0000.json' was made for another plan"), "\(foreign.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.path("merged.tif")))

        // Probabilities the plan does not stage cannot be merged.
        try #require(try f.run(["shard", dir, "--index", "0", "--quiet"]).status == 0)
        let unplanned = try f.run(["merge", dir, "--probabilities", f.path("p.tif"), "--quiet"])
        #expect(unplanned.status == 1 && unplanned.stderr.contains("the plan stages no probabilities"), "\(unplanned.stderr)")
        let gpkg = try f.run(["merge", dir, "--gpkg", f.path("o.gpkg"), "--quiet"])
        #expect(gpkg.status == 1 && gpkg.stderr.contains("option --gpkg is not for a segment plan"), "\(gpkg.stderr)")

        // The scene changed since planning: shards and the merge refuse.
        SyntheticRaster.write(path: scene, width: 300, height: 700, bands: 3) { _, x, y in Double((x + y) % 256) }
        let changedShard = try f.run(["shard", dir, "--index", "0"])
        #expect(changedShard.status == 1 && changedShard.stderr.contains("changed since planning"), "\(changedShard.stderr)")
        let changedMerge = try f.run(["merge", dir])
        #expect(changedMerge.status == 1 && changedMerge.stderr.contains("changed since planning"), "\(changedMerge.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.path("merged.tif")))
        // No failure above left a temporary file, in the shard folder or beside the outputs.
        for folder in [dir, f.dir.path] {
            let hidden = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "temporaries left in \(folder): \(hidden)")
        }
    }

    @Test("SAM 3: a machine whose matrix products run on another number of threads is refused (SAM 3 splits products by the machine's threads)")
    func sam3ProductThreads() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene(width: 180, height: 400)
        let model = try PredictFixtures.model(in: f.dir)
        let dir = f.path("shards")
        try #require(try f.run(["segment", scene, "--plan", "2", "--shard-dir", dir, "-o", f.path("merged.tif"), "--classes", "car; tree",
                                "--model", model, "--quiet"] + Self.tiling, ["OPENBLAS_NUM_THREADS": "2"]).status == 0)
        let plan = try #require(try JSONSerialization.jsonObject(with: f.bytes("shards/plan.json")) as? [String: Any])
        #expect((plan["execution"] as? [String: Any])?["productThreads"] as? Int == 2)
        let other = try f.run(["shard", dir, "--index", "0"], ["OPENBLAS_NUM_THREADS": "1"])
        #expect(other.status == 1 && other.stderr.contains("matrix products on 1 thread,") && other.stderr.contains("OMP_NUM_THREADS"), "\(other.stderr)")
    }

    @Test("a shard made with other kernels is refused: by the shard on the machine, and by the merge")
    func otherKernels() throws {
        let f = try Folder()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let scene = f.scene()
        let dir = f.path("shards")
        try #require(try f.run(["segment", scene, "--plan", "2", "--shard-dir", dir, "-o", f.path("merged.tif"), "--classes", Self.classes,
                                "--model", f.model, "--quiet"] + Self.tiling).status == 0)
        // `baseline` runs everywhere: a machine pinned to it computes with other kernels than the plan's.
        let pinned = try f.run(["shard", dir, "--index", "0"], ["LANDSCRIBE_KERNELS": "baseline"])
        #expect(pinned.status == 1 && pinned.stderr.contains("kernels baseline") && pinned.stderr.contains("LANDSCRIBE_KERNELS"), "\(pinned.stderr)")
        // A manifest claiming other kernels is refused by the merge.
        for i in 0..<2 { try #require(try f.run(["shard", dir, "--index", "\(i)", "--quiet"]).status == 0) }
        let manifest = dir + "/shard-0001.json"
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        let kernels = try #require(text.range(of: #""kernels" : "[a-z0-9]+""#, options: .regularExpression))
        try text.replacingCharacters(in: kernels, with: #""kernels" : "baseline""#).write(toFile: manifest, atomically: true, encoding: .utf8)
        let merge = try f.run(["merge", dir])
        #expect(merge.status == 1 && merge.stderr.contains("shard 1") && merge.stderr.contains("kernels baseline"), "\(merge.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.path("merged.tif")))
    }
}
