public import Foundation
public import Instances
import ModelHub
import Tensor
import Tiling

/// The plan of a sharded run (docs/scale-out.md): one scene cut into bands of scene rows that
/// separate processes (Slurm array tasks, Kubernetes Indexed Job pods) map, then merge into the
/// outputs a single run would write, byte for byte. `DIR/plan.json` holds everything the bytes
/// depend on: the scene's identity, every resolved setting, the weights hash and the provenance,
/// the input scaling computed once from the whole scene, the CPU kernel choice, and the shards
/// as ranges of tile rows balanced by their number of valid (not all-nodata) tiles. It is
/// written deterministically (sorted keys, no clock), so planning twice gives the same file.
///
/// A shard owns the scene rows from its first tile row's origin to the next shard's, and runs
/// from the first tile row that reaches its first owned row (`TileGrid.firstGridRow`): the
/// halo, one extra tile row above each boundary with the usual overlap. Every owned pixel then
/// gets the same tile contributions, added in the same order, as in a single run.
public struct ShardPlan: Codable, Sendable {
    public static let fileName = "plan.json"
    public static let currentFormat = "landscribe shard plan 1"

    public enum Command: String, Codable, Sendable { case segment, detect }

    /// A scene file as planned: the path as given and what identifies its content.
    public struct SceneIdentity: Codable, Sendable, Equatable {
        public var path: String
        public var bytes: Int64
        /// SHA-256 of the file's first 64 KiB: a GeoTIFF's header (size, georeferencing, tile
        /// offsets: rewritten by almost any change), all of a small VRT.
        public var headerSHA256: String

        /// The identity of the file at `path` now.
        public static func of(path: String) throws -> SceneIdentity {
            guard let (identity, _) = read(path: path) else { throw ScaleOutError.sceneUnreadable(path: path) }
            return identity
        }

        /// The identity of the file at `path` and its modification time (a run journal's plan
        /// adds it), nil when it cannot be read.
        static func read(path: String) -> (SceneIdentity, modified: Double)? {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 65536)) ?? Data()
            return (SceneIdentity(path: path, bytes: (attributes[.size] as? NSNumber)?.int64Value ?? -1,
                                  headerSHA256: FileDigest.sha256Hex(Array(head))),
                    (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        }
    }

    /// What the shards stage and the merge writes; the paths given at planning are the merge's
    /// defaults (the merge may name others).
    public struct Outputs: Codable, Sendable, Equatable {
        /// `segment`: the class map; `detect`: the objects.
        public var primary: String?
        /// Per-class probabilities: staged by every shard when true (always for `detect`, whose
        /// scores are the mean probability of each object's pixels).
        public var probabilities: Bool
        public var probabilitiesPath: String?
        public var probabilityEncoding: ProbabilityEncoding
        public var confidence: Bool
        public var preview: String?
        public var statistics: String?
        public var vectors: String?
        public var geoPackage: String?
        /// SAM 3's own objects (`detect` with a SAM 3 model): each shard keeps those of its own
        /// tile rows, the merge joins them across tile and shard borders alike.
        public var objects: Bool = false

        public init(primary: String? = nil, probabilities: Bool = false, probabilitiesPath: String? = nil, probabilityEncoding: ProbabilityEncoding = .float32,
                    confidence: Bool = false, preview: String? = nil, statistics: String? = nil, vectors: String? = nil, geoPackage: String? = nil) {
            self.primary = primary; self.probabilities = probabilities; self.probabilitiesPath = probabilitiesPath
            self.probabilityEncoding = probabilityEncoding; self.confidence = confidence; self.preview = preview
            self.statistics = statistics; self.vectors = vectors; self.geoPackage = geoPackage
        }
    }

    /// How the products are computed on this machine: shards made with other choices may
    /// differ in the last bits, so the shards refuse to run and the merge refuses them.
    public struct Execution: Codable, Sendable, Equatable, CustomStringConvertible {
        public var matrixBackend: String
        public var kernels: String
        /// `OPENBLAS_CORETYPE` as the environment sets it, or "auto" (OpenBLAS then picks by CPU).
        public var openBLASCoreType: String
        /// The threads of each matrix product where the engine lets the library split products
        /// by the machine's thread count (SAM 3: `BLAS.threads`, from `OMP_NUM_THREADS` or the
        /// cores), which may change their last bits; nil where products run in fixed row chunks
        /// whatever the machine (CLIP).
        public var productThreads: Int?

        /// This machine's choices; `productThreads` only when `splitsByMachine` (the engine's products do).
        public static func current(splitsByMachine: Bool) -> Execution {
            Execution(matrixBackend: MatrixBackend.current.description, kernels: Kernels.instructionSet,
                      openBLASCoreType: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 } ?? "auto",
                      productThreads: splitsByMachine ? BLAS.threads : nil)
        }

        public var description: String {
            "matrix backend \(matrixBackend), kernels \(kernels), OPENBLAS_CORETYPE \(openBLASCoreType)"
                + (productThreads.map { ", matrix products on \($0) thread\($0 == 1 ? "" : "s")" } ?? "")
        }
    }

    /// The tile grid of the scene (or of its `--aoi`/`--gsd` view).
    public struct Grid: Codable, Sendable, Equatable {
        public var width: Int, height: Int
        public var tile: Int, overlap: Int
        public var rowOrigins: [Int]
        public var columns: Int
        /// Tiles with at least one valid pixel, per tile row (the others are skipped by every run).
        public var validTiles: [Int]
    }

    /// One shard: the band of scene rows it writes and the tile rows it runs.
    public struct Shard: Codable, Sendable, Equatable {
        public var index: Int
        /// Scene rows it owns: [firstRow, endRow).
        public var firstRow: Int, endRow: Int
        /// Tile rows it runs: [firstGridRow, endGridRow), the first `haloGridRows` of them only
        /// for the rows they share with its first owned tile row.
        public var firstGridRow: Int, endGridRow: Int
        public var haloGridRows: Int
        /// Tiles it reads, and those of them with valid pixels (what it costs).
        public var tiles: Int, validTiles: Int
    }

    public var format: String
    public var command: Command
    /// The folder planning ran in: relative paths of the plan (scene, model, pipeline's files)
    /// are relative to it, and `shard` and `merge` resolve them there.
    public var workingDirectory: String
    public var scene: SceneIdentity
    public var settings: SegmentSettings
    /// `detect`'s object extraction.
    public var extraction: ExtractionOptions?
    public var outputs: Outputs
    /// The input scaling of every tile, computed once from the whole scene.
    public var scaling: BandScaling
    public var grid: Grid
    public var weightsHash: String
    /// The metadata every output carries: as a single run writes it.
    public var provenance: [String: String]
    public var execution: Execution
    public var shards: [Shard]

    /// The tile rows of each of `count` shards: contiguous ranges, none empty, cut where the
    /// running number of valid tiles is closest to an equal share (rows count alike when no
    /// tile is valid). `count` must be 1 ... the number of tile rows.
    public static func partition(validTiles: [Int], into count: Int) -> [Range<Int>] {
        let rows = validTiles.count
        precondition(count >= 1 && count <= rows)
        let total = validTiles.reduce(0, +)
        let weights = total > 0 ? validTiles : Array(repeating: 1, count: rows)
        var cumulative = [0]
        for w in weights { cumulative.append(cumulative.last! + w) }
        let sum = Double(cumulative.last!)
        var cuts = [0]
        for k in 1..<count {
            let target = sum * Double(k) / Double(count)
            let lowest = cuts.last! + 1, highest = rows - (count - k)
            var best = lowest
            for r in lowest...highest where abs(Double(cumulative[r]) - target) < abs(Double(cumulative[best]) - target) { best = r }
            cuts.append(best)
        }
        cuts.append(rows)
        return (0..<count).map { cuts[$0]..<cuts[$0 + 1] }
    }

    /// The shards of `grid` for the tile-row ranges `ranges` (`partition`).
    static func shards(grid: TileGrid, validTiles: [Int], ranges: [Range<Int>]) -> [Shard] {
        ranges.enumerated().map { index, range in
            let firstRow = range.lowerBound == 0 ? 0 : grid.rowOrigins[range.lowerBound]
            let endRow = range.upperBound == grid.rowOrigins.count ? grid.height : grid.rowOrigins[range.upperBound]
            let firstGridRow = grid.firstGridRow(reaching: firstRow)
            return Shard(index: index, firstRow: firstRow, endRow: endRow, firstGridRow: firstGridRow, endGridRow: range.upperBound,
                         haloGridRows: range.lowerBound - firstGridRow, tiles: (range.upperBound - firstGridRow) * grid.columnOrigins.count,
                         validTiles: validTiles[firstGridRow..<range.upperBound].reduce(0, +))
        }
    }

    /// The plan's bytes as `plan.json` holds them (sorted keys: the same plan, the same bytes).
    public func encoded() throws -> Data { try RunJournal.encode(self) }

    /// Reads `directory/plan.json`; returns the plan and the SHA-256 of its bytes (what every
    /// shard's manifest names).
    public static func load(directory: String) throws -> (plan: ShardPlan, sha256: String) {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { throw ScaleOutError.noPlan(directory: directory) }
        guard let plan = try? JSONDecoder().decode(ShardPlan.self, from: data), plan.format == currentFormat else {
            throw ScaleOutError.unreadablePlan(path: path)
        }
        return (plan, FileDigest.sha256Hex(Array(data)))
    }

    /// `shard-0003`: the stem of shard 3's files in the shard folder.
    public static func stem(index: Int) -> String { String(format: "shard-%04d", index) }
}

/// What a shard wrote: `DIR/shard-NNNN.json`, written last (atomically) once its files are in
/// place, so a shard with a manifest is complete. It holds no clock, so a shard run again
/// writes the same bytes.
public struct ShardManifest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var bytes: Int64
    }

    public var format: String
    /// The SHA-256 of the `plan.json` it was made for.
    public var planSHA256: String
    public var index: Int
    public var firstRow: Int, endRow: Int
    public var execution: ShardPlan.Execution
    /// Its files by what they hold: "classes", "confidence", "probabilities".
    public var files: [String: File]
    public var tiles: Int, encodedTiles: Int

    public static let currentFormat = "landscribe shard 1"

    public static func path(directory: String, index: Int) -> String {
        (directory as NSString).appendingPathComponent(ShardPlan.stem(index: index) + ".json")
    }
}

/// Why a sharded run cannot plan, run a shard or merge; every message names the file or shard.
public enum ScaleOutError: Error, CustomStringConvertible, Equatable {
    case sceneUnreadable(path: String)
    case noPlan(directory: String)
    case unreadablePlan(path: String)
    case planExists(path: String)
    case tooManyShards(asked: Int, tileRows: Int)
    case indexOutOfRange(index: Int, count: Int)
    case noIndex
    case badIndex(source: String, value: String)
    case sceneChanged(path: String, planned: String, now: String)
    case planDiffers(index: Int, key: String, planned: String?, now: String?)
    case executionDiffers(what: String, planned: ShardPlan.Execution, now: ShardPlan.Execution)
    case missingShard(index: Int, count: Int, path: String)
    case foreignShard(path: String, reason: String)
    case notPlanned(output: String)
    case cannotMakeFolder(path: String, reason: String)
    case notForCommand(option: String, command: ShardPlan.Command)
    case noOutput(command: ShardPlan.Command)

    public var description: String {
        switch self {
        case .sceneUnreadable(let path):
            return "cannot read the scene '\(path)'"
        case .noPlan(let directory):
            return "'\(directory)' holds no \(ShardPlan.fileName): make one with segment SCENE --plan N --shard-dir \(directory)"
        case .unreadablePlan(let path):
            return "'\(path)' is not a landscribe shard plan (damaged, or of another version): plan again"
        case .planExists(let path):
            return "'\(path)' exists: give --overwrite to plan again (the shards made for it are removed)"
        case .tooManyShards(let asked, let rows):
            return "option --plan: \(asked) shards, but the scene has \(rows) tile row\(rows == 1 ? "" : "s"): at most \(rows) shards"
        case .indexOutOfRange(let index, let count):
            return "shard index \(index) is out of range: the plan has \(count) shard\(count == 1 ? "" : "s"), 0 to \(count - 1)"
        case .noIndex:
            return "no shard index: give --index I, or run as a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX)"
        case .badIndex(let source, let value):
            return "\(source)='\(value)' is not a shard index (a whole number from 0)"
        case .sceneChanged(let path, let planned, let now):
            return "the scene '\(path)' changed since planning (\(planned) then, \(now) now): plan again"
        case .planDiffers(let index, let key, let planned, let now):
            return "shard \(index): this machine would make it with \(key) = \(now ?? "absent"), the plan with \(planned ?? "absent"): the same model, settings and kernels are needed everywhere (docs/scale-out.md)"
        case .executionDiffers(let what, let planned, let now):
            return "\(what) was computed with \(now), the plan with \(planned): pin LANDSCRIBE_BACKEND, LANDSCRIBE_KERNELS and OPENBLAS_CORETYPE (and for SAM 3 OMP_NUM_THREADS) alike on every machine (docs/scale-out.md)"
        case .missingShard(let index, let count, let path):
            return "shard \(index) of \(count) is not done ('\(path)' is missing): run landscribe shard DIR --index \(index)"
        case .foreignShard(let path, let reason):
            return "'\(path)' \(reason)"
        case .notForCommand(let option, let command):
            return "option \(option) is not for a \(command.rawValue) plan (\(command == .segment ? "--gpkg goes with detect plans" : "detect plans write objects: -o and --gpkg"))"
        case .cannotMakeFolder(let path, let reason):
            return "option --shard-dir: cannot make the folder '\(path)': \(reason)"
        case .notPlanned(let output):
            return "the plan stages no \(output): plan again with it asked for"
        case .noOutput(let command):
            return command == .segment ? "no class map to write: give -o OUT.tif (the plan names none)" : "no objects file to write: give -o OUT.geojson (the plan names none)"
        }
    }
}
