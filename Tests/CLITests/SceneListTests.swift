import Foundation
import TestSupport
import Testing

/// `segment --list FILE --shard I/N --output-dir DIR` (docs/segment.md, "Several scenes"): a list
/// of scenes split across the tasks of an array job, each scene mapped by exactly one task.
@Suite("Scene lists split across array tasks")
struct SceneListTests {
    /// Five small scenes a.tif ... e.tif in `dir/scenes`, and a list naming them (relative paths,
    /// a comment, a blank line).
    static func scenes(in dir: URL) throws -> URL {
        let folder = dir.appendingPathComponent("scenes")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (k, name) in ["a", "b", "c", "d", "e"].enumerated() {
            SyntheticRaster.write(path: folder.appendingPathComponent(name + ".tif").path, width: 96, height: 80, bands: 3) { b, x, y in Double((x * (b + k + 1) + y) % 256) }
        }
        let list = folder.appendingPathComponent("scenes.txt")
        try "# the scenes of the job\na.tif\nb.tif  # a comment\n\nc.tif\n\(folder.path)/d.tif\ne.tif\n".write(to: list, atomically: true, encoding: .utf8)
        return list
    }

    static func mapped(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tif") }.sorted()
    }

    @Test("tasks 0, 1 and 2 of 3 (one from SLURM_ARRAY_TASK_ID, one from JOB_COMPLETION_INDEX) map every scene of the list exactly once")
    func tasksCoverTheList() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), list = try Self.scenes(in: dir)
        let common = ["--list", list.path, "--classes", "water; land", "--model", model, "--rotations", "0", "--quiet"]
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        var all: [String] = []
        for (task, shard, extra) in [(0, "0/3", [:]), (1, "3", ["SLURM_ARRAY_TASK_ID": "1"]), (2, "3", ["JOB_COMPLETION_INDEX": "2"])] as [(Int, String, [String: String])] {
            let out = dir.appendingPathComponent("out\(task)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let r = try CLI.run(["segment", "--output-dir", out.path, "--shard", shard] + common, environment: env.merging(extra) { $1 })
            #expect(r.status == 0, "\(r.stderr)")
            let mapped = try Self.mapped(out)
            #expect(mapped == [["a.tif", "d.tif"], ["b.tif", "e.tif"], ["c.tif"]][task], "task \(task): \(mapped)")
            all += mapped
        }
        #expect(all.sorted() == ["a.tif", "b.tif", "c.tif", "d.tif", "e.tif"])
    }

    @Test("detect --list --shard --output-dir --output-format gpkg: this task's scenes' objects, one file each, and a --json line each")
    func detectBatch() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), list = try Self.scenes(in: dir)
        let out = dir.appendingPathComponent("objects")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let env = ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path]
        let r = try CLI.run(["detect", "--list", list.path, "--shard", "1/2", "--output-dir", out.path, "--output-format", "gpkg",
                             "--classes", "water; land", "--model", model, "--rotations", "0", "--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        #expect(files == ["b.gpkg", "d.gpkg"], "\(files)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let scenes = try #require(json["scenes"] as? [[String: Any]])
        #expect(scenes.map { URL(fileURLWithPath: $0["output"] as? String ?? "").lastPathComponent } == ["b.gpkg", "d.gpkg"])
        #expect(scenes.allSatisfy { ($0["summary"] as? [String: Any])?["engine"] as? String == "clip" })
        for (args, message) in [(["--output-dir", out.path, "--gpkg", dir.appendingPathComponent("x.gpkg").path], "--gpkg names one file"),
                                (["--output-dir", out.path, "--output-format", "kml"], "--output-format: 'kml' is not one of geojson, gpkg, fgb, shp")] {
            let u = try CLI.run(["detect", "--list", list.path] + args + ["--classes", "water; land", "--model", model], environment: env)
            #expect(u.status == 64 && u.stderr.contains(message), "\(args): \(u.stderr)")
        }
    }

    @Test("-o DIR/ (a name ending in '/') is the batch folder, as --output-dir")
    func outputFolder() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), list = try Self.scenes(in: dir)
        let folder = list.deletingLastPathComponent()
        let out = dir.appendingPathComponent("maps")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let r = try CLI.run(["segment", folder.appendingPathComponent("a.tif").path, folder.appendingPathComponent("c.tif").path, "-o", out.path + "/",
                             "--classes", "water; land", "--model", model, "--rotations", "0", "--quiet"],
                            environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.mapped(out) == ["a.tif", "c.tif"])
    }

    @Test("bad lists and shards are one-line errors that map nothing")
    func badInput() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir), list = try Self.scenes(in: dir)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let common = ["--classes", "water; land", "--model", model, "--rotations", "0"]
        let empty = dir.appendingPathComponent("empty.txt")
        try "# nothing here\n\n".write(to: empty, atomically: true, encoding: .utf8)
        let cases: [([String], Int32, String)] = [
            (["--list", list.path, "--output-dir", out.path, "--shard", "3/3"], 64, "--shard: task '3' is not from 0 to 2"),
            (["--list", list.path, "--output-dir", out.path, "--shard", "x"], 64, "--shard: 'x' is not I/N or N"),
            (["--list", list.path, "--output-dir", out.path, "--shard", "4"], 1, "option --shard: 4 tasks but no task index"),
            (["--list", list.path, "-o", out.appendingPathComponent("x.tif").path], 64, "--list maps several scenes: give --output-dir DIR"),
            (["--list", dir.appendingPathComponent("missing.txt").path, "--output-dir", out.path], 1, "option --list: cannot read"),
            (["--list", empty.path, "--output-dir", out.path], 1, "names no scene"),
        ]
        for (arguments, status, message) in cases {
            let r = try CLI.run(["segment"] + arguments + common, environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            #expect(r.status == status && r.stderr.contains(message), "\(arguments): \(r.status) \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }
}
