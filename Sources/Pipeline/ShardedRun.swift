public import Foundation
public import GeoIO
public import Instances
import ModelHub
import Segmentation
import Tiling

/// What `SceneMapper.plan` plans.
public struct PlanRequest: Sendable {
    public var scene: String
    public var settings: SegmentSettings
    public var command: ShardPlan.Command
    public var shards: Int
    /// The shard folder: `plan.json`, then every shard's files and manifest.
    public var directory: String
    public var outputs: ShardPlan.Outputs
    /// `detect`'s object extraction.
    public var extraction: ExtractionOptions?
    /// Replace an existing plan (and remove the shards made for it).
    public var overwrite: Bool

    public init(scene: String, settings: SegmentSettings, command: ShardPlan.Command, shards: Int, directory: String,
                outputs: ShardPlan.Outputs, extraction: ExtractionOptions? = nil, overwrite: Bool = false) {
        self.scene = scene; self.settings = settings; self.command = command; self.shards = shards; self.directory = directory
        self.outputs = outputs; self.extraction = extraction; self.overwrite = overwrite
    }
}

/// What one shard did.
public struct ShardSummary: Codable, Sendable, Equatable {
    public var index: Int
    public var shards: Int
    public var firstRow: Int, endRow: Int
    public var tiles: Int, encodedTiles: Int
    /// Tile rows run only for the rows they share with the shard's own (the halo).
    public var haloGridRows: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case index, shards, firstRow = "first_row", endRow = "end_row", tiles, encodedTiles = "encoded_tiles", haloGridRows = "halo_tile_rows", seconds
    }
}

/// What `SceneMapper.merge` writes; nil fields take the plan's paths.
public struct MergeRequest: Sendable {
    public var directory: String
    /// `segment`: the class map; `detect`: the objects.
    public var primary: String?
    public var probabilities: String?
    public var preview: String?
    public var statistics: String?
    public var vectors: String?
    public var geoPackage: String?
    public var overwrite: Bool

    public init(directory: String, primary: String? = nil, probabilities: String? = nil, preview: String? = nil, statistics: String? = nil,
                vectors: String? = nil, geoPackage: String? = nil, overwrite: Bool = false) {
        self.directory = directory; self.primary = primary; self.probabilities = probabilities; self.preview = preview
        self.statistics = statistics; self.vectors = vectors; self.geoPackage = geoPackage; self.overwrite = overwrite
    }
}

/// What a merge wrote.
public struct MergeSummary: Codable, Sendable, Equatable {
    public var command: String
    public var output: String
    public var shards: Int
    /// Tiles the shards ran, halos included, and those a single run would have run.
    public var tilesRun: Int, tiles: Int
    public var seconds: Double
    /// `segment`: pixels and area per class.
    public var classes: [SegmentSummary.ClassPixels]?
    /// `detect`: objects written, and per class.
    public var objects: Int?
    public var objectClasses: [DetectSummary.ClassObjects]?

    enum CodingKeys: String, CodingKey {
        case command, output, shards, tilesRun = "tiles_run", tiles, seconds, classes, objects, objectClasses = "object_classes"
    }
}

extension SceneMapper {
    /// Plans a sharded run of `request.scene` (`ShardPlan`): checks the scene and settings,
    /// loads the model (for its hash and the provenance), reads every tile once to count the
    /// valid ones per tile row, and writes `DIR/plan.json`. Nothing else is written.
    public func plan(_ request: PlanRequest) async throws -> ShardPlan {
        var settings = request.settings
        let scene = try Self.open(request.scene, settings: settings)
        if request.command == .detect, let extraction = request.extraction {
            if extraction.pixelCoordinates { settings.exemplars?.pixelCoordinates = true }
            guard settings.classes.contains(where: \.instances) else { throw MappingError.noInstanceClasses }
            if scene.spatialReference == nil || scene.geoTransform == nil, !extraction.pixelCoordinates {
                throw MappingError.noGeoreferencing(scene: request.scene)
            }
        }
        let planPath = (request.directory as NSString).appendingPathComponent(ShardPlan.fileName)
        if FileManager.default.fileExists(atPath: planPath), !request.overwrite { throw ScaleOutError.planExists(path: planPath) }
        // The shard count against the tile rows before the model loads (SAM 3's takes a while).
        let rows = try TileGrid(width: scene.width, height: scene.height, size: settings.tile, overlap: settings.overlap).rowOrigins.count
        guard request.shards <= rows else { throw ScaleOutError.tooManyShards(asked: request.shards, tileRows: rows) }
        let prepared = try PreparedRun.prepare(settings: settings, scene: scene, cache: cacheDirectory, models: models,
                                               collectObjects: request.command == .detect)
        let grid = prepared.grid
        var valid = Array(repeating: 0, count: grid.rowOrigins.count)
        let clock = ContinuousClock(), start = clock.now
        for (i, tile) in grid.tiles.enumerated() {
            if try prepared.reader.read(tile).hasValidPixels { valid[tile.gridRow] += 1 }
            progress?(RunProgress(tilesDone: i + 1, tilesTotal: grid.tileCount, elapsedSeconds: SceneRunner.seconds(clock.now - start)))
        }
        var outputs = request.outputs
        if request.command == .detect { outputs.probabilities = true; outputs.confidence = false; outputs.objects = prepared.objects != nil }
        let plan = ShardPlan(format: ShardPlan.currentFormat, command: request.command, workingDirectory: FileManager.default.currentDirectoryPath,
                             scene: try ShardPlan.SceneIdentity.of(path: request.scene), settings: settings,
                             extraction: request.command == .detect ? request.extraction : nil, outputs: outputs,
                             scaling: prepared.reader.scaling,
                             grid: ShardPlan.Grid(width: grid.width, height: grid.height, tile: settings.tile, overlap: settings.overlap,
                                                  rowOrigins: grid.rowOrigins, columns: grid.columnOrigins.count, validTiles: valid),
                             weightsHash: prepared.weightsHash, provenance: prepared.provenance,
                             execution: .current(splitsByMachine: prepared.segmenter.splitsProductsByMachine),
                             shards: ShardPlan.shards(grid: grid, validTiles: valid, ranges: ShardPlan.partition(validTiles: valid, into: request.shards)))
        do {
            try FileManager.default.createDirectory(atPath: request.directory, withIntermediateDirectories: true)
        } catch {
            throw ScaleOutError.cannotMakeFolder(path: request.directory, reason: (error as NSError).localizedDescription)
        }
        // The shards of a plan replaced are of no use any more.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: request.directory)) ?? [] where name.hasPrefix("shard-") {
            unlink((request.directory as NSString).appendingPathComponent(name))
        }
        try RunJournal.writeAtomically(try plan.encoded(), to: planPath)
        return plan
    }

    /// Runs shard `index` of the plan in `directory`: checks that the scene is the one planned
    /// and that this machine makes the plan's provenance (model, settings, kernels), runs its
    /// tile rows (halo included) into `shard-NNNN.*.tif` under temporary names, renames them,
    /// and writes `shard-NNNN.json` last. Running it again gives the same bytes.
    /// - Parameter threads: worker threads (the outputs do not depend on it); nil: the plan's.
    public func runShard(directory: String, index: Int, threads: Int? = nil) async throws -> ShardSummary {
        let (plan, planHash) = try ShardPlan.load(directory: directory)
        guard index >= 0, index < plan.shards.count else { throw ScaleOutError.indexOutOfRange(index: index, count: plan.shards.count) }
        let shard = plan.shards[index]
        try Self.checkScene(plan)
        var settings = plan.settings
        if let threads { settings.threads = threads }
        let scene = try Self.open(plan.scene.path, settings: settings)
        let prepared = try PreparedRun.prepare(settings: settings, scene: scene, cache: cacheDirectory, models: models,
                                               collectObjects: plan.outputs.objects, scaling: plan.scaling)
        let now = ShardPlan.Execution.current(splitsByMachine: prepared.segmenter.splitsProductsByMachine)
        guard now == plan.execution else { throw ScaleOutError.executionDiffers(what: "shard \(index)", planned: plan.execution, now: now) }
        if let key = RunJournal.firstDifference(plan.provenance, prepared.provenance) {
            throw ScaleOutError.planDiffers(index: index, key: key, planned: plan.provenance[key], now: prepared.provenance[key])
        }
        guard prepared.grid.rowOrigins == plan.grid.rowOrigins, prepared.grid.width == plan.grid.width else {
            throw ScaleOutError.planDiffers(index: index, key: "tile grid", planned: "\(plan.grid.width) x \(plan.grid.height)", now: "\(prepared.grid.width) x \(prepared.grid.height)")
        }
        let files = try ShardFiles(directory: directory, plan: plan, shard: shard, scene: scene)
        let clock = ContinuousClock(), start = clock.now
        do {
            let decision = prepared.decision
            let stats = try await SceneRunner.run(reader: prepared.reader, grid: prepared.grid, segmenter: prepared.segmenter,
                                                  from: shard.firstRow, until: shard.endGridRow, progress: { p in progress?(p) }) { rows in
                try files.write(decision.apply(rows), rows: rows.row..<(rows.row + rows.rowCount))
            }
            if let objects = prepared.objects { try files.writeObjects(objects.tileObjects) }
            let manifest = try files.commit(planSHA256: planHash, execution: now, stats: stats)
            try RunJournal.writeAtomically(try RunJournal.encode(manifest), to: ShardManifest.path(directory: directory, index: index))
            return ShardSummary(index: index, shards: plan.shards.count, firstRow: shard.firstRow, endRow: shard.endRow, tiles: stats.tiles,
                                encodedTiles: stats.encodedTiles, haloGridRows: shard.haloGridRows, seconds: SceneRunner.seconds(clock.now - start))
        } catch {
            files.discard()
            throw error
        }
    }

    /// Merges the shards in `request.directory` into the outputs a single run writes: checks
    /// the plan and every shard's manifest (made for this plan, with its kernel choice,
    /// complete), streams the shards' rows in order through the same writers as a single run
    /// with the plan's provenance, and finishes the outputs as a single run does (COGs, style,
    /// STAC item, area table, polygons, preview; or `detect`'s objects from the merged map).
    public func merge(_ request: MergeRequest) async throws -> MergeSummary {
        let directory = request.directory
        let (plan, planHash) = try ShardPlan.load(directory: directory)
        let manifests = try Self.checkShards(plan, planSHA256: planHash, directory: directory)
        try Self.checkScene(plan)
        let scene = try Self.open(plan.scene.path, settings: plan.settings)
        let frame = RunFrame(settings: plan.settings, scene: scene, reader: try PreparedRun.reader(settings: plan.settings, scene: scene, scaling: plan.scaling),
                             grid: try TileGrid(width: scene.width, height: scene.height, size: plan.settings.tile, overlap: plan.settings.overlap),
                             provenance: plan.provenance)
        let shardInputs = [OutputSet.Input(path: (directory as NSString).appendingPathComponent(ShardPlan.fileName), role: "the shard plan")]
            + manifests.flatMap { m in
                [OutputSet.Input(path: ShardManifest.path(directory: directory, index: m.index), role: "a shard's manifest")]
                    + m.files.values.map { OutputSet.Input(path: (directory as NSString).appendingPathComponent($0.name), role: "a shard's rows") }
            }
        let start = Date()
        let misplaced = plan.command == .segment
            ? [("--gpkg", request.geoPackage)]
            : [("--probabilities", request.probabilities), ("--preview", request.preview), ("--stats", request.statistics), ("--vectors", request.vectors)]
        if let (option, _) = misplaced.first(where: { $0.1 != nil }) { throw ScaleOutError.notForCommand(option: option, command: plan.command) }
        guard let primary = request.primary ?? plan.outputs.primary else { throw ScaleOutError.noOutput(command: plan.command) }
        var summary = MergeSummary(command: plan.command.rawValue, output: primary, shards: plan.shards.count,
                                   tilesRun: plan.shards.reduce(0) { $0 + $1.tiles }, tiles: plan.grid.columns * plan.grid.rowOrigins.count, seconds: 0)
        switch plan.command {
        case .segment:
            let probabilities = request.probabilities ?? plan.outputs.probabilitiesPath
            if request.probabilities != nil, !plan.outputs.probabilities { throw ScaleOutError.notPlanned(output: "probabilities (--probabilities)") }
            var segment = SegmentRequest(scene: plan.scene.path, settings: plan.settings, classMap: primary, probabilities: probabilities,
                                         confidence: plan.outputs.confidence, preview: request.preview ?? plan.outputs.preview,
                                         statistics: request.statistics ?? plan.outputs.statistics, overwrite: request.overwrite, inputs: shardInputs)
            segment.probabilityEncoding = plan.outputs.probabilityEncoding
            segment.vectors = request.vectors ?? plan.outputs.vectors
            let (outputs, sidecars) = try Self.outputSet(segment, scene: scene)
            do {
                let written = try frame.classMapOutputs(classMap: outputs.files[0], probabilities: outputs.file(role: OutputRole.probabilities),
                                                        confidence: outputs.file(role: OutputRole.confidence), probabilityEncoding: plan.outputs.probabilityEncoding)
                try Self.stream(plan, manifests: manifests, directory: directory, into: written)
                try written.finish(commit: false, step: { frame.announce($0, progress) })
                try frame.writeClassMapExtras(sidecars, outputs: outputs, written: written, request: segment, progress: progress)
                try outputs.commit()
                summary.classes = ClassStatistics.rows(classes: frame.outputClasses, pixels: written.pixelCounts, areas: written.areas)
            } catch {
                outputs.discard()
                throw error
            }
        case .detect:
            let detect = DetectRequest(scene: plan.scene.path, settings: plan.settings, geojson: primary, gpkg: request.geoPackage ?? plan.outputs.geoPackage,
                                       extraction: plan.extraction ?? ExtractionOptions(), overwrite: request.overwrite, inputs: shardInputs)
            let (outputs, format) = try Self.outputSet(detect, scene: scene, settings: plan.settings)
            do {
                let written = try frame.classMapOutputs(classMap: outputs.scratch("map.tif"), probabilities: outputs.scratch("probabilities.tif"),
                                                        confidence: nil, probabilityEncoding: .float32)
                try Self.stream(plan, manifests: manifests, directory: directory, into: written)
                try written.finish(commit: false, step: { frame.announce($0, progress) })
                frame.announce("objects: polygons", progress)
                let instanceClasses = Set(plan.settings.classes.indices.filter { plan.settings.classes[$0].instances })
                // SAM 3's objects: every shard's, replayed in order into one merger, joined across tile and shard borders alike.
                let objects: ObjectMerger? = try plan.outputs.objects ? {
                    let merger = ObjectMerger()
                    for m in manifests { merger.restore(try ShardFiles.readObjects(m, directory: directory)) }
                    return merger
                }() : nil
                let extracted = try frame.extractObjects(written, merger: objects, options: detect.extraction, instanceClasses: instanceClasses,
                                                         outputs: [(outputs.files[0], format)] + (outputs.file(role: OutputRole.geoPackage).map { [($0, VectorFormat.geoPackage)] } ?? []))
                try outputs.commit()
                summary.objects = extracted.objects.count
                summary.objectClasses = extracted.perClass.map { .init(name: $0.name, objects: $0.objects) }
            } catch {
                outputs.discard()
                throw error
            }
        }
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// The scene must be the file planned: same size, same header.
    static func checkScene(_ plan: ShardPlan) throws {
        let now = try ShardPlan.SceneIdentity.of(path: plan.scene.path)
        guard now == plan.scene else {
            func said(_ s: ShardPlan.SceneIdentity) -> String { "\(s.bytes) bytes, header sha256 \(s.headerSHA256.prefix(12))" }
            throw ScaleOutError.sceneChanged(path: plan.scene.path, planned: said(plan.scene), now: said(now))
        }
    }

    /// Every shard's manifest, checked: present, made for this plan (its hash), for its index
    /// and rows, with the plan's kernel choice, its files there with their sizes.
    static func checkShards(_ plan: ShardPlan, planSHA256: String, directory: String) throws -> [ShardManifest] {
        try plan.shards.map { shard in
            let path = ShardManifest.path(directory: directory, index: shard.index)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScaleOutError.missingShard(index: shard.index, count: plan.shards.count, path: path)
            }
            guard let manifest = try? JSONDecoder().decode(ShardManifest.self, from: data), manifest.format == ShardManifest.currentFormat else {
                throw ScaleOutError.foreignShard(path: path, reason: "is not a landscribe shard manifest: run the shard again")
            }
            guard manifest.planSHA256 == planSHA256 else {
                throw ScaleOutError.foreignShard(path: path, reason: "was made for another plan (plan sha256 \(manifest.planSHA256.prefix(12)), this plan \(planSHA256.prefix(12))): run the shard again")
            }
            guard manifest.index == shard.index, manifest.firstRow == shard.firstRow, manifest.endRow == shard.endRow else {
                throw ScaleOutError.foreignShard(path: path, reason: "is of shard \(manifest.index), rows \(manifest.firstRow)..<\(manifest.endRow), not of shard \(shard.index): run the shard again")
            }
            guard manifest.execution == plan.execution else {
                throw ScaleOutError.executionDiffers(what: "shard \(shard.index) ('\(path)')", planned: plan.execution, now: manifest.execution)
            }
            for role in ShardFiles.roles(plan) {
                guard let file = manifest.files[role] else { throw ScaleOutError.foreignShard(path: path, reason: "lists no \(role) rows: run the shard again") }
                let filePath = (directory as NSString).appendingPathComponent(file.name)
                let size = ((try? FileManager.default.attributesOfItem(atPath: filePath))?[.size] as? NSNumber)?.int64Value
                guard size == file.bytes else {
                    throw ScaleOutError.foreignShard(path: filePath, reason: size == nil ? "is missing: run shard \(shard.index) again" : "is not the file its manifest lists (\(size!) bytes, \(file.bytes) listed): run shard \(shard.index) again")
                }
            }
            return manifest
        }
    }

    /// Writes every shard's rows, in order, into `outputs`.
    static func stream(_ plan: ShardPlan, manifests: [ShardManifest], directory: String, into outputs: SegmentOutputs) throws {
        for manifest in manifests {
            try ShardFiles.read(manifest, plan: plan, directory: directory) { result, rows in
                try outputs.write(result, rows: rows, width: plan.grid.width)
            }
        }
    }
}
