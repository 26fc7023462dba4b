import Foundation
import Tiling
public import GeoIO
public import Segmentation
public import Tensor
import Yams

/// Everything `segment` and `detect` need to know, after the pipeline file and the command
/// line are merged (flags override the file). Defaults are docs/METHOD.md's reference
/// configuration.
public struct SegmentSettings: Sendable, Codable {
    public struct OutputClassInfo: Sendable, Equatable, Codable {
        public var name: String
        public var color: RGBA
        /// Objects of this class are extracted by `detect`.
        public var instances: Bool
        /// Synonyms (text prompts); empty for a background class that is not a query.
        public var prompts: [String]
    }

    public var name = "classes"
    /// A folder in Hugging Face layout or a model id.
    public var model = "openai/clip-vit-base-patch16"
    /// Output classes in order: index i in the class map. A background class that is not
    /// among the named classes comes last and has no prompts.
    public var classes: [OutputClassInfo] = []
    /// The name of the class given to pixels whose best probability is under `threshold`.
    public var background: String?
    public var threshold: Float = 0
    /// "aeroseg", "imagenet80", "single", a file path, or "custom" for a list in the file.
    public var templatesName = "aeroseg"
    public var templates = Templates.aeroseg
    /// The rotation set; unless a pipeline or flag gives one (`rotationsGiven`), the engine's
    /// default: {0, 90, 180, 270} for CLIP, {0} for SAM 3.
    public var rotations: [Int] {
        get { rotationsGiven ?? Self.clipRotations }
        set { rotationsGiven = newValue }
    }
    public var rotationsGiven: [Int]?
    public static let clipRotations = [0, 90, 180, 270]
    /// SAM 3 engine: objects scoring above this are kept (METHOD.md section 9, `object_threshold`).
    public var objectThreshold: Float = 0.5
    public var tile = 512
    public var overlap = 128
    public var logitScale: Float = 50
    public var clsLambda: Float = -0.3
    /// 1-based bands read as R, G, B (or one band); nil: the first three, or the only one.
    public var bands: [Int]?
    /// Worker threads of the model; nil: every core this process may use. Not a pipeline key:
    /// it says how to run, not what to compute.
    public var threads: Int?
    /// The matrix products' precision (`--precision`, f32 or bf16; MatrixPrecision). Not a
    /// pipeline key either; recorded in the outputs' provenance (LANDSCRIBE_PRECISION).
    public var precision: MatrixPrecision = .f32
    /// METHOD.md section 10, `dec`: the fraction of embedding channels kept; nil: off.
    public var decKeep: Double?
    /// METHOD.md section 10, `exemplars`: the user's labelled polygons; nil: off.
    public var exemplars: ExemplarSettings?

    // GIS controls (--scale, --co; docs/segment.md "GIS controls"): how to read the scene and
    // write the rasters, not pipeline keys.
    /// A fixed mapping of the chosen bands' values to 0..255: one range for every band or one
    /// per band; nil scales 16-bit and float scenes from their own percentiles.
    public var inputRanges: [ClosedRange<Double>]?
    /// GDAL COG creation options (`KEY=VALUE`) for the rasters written, over landscribe's own.
    public var creationOptions: [String] = []
    /// Map only this area (`--aoi`): outputs on the scene's grid, cropped to it.
    public var areaOfInterest: AreaOfInterest?
    /// Resample the scene to this many metres a pixel (`--gsd`): outputs on the resampled grid.
    public var groundSampleDistance: Double?

    public init() {}

    /// The text side: classes that have prompts, in output order.
    public var vocabulary: Vocabulary {
        Vocabulary(classes: classes.filter { !$0.prompts.isEmpty }.map { Vocabulary.Class(name: $0.name, prompts: $0.prompts) },
                   templates: templates)
    }

    /// The output index of the background class, when there is one.
    public var backgroundIndex: Int? { background.flatMap { b in classes.firstIndex { $0.name == b } } }

    /// Reads a pipeline file (docs/segment.md "Pipeline files").
    public static func load(pipeline path: String) throws -> SegmentSettings {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SettingsError("cannot read pipeline '\(path)': \(FileManager.default.fileExists(atPath: path) ? "not UTF-8 text" : "no such file")")
        }
        return try parse(yaml: text, path: path)
    }

    /// Parses the text of a pipeline file; `path` names it in messages and its base name is the
    /// pipeline's name when the file gives none. The fuzz target FuzzPipeline enters here.
    public static func parse(yaml text: String, path: String) throws -> SegmentSettings {
        let file: PipelineFile
        do {
            if let root = try Yams.compose(yaml: text), let problem = PipelineFile.shapeProblem(root) {
                throw SettingsError("pipeline '\(path)': \(problem)")
            }
            if let problem = PipelineFile.unknownKey(in: try Yams.load(yaml: text)) { throw SettingsError("pipeline '\(path)': \(problem)") }
            file = try YAMLDecoder().decode(PipelineFile.self, from: text)
        } catch let e as SettingsError {
            throw e
        } catch let e as DecodingError {
            throw SettingsError("pipeline '\(path)': \(Self.describe(e))")
        } catch {
            throw SettingsError("pipeline '\(path)' is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        var s = SegmentSettings()
        s.name = file.name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if let m = file.model { s.model = m }
        guard let classes = file.classes, !classes.isEmpty else { throw SettingsError("pipeline '\(path)': no classes") }
        s.classes = try classes.enumerated().map { i, c in
            var color = Palette.color(i)
            if let hex = c.color {
                guard let parsed = RGBA(hex: hex) else { throw SettingsError("pipeline '\(path)': classes[\(i)].color '\(hex)' is not a #rrggbb colour") }
                color = parsed
            }
            let name = c.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty else { throw SettingsError("pipeline '\(path)': classes[\(i)].name is empty") }
            let prompts = c.prompts?.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? [name]
            guard !prompts.isEmpty else { throw SettingsError("pipeline '\(path)': classes[\(i)].prompts is empty; leave it out to use the name '\(name)'") }
            if let k = prompts.firstIndex(where: \.isEmpty) { throw SettingsError("pipeline '\(path)': classes[\(i)].prompts[\(k)] is empty") }
            return OutputClassInfo(name: name, color: color, instances: c.instances ?? false, prompts: prompts)
        }
        if let b = file.background { try s.setBackground(b, source: "pipeline '\(path)'") }
        if let t = file.threshold { s.threshold = Float(t) }
        switch file.templates {
        case .named(let n)?: try s.setTemplates(n, source: "pipeline '\(path)'")
        case .list(let l)?:
            try Self.checkTemplates(l, source: "pipeline '\(path)': templates")
            s.templates = l; s.templatesName = "custom"
        case nil: break
        }
        if let r = file.rotations { s.rotations = r }
        if let t = file.tiling { s.tile = t.size ?? s.tile; s.overlap = t.overlap ?? s.overlap }
        if let v = file.logit_scale { s.logitScale = Float(v) }
        if let v = file.cls_lambda { s.clsLambda = Float(v) }
        if let v = file.object_threshold { s.objectThreshold = Float(v) }
        if let v = file.gsd { s.groundSampleDistance = v }  // the pipeline's resolution hint; --gsd wins
        s.bands = file.bands
        if let d = file.dec { s.decKeep = d.keep ?? ChannelSelection.defaultKeep }
        if let e = file.exemplars {
            // A relative path is relative to the pipeline file's folder.
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            let url = e.file.hasPrefix("/") ? URL(fileURLWithPath: e.file) : folder.appendingPathComponent(e.file)
            s.exemplars = ExemplarSettings(file: url.standardizedFileURL.path, weight: e.weight.map(Float.init) ?? 1)
        }
        try s.validate(source: "pipeline '\(path)'")
        return s
    }

    /// Classes from a class list, `"building; road; tree, forest; water"`, default colours; all of
    /// them count as instance classes for `detect`.
    public mutating func setClasses(_ list: String) throws {
        classes = try Vocabulary.parseClassList(list).enumerated().map { i, c in
            OutputClassInfo(name: c.name, color: Palette.color(i), instances: true, prompts: c.prompts)
        }
        if let b = background { try setBackground(b, source: "background") }
    }

    /// Names the background class; a name that is no class is added as a last class without
    /// prompts (pixels only get it through the threshold).
    public mutating func setBackground(_ name: String, source: String) throws {
        classes.removeAll { $0.prompts.isEmpty }
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw SettingsError("\(source): the background class needs a name") }
        background = trimmed
        if !classes.contains(where: { $0.name == trimmed }) {
            classes.append(OutputClassInfo(name: trimmed, color: RGBA(0, 0, 0), instances: false, prompts: []))
        }
    }

    /// `aeroseg`, `imagenet80`, `single`, or a file with one template a line.
    public mutating func setTemplates(_ value: String, source: String) throws {
        if let named = Templates.named(value) {
            templates = named; templatesName = value
            return
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: value, isDirectory: &isDirectory) else {
            throw SettingsError("\(source): templates '\(value)' is neither aeroseg, imagenet80, single nor an existing file")
        }
        if isDirectory.boolValue { throw SettingsError("\(source): templates '\(value)' is a folder, not a file of templates") }
        let text: String
        do { text = try String(contentsOfFile: value, encoding: .utf8) } catch {
            throw SettingsError("\(source): templates file '\(value)' cannot be read as UTF-8 text")
        }
        let lines = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        try Self.checkTemplates(lines, source: "templates file '\(value)'")
        templates = lines; templatesName = value
    }

    static func checkTemplates(_ list: [String], source: String) throws {
        guard !list.isEmpty else { throw SettingsError("\(source): no templates") }
        if let bad = list.first(where: { !$0.contains("{}") }) { throw SettingsError("\(source): template '\(bad)' has no {}") }
    }

    /// The largest tile side: 16,384 patch tokens for a ViT-B/16, minutes per tile.
    public static let maxTile = 2048

    /// Checks the merged settings; `source` names where a bad value came from.
    public func validate(source: String) throws {
        guard classes.contains(where: { !$0.prompts.isEmpty }) else { throw SettingsError("\(source): no classes") }
        guard classes.count < ClassMap.maxClasses else { throw SettingsError("\(source): at most \(ClassMap.maxClasses - 1) classes, got \(classes.count)") }
        var seen = Set<String>()
        for c in classes where !seen.insert(c.name).inserted { throw SettingsError("\(source): class '\(c.name)' appears twice") }
        guard !rotations.isEmpty, rotations.allSatisfy({ [0, 90, 180, 270].contains($0) }), Set(rotations).count == rotations.count else {
            throw SettingsError("\(source): rotations must be distinct values among 0, 90, 180, 270 (got \(rotations))")
        }
        guard tile >= 32 else { throw SettingsError("\(source): tile size \(tile) is too small (at least 32)") }
        guard tile <= Self.maxTile else { throw SettingsError("\(source): tile size \(tile) is too large (at most \(Self.maxTile))") }
        guard overlap >= 0, overlap < tile else { throw SettingsError("\(source): overlap \(overlap) must be at least 0 and less than the tile size \(tile)") }
        guard threshold >= 0, threshold <= 1 else { throw SettingsError("\(source): threshold \(threshold) is not in [0, 1]") }
        guard logitScale.isFinite, logitScale > 0 else { throw SettingsError("\(source): logit_scale \(logitScale) must be a positive finite number") }
        guard objectThreshold.isFinite, objectThreshold > 0, objectThreshold < 1 else {
            throw SettingsError("\(source): object_threshold \(objectThreshold) must be between 0 and 1 (exclusive)")
        }
        if let gsd = groundSampleDistance, !(gsd.isFinite && gsd > 0) {
            throw SettingsError("\(source): gsd \(gsd) must be a positive number of metres")
        }
        guard clsLambda.isFinite else { throw SettingsError("\(source): cls_lambda \(clsLambda) must be a finite number") }
        if let threads, !(1...256).contains(threads) { throw SettingsError("\(source): threads \(threads) must be from 1 to 256") }
        if let bands, let bad = bands.first(where: { $0 < 1 }) { throw SettingsError("\(source): band \(bad) does not exist (bands count from 1)") }
        if let decKeep, !(decKeep > 0 && decKeep <= 1) { throw SettingsError("\(source): dec keep \(decKeep) must be more than 0 and at most 1") }
        if let decKeep, vocabulary.queries.count < 2 {
            throw SettingsError("\(source): dec (keep \(decKeep)) compares the text queries and needs at least two; there is one")
        }
        if let exemplars, !exemplars.weight.isFinite { throw SettingsError("\(source): exemplar weight \(exemplars.weight) must be a finite number") }
        if let exemplars, exemplars.file.isEmpty { throw SettingsError("\(source): exemplars needs a file") }
    }

    private static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String {
            c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch e {
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return String(describing: e)
        }
    }
}

/// METHOD.md section 10's exemplars: a vector file of polygons with a string attribute `class`.
public struct ExemplarSettings: Sendable, Equatable, Codable {
    /// Any vector file OGR reads (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, ...).
    public var file: String
    /// `exemplar_weight`: the cache logits' factor (default 1).
    public var weight: Float
    /// Read the polygons as scene pixel coordinates (x = column, y = row) on a scene without a
    /// CRS; a scene without one is refused otherwise.
    public var pixelCoordinates: Bool

    public init(file: String, weight: Float = 1, pixelCoordinates: Bool = false) {
        self.file = file; self.weight = weight; self.pixelCoordinates = pixelCoordinates
    }
}

public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The YAML of docs/segment.md "Pipeline files", field for field.
struct PipelineFile: Decodable {
    static let keys = ["name", "model", "classes", "background", "threshold", "templates", "rotations", "tiling",
                       "logit_scale", "cls_lambda", "bands", "dec", "exemplars", "object_threshold", "gsd"]
    static let decKeys = ["keep"]
    static let exemplarKeys = ["file", "weight"]
    static let classKeys = ["name", "prompts", "color", "instances"]
    static let tilingKeys = ["size", "overlap"]

    /// The most YAML nodes a pipeline file may stand for. Aliases let a few hundred bytes stand
    /// for millions ("billion laughs"), which building the document would expand for minutes;
    /// a real pipeline file has a few hundred.
    static let maxNodes = 100_000

    /// What Yams cannot build a document from, checked on the composed nodes before it tries:
    /// more than `maxNodes` nodes once aliases are expanded (counting stops there), or a
    /// mapping key that is a list or a mapping (`[a]: 1`, `? {a: 1}`), on which `Yams.load`
    /// traps. Nil when neither.
    static func shapeProblem(_ root: Node) -> String? {
        var budget = maxNodes
        var problem: String?
        func visit(_ node: Node) -> Bool {
            budget -= 1
            guard budget >= 0 else {
                problem = "more than \(maxNodes) YAML nodes once aliases are expanded"
                return false
            }
            switch node {
            case .scalar, .alias: return true
            case .sequence(let items): return items.allSatisfy(visit)
            case .mapping(let pairs):
                return pairs.allSatisfy { pair in
                    guard case .scalar = pair.key else {
                        problem = "line \((pair.key.mark?.line).map(String.init) ?? "?"): a key is a list or mapping, not a name"
                        return false
                    }
                    return visit(pair.key) && visit(pair.value)
                }
            }
        }
        return visit(root) ? nil : problem
    }

    /// The first key that is not a pipeline key, with the nearest known key ("did you mean"):
    /// a misspelt key would otherwise be ignored without a word.
    static func unknownKey(in document: Any?) -> String? {
        guard let top = document as? [AnyHashable: Any] else { return nil }  // the decoder reports the wrong shape
        if let k = unknown(top, keys) { return k }
        if let classes = top["classes"] as? [Any] {
            for (i, c) in classes.enumerated() {
                if let entry = c as? [AnyHashable: Any], let k = unknown(entry, classKeys, at: "classes[\(i)].") { return k }
            }
        }
        if let tiling = top["tiling"] as? [AnyHashable: Any], let k = unknown(tiling, tilingKeys, at: "tiling.") { return k }
        if let dec = top["dec"] as? [AnyHashable: Any], let k = unknown(dec, decKeys, at: "dec.") { return k }
        if let ex = top["exemplars"] as? [AnyHashable: Any], let k = unknown(ex, exemplarKeys, at: "exemplars.") { return k }
        return nil
    }

    private static func unknown(_ map: [AnyHashable: Any], _ known: [String], at prefix: String = "") -> String? {
        let names = map.keys.map { "\($0)" }.sorted()
        guard let bad = names.first(where: { !known.contains($0) }) else { return nil }
        let suggestion = Suggestion.nearest(to: bad, among: known).map { "; did you mean '\(prefix)\($0)'?" } ?? "; known keys: \(known.joined(separator: ", "))"
        return "unknown key '\(prefix)\(bad)'\(suggestion)"
    }

    struct ClassEntry: Decodable {
        let name: String
        let prompts: [String]?
        let color: String?
        let instances: Bool?
    }
    struct Tiling: Decodable { let size: Int?; let overlap: Int? }
    struct Dec: Decodable { let keep: Double? }
    struct Exemplars: Decodable { let file: String; let weight: Double? }
    enum TemplateChoice: Decodable {
        case named(String), list([String])
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .named(s) } else { self = .list(try c.decode([String].self)) }
        }
    }
    let name: String?
    let model: String?
    let classes: [ClassEntry]?
    let background: String?
    let threshold: Double?
    let templates: TemplateChoice?
    let rotations: [Int]?
    let tiling: Tiling?
    let logit_scale: Double?
    let cls_lambda: Double?
    let bands: [Int]?
    let dec: Dec?
    let exemplars: Exemplars?
    let object_threshold: Double?
    let gsd: Double?
}

/// Default class colours (distinct, readable on imagery), used when a class names none.
public enum Palette {
    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                         "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                         "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
    public static func color(_ i: Int) -> RGBA { RGBA(hex: colors[i % colors.count])! }
}

/// "Did you mean": the known word nearest to a misspelt one (edit distance at most 2, or at
/// most a third of its length for long words), if any.
public enum Suggestion {
    public static func nearest(to word: String, among candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        let limit = max(2, w.count / 3)
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c.lowercased()))
            if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    /// Levenshtein distance.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
