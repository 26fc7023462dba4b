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
        let scene = try RasterDataset(path: request.scene)
        let outputs = try OutputSet([OutputSet.Request(path: request.classMap, role: OutputRole.classMap, sideSuffixes: [".aux.xml"], extensions: ["tif", "tiff"])]
                                    + (request.probabilities.map { [OutputSet.Request(path: $0, role: OutputRole.probabilities, sideSuffixes: [".aux.xml"], extensions: ["tif", "tiff"])] } ?? [])
                                    + (request.preview.map { [OutputSet.Request(path: $0, role: OutputRole.preview, extensions: ["png"])] } ?? []),
                                    inputs: Self.inputs(scene: scene, path: request.scene, extra: request.inputs), overwrite: request.overwrite)
        let start = Date()
        do {
            let prepared = try PreparedRun.prepare(settings: request.settings, scene: scene, cache: cacheDirectory)
            warnIfLong(prepared)
            let written = try await prepared.segment(classMap: outputs.files[0], probabilities: outputs.file(role: OutputRole.probabilities),
                                                     confidence: request.confidence, progress: progress)
            if let file = outputs.file(role: OutputRole.preview) {
                try PreviewRenderer.render(scene: scene, reader: prepared.reader, classMap: written.outputs.classMapPath, classes: prepared.outputClasses,
                                           title: "landscribe: \(request.settings.name)", to: file, commit: false)
            }
            try outputs.commit()
            let stats = written.stats
            return SegmentSummary(tiles: stats.tiles, encodedTiles: stats.encodedTiles, encoderRuns: stats.encoderRuns,
                                  seconds: Date().timeIntervalSince(start),
                                  classes: zip(prepared.outputClasses, written.outputs.pixelCounts).map { .init(name: $0.0.name, pixels: $0.1) },
                                  segmenterSeconds: stats.segmenterSeconds, encoderSeconds: prepared.segmenter.encoderClock.seconds,
                                  headSeconds: prepared.segmenter.headClock.seconds, engine: prepared.segmenter.engineName)
        } catch {
            outputs.discard()
            throw error
        }
    }

    /// Writes one polygon per object of the instance classes of `request.settings`.
    public func detect(_ request: DetectRequest) async throws -> DetectSummary {
        let settings = request.settings
        let instanceClasses = Set(settings.classes.indices.filter { settings.classes[$0].instances })
        guard !instanceClasses.isEmpty else { throw MappingError.noInstanceClasses }
        let scene = try RasterDataset(path: request.scene)
        if scene.spatialReference == nil || scene.geoTransform == nil, !request.extraction.pixelCoordinates {
            throw MappingError.noGeoreferencing(scene: request.scene)
        }
        let outputs = try OutputSet([OutputSet.Request(path: request.geojson, role: OutputRole.objects, extensions: ["geojson", "json"])]
                                    + (request.gpkg.map { [OutputSet.Request(path: $0, role: OutputRole.geoPackage, extensions: ["gpkg"])] } ?? []),
                                    inputs: Self.inputs(scene: scene, path: request.scene, extra: request.inputs), overwrite: request.overwrite)
        let start = Date()
        do {
            let prepared = try PreparedRun.prepare(settings: settings, scene: scene, cache: cacheDirectory, collectObjects: true)
            warnIfLong(prepared)
            // The stitched map and probabilities go to hidden scratch files beside the output.
            let written = try await prepared.segment(classMap: outputs.scratch("map.tif"), probabilities: outputs.scratch("probabilities.tif"),
                                                     confidence: false, progress: progress)
            let summary = try prepared.extractObjects(written.outputs, options: request.extraction, instanceClasses: instanceClasses,
                                                      geojson: outputs.files[0], gpkg: outputs.file(role: OutputRole.geoPackage))
            try outputs.commit()
            return DetectSummary(tiles: written.stats.tiles, encoderRuns: written.stats.encoderRuns, seconds: Date().timeIntervalSince(start),
                                 objects: summary.objects.count, classes: summary.perClass.map { .init(name: $0.name, objects: $0.objects) },
                                 engine: prepared.segmenter.engineName)
        } catch {
            outputs.discard()
            throw error
        }
    }

    /// The files a run reads, which no output may replace: the scene as given, every file GDAL
    /// lists for it (a VRT's sources, side files), and `extra` (pipeline, templates).
    static func inputs(scene: RasterDataset, path: String, extra: [OutputSet.Input]) -> [OutputSet.Input] {
        [OutputSet.Input(path: path, role: "the scene")] + scene.files.map { OutputSet.Input(path: $0, role: "a file of the scene") } + extra
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
    /// A second band in the class map: the winning probability as 0..100.
    public var confidence: Bool
    /// A PNG of the scene with the classes over it.
    public var preview: String?
    public var overwrite: Bool
    /// Files the run reads besides the scene (the pipeline, a templates file).
    public var inputs: [OutputSet.Input]

    public init(scene: String, settings: SegmentSettings, classMap: String, probabilities: String? = nil, confidence: Bool = false,
                preview: String? = nil, overwrite: Bool = false, inputs: [OutputSet.Input] = []) {
        self.scene = scene; self.settings = settings; self.classMap = classMap; self.probabilities = probabilities
        self.confidence = confidence; self.preview = preview; self.overwrite = overwrite; self.inputs = inputs
    }
}

/// What `SceneMapper.detect` writes, and from what.
public struct DetectRequest: Sendable {
    public var scene: String
    public var settings: SegmentSettings
    /// RFC 7946 GeoJSON (WGS 84), or pixel coordinates with `extraction.pixelCoordinates`.
    public var geojson: String
    /// A GeoPackage in the scene's CRS, when wanted.
    public var gpkg: String?
    public var extraction: ExtractionOptions
    public var overwrite: Bool
    public var inputs: [OutputSet.Input]

    public init(scene: String, settings: SegmentSettings, geojson: String, gpkg: String? = nil, extraction: ExtractionOptions = ExtractionOptions(),
                overwrite: Bool = false, inputs: [OutputSet.Input] = []) {
        self.scene = scene; self.settings = settings; self.geojson = geojson; self.gpkg = gpkg
        self.extraction = extraction; self.overwrite = overwrite; self.inputs = inputs
    }
}

/// The summary of a `segment` run; its JSON is the summary `segment` prints (docs/segment.md).
public struct SegmentSummary: Codable, Sendable, Equatable {
    public struct ClassPixels: Codable, Sendable, Equatable {
        public let name: String
        public let pixels: Int
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

    enum CodingKeys: String, CodingKey {
        case tiles, encodedTiles = "encoded_tiles", encoderRuns = "encoder_runs", seconds, classes
        case segmenterSeconds = "segmenter_seconds", encoderSeconds = "encoder_seconds", headSeconds = "head_seconds"
        case engine
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

    enum CodingKeys: String, CodingKey {
        case tiles, encoderRuns = "encoder_runs", seconds, objects, classes, engine
    }
}

/// Why a scene cannot be mapped as asked; the command line words these with its options.
public enum MappingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `detect` with no class marked `instances: true`.
    case noInstanceClasses
    /// `detect` on a scene without CRS or geotransform, without pixel coordinates asked for.
    case noGeoreferencing(scene: String)

    public var description: String {
        switch self {
        case .noInstanceClasses:
            return "no class is marked 'instances: true' in the pipeline: detect has nothing to extract"
        case .noGeoreferencing(let scene):
            return "'\(scene)' has no CRS or georeferencing: objects cannot be placed on the Earth; ask for pixel coordinates to get them in pixels"
        }
    }
}
