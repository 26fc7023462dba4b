public import Foundation
public import GeoIO
public import Instances
import Segmentation

/// The version written into every output's provenance.
public enum LandscribeVersion {
    public static let current = "0.1.0"
}

/// Maps whole scenes: the workflow of `landscribe segment` and `detect` as a library. Checks
/// everything cheap first (scene, outputs), then loads the model, runs every tile, and commits
/// the outputs together (docs/guarantees.md). The command line only parses options, calls this
/// and prints the summary.
///
/// ```swift
/// var settings = SegmentSettings()
/// try settings.setClasses("building; road; tree, forest; water")
/// let summary = try await SceneMapper().segment(SegmentRequest(scene: "scene.tif", settings: settings, classMap: "landcover.tif"))
/// print(summary.classes.map { "\($0.name): \($0.pixels)" })
/// ```
public struct SceneMapper: Sendable {
    /// Called as tiles finish (from the run's writer task).
    public var progress: (@Sendable (RunProgress) -> Void)?
    /// The model cache (models fetched by id, hashes, text queries); nil: `$LANDSCRIBE_CACHE`,
    /// else `~/.cache/landscribe`.
    public var cacheDirectory: URL?
    /// Told about things worth knowing before a run, such as a run that will take hours.
    public var warning: (@Sendable (String) -> Void)?
    /// Keeps the model and text queries from one call to the next (a batch of scenes); nil
    /// loads them for every call.
    public var models: LoadedModels?

    public init(cacheDirectory: URL? = nil, progress: (@Sendable (RunProgress) -> Void)? = nil, warning: (@Sendable (String) -> Void)? = nil) {
        self.cacheDirectory = cacheDirectory
        self.progress = progress
        self.warning = warning
    }

    /// Runs longer than this get a warning with the tile count and an estimate.
    public static let longRunSeconds = 3600.0

    func warnIfLong(_ prepared: PreparedRun) {
        let workers = prepared.settings.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let seconds = prepared.estimatedSeconds(workers: workers)
        guard seconds > Self.longRunSeconds else { return }
        let hours = seconds / 3600
        warning?("\(prepared.grid.tileCount) tiles x \(prepared.rotations.count) rotations: roughly \(hours >= 48 ? "\(Int(hours / 24)) days" : String(format: "%.0f hours", hours)) on \(workers) cores (an estimate at 75 GFLOP/s a core; all-nodata tiles are skipped)")
    }

    /// Writes the class map (and probabilities, preview) of `request.scene`.
    public func segment(_ request: SegmentRequest) async throws -> SegmentSummary {
        let scene = try Self.open(request.scene, settings: request.settings)
        let (outputs, sidecars) = try Self.outputSet(request, scene: scene)
        let start = Date()
        var journal: RunJournal? = nil
        do {
            let prepared = try PreparedRun.prepare(settings: request.settings, scene: scene, cache: cacheDirectory, models: models)
            warnIfLong(prepared)
            let run = "segment: class map \(outputs.files[0].url.path), probabilities \(outputs.file(role: OutputRole.probabilities)?.url.path ?? "none"), confidence \(outputs.file(role: OutputRole.confidence)?.url.path ?? "none"), probabilities as \(request.probabilityEncoding)"
            journal = try openJournal(for: outputs.files[0], plan: prepared.plan(run: run), resume: request.resume)
            let written = try await prepared.segment(classMap: outputs.files[0], probabilities: outputs.file(role: OutputRole.probabilities),
                                                     confidence: outputs.file(role: OutputRole.confidence),
                                                     probabilityEncoding: request.probabilityEncoding, journal: journal, progress: progress)
            try prepared.frame.writeClassMapExtras(sidecars, outputs: outputs, written: written.outputs, request: request, progress: progress)
            try outputs.commit()
            journal?.remove()
            let stats = written.stats
            return SegmentSummary(tiles: stats.tiles, encodedTiles: stats.encodedTiles, encoderRuns: stats.encoderRuns,
                                  seconds: Date().timeIntervalSince(start),
                                  classes: ClassStatistics.rows(classes: prepared.outputClasses, pixels: written.outputs.pixelCounts, areas: written.outputs.areas),
                                  segmenterSeconds: stats.segmenterSeconds, encoderSeconds: prepared.segmenter.encoderClock.seconds,
                                  headSeconds: prepared.segmenter.headClock.seconds, engine: prepared.segmenter.engineName,
                                  resumedRows: journal?.resumed?.rows ?? 0, exemplars: prepared.exemplars)
        } catch {
            outputs.discard()
            journal?.remove()
            throw error
        }
    }

    /// The outputs of `segment` (class map, probabilities, preview, style, STAC item,
    /// confidence, area table, polygons), checked and reserved together.
    static func outputSet(_ request: SegmentRequest, scene: RasterDataset) throws -> (OutputSet, ClassMapSidecars) {
        let sidecars = ClassMapSidecars(classMap: request.classMap)
        let outputs = try OutputSet([OutputSet.Request(path: request.classMap, role: OutputRole.classMap, sideSuffixes: [".aux.xml"], extensions: ["tif", "tiff"])]
                                    + (request.probabilities.map { [OutputSet.Request(path: $0, role: OutputRole.probabilities, sideSuffixes: [".aux.xml"], extensions: ["tif", "tiff"])] } ?? [])
                                    + (request.preview.map { [OutputSet.Request(path: $0, role: OutputRole.preview, extensions: ["png"])] } ?? [])
                                    + sidecars.requests(confidence: request.confidence)
                                    + (request.statistics.map { [OutputSet.Request(path: $0, role: OutputRole.statistics, extensions: ["csv", "json"])] } ?? [])
                                    + request.vectorRequests,
                                    inputs: Self.inputs(scene: scene, path: request.scene, extra: request.inputs, settings: request.settings), overwrite: request.overwrite)
        return (outputs, sidecars)
    }

    /// The outputs of `detect` (objects in the format of their extension, a GeoPackage), checked
    /// and reserved together, with the objects' format.
    static func outputSet(_ request: DetectRequest, scene: RasterDataset, settings: SegmentSettings) throws -> (OutputSet, VectorFormat) {
        // The objects' format is their file's extension (VectorFormat); an unknown one is refused by the OutputSet.
        let format = VectorFormat(path: request.geojson) ?? .geoJSON
        let outputs = try OutputSet([OutputSet.Request(path: request.geojson, role: OutputRole.objects, extensions: VectorFormat.allExtensions,
                                                       siblingExtensions: format.siblingExtensions)]
                                    + (request.gpkg.map { [OutputSet.Request(path: $0, role: OutputRole.geoPackage, extensions: ["gpkg"])] } ?? []),
                                    inputs: Self.inputs(scene: scene, path: request.scene, extra: request.inputs, settings: settings), overwrite: request.overwrite)
        return (outputs, format)
    }

    /// Writes one polygon per object of the instance classes of `request.settings`.
    public func detect(_ request: DetectRequest) async throws -> DetectSummary {
        var settings = request.settings
        if request.extraction.pixelCoordinates { settings.exemplars?.pixelCoordinates = true }
        let instanceClasses = Set(settings.classes.indices.filter { settings.classes[$0].instances })
        guard !instanceClasses.isEmpty else { throw MappingError.noInstanceClasses }
        let scene = try Self.open(request.scene, settings: request.settings)
        if scene.spatialReference == nil || scene.geoTransform == nil, !request.extraction.pixelCoordinates {
            throw MappingError.noGeoreferencing(scene: request.scene)
        }
        let (outputs, format) = try Self.outputSet(request, scene: scene, settings: settings)
        let start = Date()
        var journal: RunJournal? = nil
        do {
            let prepared = try PreparedRun.prepare(settings: settings, scene: scene, cache: cacheDirectory, models: models, collectObjects: true)
            warnIfLong(prepared)
            if prepared.objects == nil {
                journal = try openJournal(for: outputs.files[0], plan: prepared.plan(run: "detect: stitched class map and probabilities"), resume: request.resume)
            } else {
                // SAM 3's instances are gathered in memory tile by tile: a resumed run would lack those of the tiles it skips.
                if request.resume { throw MappingError.noResume(engine: prepared.segmenter.engineName) }
                RunJournal.remove(for: outputs.files[0].url)
            }
            // The stitched map and probabilities go to hidden scratch files beside the output.
            let written = try await prepared.segment(classMap: outputs.scratch("map.tif"), probabilities: outputs.scratch("probabilities.tif"),
                                                     confidence: nil, journal: journal, progress: progress)
            prepared.announce("objects: polygons", progress)
            let summary = try prepared.extractObjects(written.outputs, options: request.extraction, instanceClasses: instanceClasses,
                                                      outputs: [(outputs.files[0], format)] + (outputs.file(role: OutputRole.geoPackage).map { [($0, VectorFormat.geoPackage)] } ?? []))
            try outputs.commit()
            journal?.remove()
            return DetectSummary(tiles: written.stats.tiles, encoderRuns: written.stats.encoderRuns, seconds: Date().timeIntervalSince(start),
                                 objects: summary.objects.count, classes: summary.perClass.map { .init(name: $0.name, objects: $0.objects) },
                                 engine: prepared.segmenter.engineName, resumedRows: journal?.resumed?.rows ?? 0, exemplars: prepared.exemplars)
        } catch {
            outputs.discard()
            journal?.remove()
            throw error
        }
    }

    /// The journal beside `output` (`RunJournal`): a stale one is removed unless `resume`;
    /// `resume` with nothing to resume from says so and starts from the first row.
    func openJournal(for output: OutputFile, plan: [String: String], resume: Bool) throws -> RunJournal {
        let journal = try RunJournal(for: output.url, plan: plan, resume: resume)
        if resume, journal.resumed == nil {
            warning?("--resume: no rows of an earlier run of '\(output.url.path)' to resume from; starting from the first row")
        }
        return journal
    }

    /// The scene, or the view of it that `--aoi` and `--gsd` ask for (`SceneView`).
    static func open(_ path: String, settings: SegmentSettings) throws -> RasterDataset {
        let scene = try RasterDataset(path: path)
        guard settings.areaOfInterest != nil || settings.groundSampleDistance != nil else { return scene }
        let window = try settings.areaOfInterest.map { try SceneView.window(of: scene, covering: $0) }
        return try SceneView.view(of: scene, window: window, gsd: settings.groundSampleDistance)
    }

    /// The files a run reads, which no output may replace: the scene as given, every file GDAL
    /// lists for it (a VRT's sources, side files), `extra` (pipeline, templates), and the
    /// exemplar file with every file GDAL lists for it (a Shapefile's parts).
    static func inputs(scene: RasterDataset, path: String, extra: [OutputSet.Input], settings: SegmentSettings) -> [OutputSet.Input] {
        let exemplars = settings.exemplars.map { e in
            [OutputSet.Input(path: e.file, role: "the exemplar file")]
                + VectorReader.files(path: e.file).map { OutputSet.Input(path: $0, role: "a file of the exemplar file") }
        } ?? []
        return [OutputSet.Input(path: path, role: "the scene")] + scene.files.map { OutputSet.Input(path: $0, role: "a file of the scene") } + extra + exemplars
    }
}

/// The roles of a run's outputs, as `OutputError`s name them.
public enum OutputRole {
    public static let classMap = "class map"
    public static let probabilities = "probabilities"
    public static let preview = "preview"
    public static let objects = "objects"
    public static let geoPackage = "GeoPackage"
}

/// What `SceneMapper.segment` writes, and from what.
public struct SegmentRequest: Sendable {
    public var scene: String
    public var settings: SegmentSettings
    /// The class map (a Cloud-Optimized GeoTIFF).
    public var classMap: String
    /// Per-class probabilities (Float32, one band per class), when wanted.
    public var probabilities: String?
    /// The winning probability as 0..100 in its own file beside the class map
    /// (`ClassMapSidecars.confidence`).
    public var confidence: Bool
    /// A PNG of the scene with the classes over it.
    public var preview: String?
    /// The area table (`ClassStatistics`), `.csv` or `.json` by its extension.
    public var statistics: String?
    /// How `probabilities` stores them.
    public var probabilityEncoding: ProbabilityEncoding = .float32
    /// Every class as polygons (`LandCoverVectors`), in the format of the extension.
    public var vectors: String?
    public var overwrite: Bool
    /// Files the run reads besides the scene (the pipeline, a templates file).
    public var inputs: [OutputSet.Input]
    /// Continue from the journal a run killed outright left (docs/guarantees.md).
    public var resume: Bool

    public init(scene: String, settings: SegmentSettings, classMap: String, probabilities: String? = nil, confidence: Bool = false,
                preview: String? = nil, statistics: String? = nil, overwrite: Bool = false, inputs: [OutputSet.Input] = [], resume: Bool = false) {
        self.statistics = statistics; self.resume = resume
        self.scene = scene; self.settings = settings; self.classMap = classMap; self.probabilities = probabilities
        self.confidence = confidence; self.preview = preview; self.overwrite = overwrite; self.inputs = inputs
    }
}

/// What `SceneMapper.detect` writes, and from what.
public struct DetectRequest: Sendable {
    public var scene: String
    public var settings: SegmentSettings
    /// The objects, in the format of the file's extension (`VectorFormat`): `.geojson`/`.json`
    /// RFC 7946 GeoJSON (WGS 84), `.gpkg`, `.fgb` or `.shp` in the scene's CRS; pixel
    /// coordinates with `extraction.pixelCoordinates`.
    public var geojson: String
    /// A GeoPackage in the scene's CRS, when wanted.
    public var gpkg: String?
    public var extraction: ExtractionOptions
    public var overwrite: Bool
    public var inputs: [OutputSet.Input]
    /// Continue from the journal a run killed outright left (docs/guarantees.md).
    public var resume: Bool

    public init(scene: String, settings: SegmentSettings, geojson: String, gpkg: String? = nil, extraction: ExtractionOptions = ExtractionOptions(),
                overwrite: Bool = false, inputs: [OutputSet.Input] = [], resume: Bool = false) {
        self.scene = scene; self.settings = settings; self.geojson = geojson; self.gpkg = gpkg
        self.extraction = extraction; self.overwrite = overwrite; self.inputs = inputs; self.resume = resume
    }
}

/// The summary of a `segment` run; its JSON is the summary `segment` prints (docs/segment.md).
public struct SegmentSummary: Codable, Sendable, Equatable {
    /// A class's row of the area table (`ClassStatistics`).
    public struct ClassPixels: Codable, Sendable, Equatable {
        public let name: String
        public let pixels: Int
        /// The class's share of the valid (not nodata) pixels, 0..1.
        public var share: Double = 0
        /// Square metres on the WGS 84 ellipsoid (`PixelAreas`); nil for a scene without a CRS.
        public var areaM2: Double? = nil

        enum CodingKeys: String, CodingKey { case name, pixels, share, areaM2 = "area_m2" }
    }
    public let tiles: Int
    /// Tiles with at least one valid pixel (the others are not run through the model).
    public let encodedTiles: Int
    public let encoderRuns: Int
    public let seconds: Double
    public let classes: [ClassPixels]
    public let segmenterSeconds: Double
    public let encoderSeconds: Double
    public let headSeconds: Double
    /// "clip" or "sam3": the engine the model folder chose.
    public let engine: String
    /// Scene rows an earlier, killed run had written (`--resume`); 0 for a whole run. The tile
    /// counts and times are this run's.
    public let resumedRows: Int
    /// METHOD.md section 10's exemplars, when used (absent from the JSON otherwise).
    public var exemplars: ExemplarSummary? = nil
    /// The process's peak resident memory when the run ended (`ProcessMemory.peakResidentBytes`;
    /// in a batch, the largest so far).
    public var peakMemoryBytes: Int = ProcessMemory.peakResidentBytes

    enum CodingKeys: String, CodingKey {
        case tiles, encodedTiles = "encoded_tiles", encoderRuns = "encoder_runs", seconds, classes
        case segmenterSeconds = "segmenter_seconds", encoderSeconds = "encoder_seconds", headSeconds = "head_seconds"
        case engine, resumedRows = "resumed_rows", exemplars, peakMemoryBytes = "peak_memory_bytes"
    }
}

/// The summary of a `detect` run; its JSON is the summary `detect` prints (docs/detect.md).
public struct DetectSummary: Codable, Sendable, Equatable {
    public struct ClassObjects: Codable, Sendable, Equatable {
        public let name: String
        public let objects: Int
    }
    public let tiles: Int
    public let encoderRuns: Int
    public let seconds: Double
    public let objects: Int
    public let classes: [ClassObjects]
    /// "clip" or "sam3".
    public let engine: String
    /// Scene rows an earlier, killed run had written (`--resume`); 0 for a whole run.
    public let resumedRows: Int
    /// METHOD.md section 10's exemplars, when used (absent from the JSON otherwise).
    public var exemplars: ExemplarSummary? = nil
    /// The process's peak resident memory when the run ended (as `SegmentSummary`'s).
    public var peakMemoryBytes: Int = ProcessMemory.peakResidentBytes

    enum CodingKeys: String, CodingKey {
        case tiles, encoderRuns = "encoder_runs", seconds, objects, classes, engine, resumedRows = "resumed_rows", exemplars
        case peakMemoryBytes = "peak_memory_bytes"
    }
}

/// Why a scene cannot be mapped as asked; the command line words these with its options.
public enum MappingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `detect` with no class marked `instances: true`.
    case noInstanceClasses
    /// `detect` on a scene without CRS or geotransform, without pixel coordinates asked for.
    case noGeoreferencing(scene: String)
    /// `dec` or exemplars with a model that is not CLIP.
    case clipOnly(model: String)
    /// `--resume` where the engine cannot resume (`detect` with SAM 3).
    case noResume(engine: String)

    public var description: String {
        switch self {
        case .noInstanceClasses:
            return "no class is marked 'instances: true' in the pipeline: detect has nothing to extract"
        case .noGeoreferencing(let scene):
            return "'\(scene)' has no CRS or georeferencing: objects cannot be placed on the Earth; ask for pixel coordinates to get them in pixels"
        case .clipOnly(let model):
            return "dec and exemplars (METHOD.md section 10) work with CLIP models; '\(model)' is a SAM 3 model"
        case .noResume(let engine):
            return "detect with the \(engine) engine cannot resume yet (its objects are gathered in memory tile by tile); run without resume to start over"
        }
    }
}
