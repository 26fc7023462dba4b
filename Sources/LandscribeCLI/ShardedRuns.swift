import ArgumentParser
import Foundation
import GeoIO
import Instances
import Pipeline

/// `--plan N --shard-dir DIR` of `segment` and `detect`: plan a sharded run instead of running
/// (docs/scale-out.md).
struct PlanOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Plan a run of this scene in N shards (array tasks) instead of running it: writes --shard-dir/plan.json; then run 'landscribe shard DIR' for every index and 'landscribe merge DIR' (docs/scale-out.md). The output options name what the merge writes.",
                               valueName: "N"))
    var plan: Int?

    @Option(help: ArgumentHelp("With --plan: the folder of the plan and of the shards' files, shared by every machine.", valueName: "DIR"))
    var shardDir: String?

    var planning: Bool { plan != nil }

    /// Checks the planning options against the command's others.
    func check(scenes: Int, batch: Bool, resume: Bool) throws {
        if shardDir != nil, plan == nil { throw ValidationError("--shard-dir goes with --plan N") }
        guard let plan else { return }
        guard plan >= 1 else { throw ValidationError("--plan must be 1 or more shards, got \(plan)") }
        guard shardDir != nil else { throw ValidationError("--plan needs --shard-dir DIR, the folder every shard shares") }
        guard scenes == 1, !batch else { throw ValidationError("--plan shards one scene: give one scene and no --output-dir, --list or --shard") }
        guard !resume else { throw ValidationError("--plan and --resume do not go together: a shard that stopped is simply run again") }
    }

    /// Plans with `mapper` and prints what was planned (or its JSON).
    func run(_ request: PlanRequest, quiet: Bool, json: Bool) async throws {
        try await failing {
            let line = ProgressLine(enabled: !quiet)
            let plan = try await SceneMapper(progress: line.tiles, warning: { warn($0) }).plan(request)
            line.finish()
            let summary = PlanSummary(plan, directory: request.directory)
            if json {
                try printJSON(summary)
            } else if !quiet {
                FileHandle.standardError.write(Data((summary.lines.joined(separator: "\n") + "\n").utf8))
            }
        }
    }
}

/// What `--plan` prints.
struct PlanSummary: Encodable {
    struct Shard: Encodable {
        let index: Int, first_row: Int, end_row: Int, tiles: Int, valid_tiles: Int, halo_tile_rows: Int
    }
    let plan: String
    let scene: String
    let width: Int, height: Int
    let tiles: Int, valid_tiles: Int
    /// Tiles the shards read, halos included.
    let tiles_run: Int
    let shards: [Shard]

    init(_ p: ShardPlan, directory: String) {
        plan = (directory as NSString).appendingPathComponent(ShardPlan.fileName)
        scene = p.scene.path
        width = p.grid.width; height = p.grid.height
        tiles = p.grid.columns * p.grid.rowOrigins.count
        valid_tiles = p.grid.validTiles.reduce(0, +)
        tiles_run = p.shards.reduce(0) { $0 + $1.tiles }
        shards = p.shards.map { Shard(index: $0.index, first_row: $0.firstRow, end_row: $0.endRow, tiles: $0.tiles, valid_tiles: $0.validTiles, halo_tile_rows: $0.haloGridRows) }
    }

    var lines: [String] {
        let extra = tiles_run - tiles
        var lines = ["planned \(shards.count) shard\(shards.count == 1 ? "" : "s") of \(scene) (\(width) x \(height), \(tiles) tiles, \(valid_tiles) with valid pixels) in \(plan)"]
        for s in shards {
            lines.append("  shard \(s.index): rows \(s.first_row)..<\(s.end_row), \(s.tiles) tiles (\(s.valid_tiles) valid)" + (s.halo_tile_rows > 0 ? ", \(s.halo_tile_rows) halo tile row\(s.halo_tile_rows == 1 ? "" : "s")" : ""))
        }
        lines.append(String(format: "halo: %d extra tiles (%.1f%% more than one run)", extra, tiles > 0 ? 100 * Double(extra) / Double(tiles) : 0))
        let dir = (plan as NSString).deletingLastPathComponent
        lines.append("next: landscribe shard \(dir) --index I   (I = 0 to \(shards.count - 1); or from SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX), then landscribe merge \(dir)")
        return lines
    }
}

/// Paths given on the command line of `shard` and `merge` are taken from where the command
/// runs; the plan's own relative paths (scene, model, pipeline's files) from the folder it was
/// planned in, which the command then works in.
enum PlanFolder {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }

    /// Loads the plan of `directory` (absolute) and moves into its planning folder when this
    /// machine has it.
    static func enter(_ directory: String) throws -> ShardPlan {
        let plan = try ShardPlan.load(directory: directory).plan
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: plan.workingDirectory, isDirectory: &isFolder), isFolder.boolValue {
            FileManager.default.changeCurrentDirectoryPath(plan.workingDirectory)
        }
        return plan
    }
}

/// The index an array job gives each of its tasks, for `shard` and for `--shard N` of a batch:
/// Slurm's `SLURM_ARRAY_TASK_ID`, else a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`.
enum ArrayTaskIndex {
    /// The first of the two variables that is set and not empty, with its value.
    static func lookup(_ environment: [String: String]) -> (name: String, value: String)? {
        for name in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
            if let value = environment[name], !value.isEmpty { return (name, value) }
        }
        return nil
    }
}

/// `landscribe shard DIR [--index I]`
struct ShardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "Run one shard of a planned run (an array task's share of a scene).",
        discussion: """
        Maps the band of scene rows shard I owns in the plan DIR/plan.json (made by segment or \
        detect with --plan N --shard-dir DIR), starting one tile row above it (the halo) so \
        its pixels get exactly the tiles, in the same order, as in one run. Writes \
        DIR/shard-NNNN.classes.tif (and .confidence.tif, .probabilities.tif when planned) \
        under temporary names, renames them, then writes DIR/shard-NNNN.json. A shard run \
        again writes the same bytes. Refuses to run when the scene changed since planning, or \
        when this machine would compute with another model, setting or kernel choice \
        (LANDSCRIBE_BACKEND, LANDSCRIBE_KERNELS, OPENBLAS_CORETYPE). See docs/scale-out.md.

        Example:
          landscribe shard shards/ --index 2
          sbatch --array=0-7 --wrap 'landscribe shard shards/'   # I from SLURM_ARRAY_TASK_ID
        """)

    @Argument(help: "The shard folder (holding plan.json).")
    var directory: String

    @Option(help: "The shard to run, from 0; without it SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX.")
    var index: Int?

    @Option(help: "Worker threads (default: every core this process may use). The bytes written do not depend on it.")
    var threads: Int?

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Flag(help: "Print what the shard did as JSON on stdout.")
    var json = false

    func validate() throws {
        if let index, index < 0 { throw ValidationError("--index must be 0 or more, got \(index)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1 to 256, got \(threads)") }
    }

    /// The shard index: `--index`, else the array task's index from the environment.
    static func index(_ given: Int?, environment: [String: String]) throws -> Int {
        if let given { return given }
        guard let (name, value) = ArrayTaskIndex.lookup(environment) else { throw ScaleOutError.noIndex }
        guard let i = Int(value), i >= 0 else { throw ScaleOutError.badIndex(source: name, value: value) }
        return i
    }

    func run() async throws {
        try await failing {
            let directory = PlanFolder.absolute(self.directory)
            let index = try Self.index(index, environment: ProcessInfo.processInfo.environment)
            _ = try PlanFolder.enter(directory)
            let line = ProgressLine(enabled: !quiet)
            let summary = try await SceneMapper(progress: line.tiles, warning: { warn($0) }).runShard(directory: directory, index: index, threads: threads)
            line.finish()
            if json {
                try printJSON(summary)
            } else if !quiet {
                FileHandle.standardError.write(Data("shard \(summary.index) of \(summary.shards): rows \(summary.firstRow)..<\(summary.endRow), \(summary.tiles) tiles (\(summary.encodedTiles) encoded) in \(ProgressLine.duration(summary.seconds))\n".utf8))
            }
        }
    }
}

/// `landscribe merge DIR [-o OUT]`
struct MergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the shards of a planned run into the outputs one run writes.",
        discussion: """
        Checks DIR/plan.json and every shard's manifest (made for this plan, with the same \
        kernel choice, complete), then streams the shards' rows in order through the same \
        writers as one run, with the plan's provenance: the class map, probabilities and \
        confidence are byte-identical to `segment` on one machine, and so are the objects of \
        a detect plan. Writes nothing when a shard is missing or foreign. Outputs default to \
        those named when planning. See docs/scale-out.md.

        Example:
          landscribe merge shards/ -o landcover.tif --probabilities probabilities.tif --preview landcover.png
          landscribe merge shards/ -o objects.geojson     # a detect plan
        """)

    @Argument(help: "The shard folder (holding plan.json and every shard's files).")
    var directory: String

    @Option(name: .shortAndLong, help: "The class map (segment plan) or the objects (detect plan); default: the plan's -o.")
    var output: String?

    @Option(help: "The per-class probabilities (the plan must stage them: --probabilities when planning).")
    var probabilities: String?

    @Option(help: "A PNG picture: the scene with a translucent class overlay and a legend.")
    var preview: String?

    @Option(help: "The area table (.csv or .json).")
    var stats: String?

    @Option(help: "Every class as polygons (.gpkg, .fgb, .shp, .geojson).")
    var vectors: String?

    @Option(help: "A detect plan: also a GeoPackage in the scene's CRS.")
    var gpkg: String?

    @Flag(help: "Replace outputs that exist.")
    var overwrite = false

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Flag(help: "Print what was merged as JSON on stdout.")
    var json = false

    func run() async throws {
        try await failing {
            let directory = PlanFolder.absolute(self.directory)
            let request = MergeRequest(directory: directory, primary: output.map(PlanFolder.absolute), probabilities: probabilities.map(PlanFolder.absolute),
                                       preview: preview.map(PlanFolder.absolute), statistics: stats.map(PlanFolder.absolute),
                                       vectors: vectors.map(PlanFolder.absolute), geoPackage: gpkg.map(PlanFolder.absolute), overwrite: overwrite)
            _ = try PlanFolder.enter(directory)
            let line = ProgressLine(enabled: !quiet)
            let summary = try await SceneMapper(progress: line.tiles, warning: { warn($0) }).merge(request)
            line.finish()
            if json {
                try printJSON(summary)
            } else if !quiet {
                var lines = ["wrote \(summary.output): \(summary.shards) shards merged in \(ProgressLine.duration(summary.seconds)); the shards ran \(summary.tilesRun) tiles, one run \(summary.tiles)"]
                if let objects = summary.objects { lines.append("  \(objects) objects") }
                for c in summary.objectClasses ?? [] { lines.append("  \(c.name): \(c.objects)") }
                FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
        }
    }
}
