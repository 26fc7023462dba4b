import Foundation
import GeoIO
import TestSupport
import Testing

/// The bad-input matrix of docs/guarantees.md: each case runs the real executable and checks
/// the exit status, a one-line message naming the option or file, and that the folder is
/// exactly as it was before (no output, no temporary or lock file, every file unchanged).
@Suite("Bad input: one line, nothing written, nothing lost")
struct BadInputTests {
    /// A case: arguments with `$D` (the case's folder), `$S` (a 200 x 150 UTM scene in it) and
    /// `$M` (a tiny CLIP model folder in it, whose config.json the case may change).
    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let args: [String]
        let message: String
        /// 1 for failures; 64 for usage errors reported by the argument parser (with its usage
        /// lines after the first).
        var status: Int32 = 1
        /// Files written before the run, relative to the folder: path -> contents.
        var files: [String: String] = [:]
        var folders: [String] = []
        /// Symbolic (or hard, with `hard`) links: link -> target, relative to the folder.
        var links: [String: String] = [:]
        var hard = false
        /// A change to the model's config.json: (section or nil for the top level, key, JSON value).
        var config: (section: String?, key: String, json: String)?
        var testDescription: String { label }
    }

    static let seg = ["segment", "$S", "--model", "$M", "--tile", "128", "--overlap", "32"]
    static let out = ["-o", "$D/out.tif"]
    static let classes = ["--classes", "water; land"]
    static let pipeline = "classes:\n  - name: water\n  - name: land\n"

    static let outputs: [Case] = [
        Case(label: "-o the scene itself", args: seg + classes + ["-o", "$S", "--overwrite"], message: "is the scene"),
        Case(label: "--probabilities the scene", args: seg + classes + out + ["--probabilities", "$S", "--overwrite"], message: "the scene"),
        Case(label: "-o the scene through ./", args: seg + classes + ["-o", "$D/./scene.tif", "--overwrite"], message: "the scene"),
        Case(label: "-o the scene through a/..", args: seg + classes + ["-o", "$D/sub/../scene.tif", "--overwrite"], message: "the scene", folders: ["sub"]),
        Case(label: "-o a symbolic link to the scene", args: seg + classes + ["-o", "$D/link.tif", "--overwrite"], message: "the scene", links: ["link.tif": "scene.tif"]),
        Case(label: "-o a hard link to the scene", args: seg + classes + ["-o", "$D/hard.tif", "--overwrite"], message: "the scene", links: ["hard.tif": "scene.tif"], hard: true),
        Case(label: "--preview a link to the scene", args: seg + classes + out + ["--preview", "$D/view.png", "--overwrite"], message: "the scene", links: ["view.png": "scene.tif"]),
        Case(label: "-o and --probabilities on one file", args: seg + classes + out + ["--probabilities", "$D/out.tif"], message: "name the same file"),
        Case(label: "-o and --preview on one file through a link", args: seg + classes + out + ["--preview", "$D/p.png", "--overwrite"], message: "name the same file",
             files: ["out.tif": "old map"], links: ["p.png": "out.tif"]),
        Case(label: "detect -o and --gpkg on one file through a link", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.geojson", "--gpkg", "$D/o.gpkg", "--overwrite"],
             message: "name the same file", files: ["o.geojson": "{}"], links: ["o.gpkg": "o.geojson"]),
        Case(label: "-o a folder name with /", args: seg + classes + ["-o", "$D/newdir/"], message: "names a folder"),
        Case(label: "-o an empty name", args: seg + classes + ["-o", ""], message: "empty"),
        Case(label: "-o an existing folder", args: seg + classes + ["-o", "$D/afolder.tif", "--overwrite"], message: "is a folder", folders: ["afolder.tif"]),
        Case(label: "-o in a missing folder", args: seg + classes + ["-o", "$D/missing/x.tif"], message: "does not exist"),
        Case(label: "-o the pipeline file", args: seg + ["--pipeline", "$D/p.yaml", "-o", "$D/p.tif", "--overwrite"], message: "the pipeline file",
             files: ["p.yaml": pipeline], links: ["p.tif": "p.yaml"]),
        Case(label: "-o the templates file", args: seg + classes + ["--templates", "$D/t.txt", "-o", "$D/t.tif", "--overwrite"], message: "the templates file",
             files: ["t.txt": "a photo of {}.\n"], links: ["t.tif": "t.txt"]),
        Case(label: "detect -o the exemplar file", args: ["detect", "$S", "--model", "$M"] + classes + ["--exemplars", "$D/e.geojson", "-o", "$D/e.geojson", "--overwrite"],
             message: "is the exemplar file", files: ["e.geojson": BadInputTests.exemplars]),
        Case(label: "-o the exemplar file of a pipeline, through a link", args: seg + ["--pipeline", "$D/p.yaml", "-o", "$D/e.tif", "--overwrite"],
             message: "the exemplar file", files: ["p.yaml": pipeline + "exemplars: {file: e.geojson}\n", "e.geojson": BadInputTests.exemplars], links: ["e.tif": "e.geojson"]),
        Case(label: "-o a source of a VRT scene", args: ["segment", "$D/s.vrt", "--model", "$M"] + classes + ["-o", "$S", "--overwrite"], message: "the scene",
             files: ["s.vrt": BadInputTests.vrt]),
        Case(label: "segment -o a PNG", args: seg + classes + ["-o", "$D/map.png"], message: "name it .tif or .tiff"),
        Case(label: "--preview a TIFF", args: seg + classes + out + ["--preview", "$D/p.tif"], message: "option --preview: '"),
        Case(label: "detect -o a KML file", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.kml"], message: "name it .geojson or .json or .gpkg or .fgb or .shp"),
        Case(label: "detect -o a shapefile whose .dbf exists", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.shp"], message: "o.dbf' exists; pass --overwrite",
             files: ["o.dbf": "precious"]),
        Case(label: "detect -o a shapefile whose .prj is the templates file", args: ["detect", "$S", "--model", "$M"] + classes + ["--templates", "$D/o.prj", "-o", "$D/o.shp", "--overwrite"],
             message: "the templates file", files: ["o.prj": "a photo of {}.\n"]),
        Case(label: "--gpkg a shapefile", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.geojson", "--gpkg", "$D/o.shp"], message: "name it .gpkg"),
        Case(label: "an existing -o without --overwrite", args: seg + classes + out, message: "--overwrite", files: ["out.tif": "precious"]),
        Case(label: "an existing --preview without --overwrite", args: seg + classes + out + ["--preview", "$D/p.png"], message: "--preview", files: ["p.png": "precious"]),
        Case(label: "an existing detect -o without --overwrite", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.geojson"], message: "--overwrite", files: ["o.geojson": "{}"]),
    ]

    static let configs: [Case] = [
        ("vision_config", "patch_size", "0", "patch_size"),
        ("vision_config", "num_hidden_layers", "-1", "num_hidden_layers"),
        ("vision_config", "num_attention_heads", "0", "num_attention_heads"),
        ("vision_config", "num_attention_heads", "-4", "num_attention_heads"),
        ("vision_config", "image_size", "4611686018427387904", "image_size"),
        ("vision_config", "image_size", "-224", "image_size"),
        ("vision_config", "num_hidden_layers", "2147483648", "num_hidden_layers"),
        ("vision_config", "num_attention_heads", "2147483648", "num_attention_heads"),
        ("vision_config", "num_attention_heads", "7", "does not divide"),
        ("vision_config", "num_attention_heads", "4096", "num_attention_heads"),
        ("vision_config", "hidden_size", "64.5", "hidden_size"),
        ("vision_config", "hidden_size", "\"wide\"", "hidden_size"),
        ("text_config", "vocab_size", "0", "vocab_size"),
        ("text_config", "max_position_embeddings", "1", "max_position_embeddings"),
        ("text_config", "layer_norm_eps", "-1", "layer_norm_eps"),
        ("text_config", "hidden_size", "1000000000", "hidden_size"),
        (nil, "projection_dim", "0", "projection_dim"),
    ].map { section, key, json, message in
        Case(label: "config.json \(section.map { $0 + "." } ?? "")\(key): \(json)", args: seg + classes + out, message: message, config: (section, key, json))
    }

    static let sizes: [Case] = [
        Case(label: "embed --size 100000", args: ["embed", "--model", "$M", "--image", "$S", "--size", "100000", "--json"], message: "--size", status: 64),
        Case(label: "bench --size 100000", args: ["bench", "encoder", "--model", "$M", "--size", "100000"], message: "--size", status: 64),
        Case(label: "bench --batch 1000", args: ["bench", "encoder", "--model", "$M", "--batch", "1000"], message: "--batch", status: 64),
        Case(label: "--co an unknown option", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--co", "NOPE=1"], message: "option --co: 'NOPE=1'"),
        Case(label: "--co a value the COG driver refuses", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.gpkg", "--co", "COMPRESS=FOO"], message: "option --co: 'COMPRESS=FOO'"),
        Case(label: "--scale MIN above MAX", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--scale", "900,100"], message: "option --scale"),
        Case(label: "--scale not numbers", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--scale", "low,high"], message: "option --scale"),
        Case(label: "--scale two ranges for three bands", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--scale", "0,1,0,1"], message: "option --scale: 2 ranges for 3 bands"),
        Case(label: "--aoi outside the scene", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--aoi", "0,0,1,1"], message: "does not overlap"),
        Case(label: "--aoi neither a box nor a file", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--aoi", "$D/none.gpkg"], message: "option --aoi"),
        Case(label: "--aoi an empty box", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--aoi", "5,5,1,1"], message: "option --aoi"),
        Case(label: "--gsd 0", args: ["detect", "$S", "--model", "$M"] + classes + ["-o", "$D/o.gpkg", "--gsd", "0"], message: "option --gsd"),
        Case(label: "--tile 0 names --tile", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--tile", "0"], message: "--tile"),
        Case(label: "--tile 100000", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--tile", "100000"], message: "--tile"),
        Case(label: "--overlap as large as the tile", args: ["segment", "$S", "--model", "$M"] + classes + out + ["--tile", "128", "--overlap", "128"], message: "--overlap"),
        Case(label: "--threshold 2", args: seg + classes + out + ["--threshold", "2"], message: "--threshold"),
        Case(label: "--threshold nan", args: seg + classes + out + ["--threshold", "nan"], message: "--threshold"),
        Case(label: "--bands 0", args: seg + classes + out + ["--bands", "0"], message: "--bands"),
        Case(label: "--bands 1,2", args: seg + classes + out + ["--bands", "1,2"], message: "--bands"),
        Case(label: "--rotations a,b", args: seg + classes + out + ["--rotations", "a,b"], message: "--rotations"),
        Case(label: "--classes with no names", args: seg + out + ["--classes", " ; ;,"], message: "--classes"),
        Case(label: "a misspelt command", args: ["segmnet", "$S", "-o", "$D/out.tif", "--classes", "a; b"], message: "unknown command 'segmnet'; did you mean 'segment'?", status: 64),
        Case(label: "a misspelt subcommand", args: ["bench", "encdoer", "--model", "$M"], message: "did you mean 'encoder'?", status: 64),
        Case(label: "a misspelt option is named before any rule", args: seg + out + ["--clases", "a; b"], message: "unknown option '--clases'; did you mean '--classes'?", status: 64),
        Case(label: "--threads 0", args: seg + classes + out + ["--threads", "0"], message: "--threads"),
        Case(label: "--background empty", args: seg + classes + out + ["--background", " "], message: "background"),
        Case(label: "--dec-keep 2", args: seg + classes + out + ["--dec-keep", "2"], message: "option --dec-keep: 2.0 must be more than 0 and at most 1"),
        Case(label: "--dec with one query", args: seg + out + ["--classes", "water", "--dec"], message: "needs at least two"),
        Case(label: "--exemplar-weight without exemplars", args: seg + classes + out + ["--exemplar-weight", "2"], message: "option --exemplar-weight: no exemplars"),
        Case(label: "--exemplars a missing file", args: seg + classes + out + ["--exemplars", "$D/none.geojson"], message: "option --exemplars: '"),
        Case(label: "--exemplars without a class attribute", args: seg + classes + out + ["--exemplars", "$D/e.geojson"], message: "no attribute 'class'",
             files: ["e.geojson": "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"properties\": {\"kind\": \"water\"}, \"geometry\": {\"type\": \"Point\", \"coordinates\": [9, 51]}}]}"]),
        Case(label: "--exemplars an empty file", args: seg + classes + out + ["--exemplars", "$D/e.geojson"], message: "has no features",
             files: ["e.geojson": "{\"type\": \"FeatureCollection\", \"features\": []}"]),
        Case(label: "--exemplars with no usable feature", args: seg + classes + out + ["--exemplars", "$D/e.geojson"], message: "none of the 1 features is usable",
             files: ["e.geojson": BadInputTests.exemplars.replacingOccurrences(of: "water", with: "lava")]),
    ]

    /// An exemplar file: one water polygon in EPSG:4326, far from the test scene (refused only
    /// when the run gets to reading it).
    static let exemplars = "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", \"properties\": {\"class\": \"water\"}, "
        + "\"geometry\": {\"type\": \"Polygon\", \"coordinates\": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}}]}"

    static func pipelineCase(_ label: String, _ yaml: String, _ message: String) -> Case {
        Case(label: "pipeline: " + label, args: seg + out + ["--pipeline", "$D/p.yaml"], message: message, files: ["p.yaml": yaml])
    }

    static let pipelines: [Case] = [
        pipelineCase("misspelt colour", "classes:\n  - name: water\n    colour: '#0000ff'\n", "did you mean 'classes[0].color'"),
        pipelineCase("misspelt instance", "classes:\n  - name: ship\n    instance: true\n", "did you mean 'classes[0].instances'"),
        pipelineCase("misspelt treshold", "treshold: 0.5\nclasses:\n  - name: water\n", "did you mean 'threshold'"),
        pipelineCase("misspelt tiling overlp", "tiling: {size: 128, overlp: 32}\nclasses:\n  - name: water\n", "did you mean 'tiling.overlap'"),
        pipelineCase("an unknown key with no near key", "frobnicate: 1\nclasses:\n  - name: water\n", "unknown key 'frobnicate'"),
        pipelineCase("prompts: []", "classes:\n  - name: water\n    prompts: []\n", "prompts is empty"),
        pipelineCase("an empty prompt", "classes:\n  - name: water\n    prompts: ['']\n", "prompts[0] is empty"),
        pipelineCase("an empty name", "classes:\n  - name: ''\n", "name is empty"),
        pipelineCase("logit_scale .inf", "logit_scale: .inf\nclasses:\n  - name: water\n", "logit_scale"),
        pipelineCase("threshold .nan", "threshold: .nan\nclasses:\n  - name: water\n", "threshold"),
        pipelineCase("cls_lambda .inf", "cls_lambda: .inf\nclasses:\n  - name: water\n", "cls_lambda"),
        pipelineCase("rotations [45]", "rotations: [45]\nclasses:\n  - name: water\n", "rotations"),
        pipelineCase("no classes", "classes: []\n", "no classes"),
        pipelineCase("a class twice", "classes:\n  - name: water\n  - name: water\n", "appears twice"),
        pipelineCase("a colour that is no colour", "classes:\n  - name: water\n    color: '#zzz'\n", "colour"),
        pipelineCase("not a mapping", "- just\n- a list\n", "pipeline"),
        pipelineCase("misspelt exemplars wieght", "exemplars: {file: e.geojson, wieght: 2}\nclasses:\n  - name: water\n  - name: land\n", "did you mean 'exemplars.weight'"),
        pipelineCase("dec keep 1.5", "dec: {keep: 1.5}\nclasses:\n  - name: water\n  - name: land\n", "dec keep 1.5"),
        pipelineCase("tiling size 8", "tiling: {size: 8}\nclasses:\n  - name: water\n", "tile size"),
        Case(label: "--templates a binary file", args: seg + classes + out + ["--templates", "$D/t.bin"], message: "UTF-8", files: ["t.bin": "\u{FF}"]),
        Case(label: "--templates a folder", args: seg + classes + out + ["--templates", "$D/tf"], message: "folder", folders: ["tf"]),
    ]

    /// A VRT of the scene's three bands.
    static let vrt = """
        <VRTDataset rasterXSize="200" rasterYSize="150">
        \((1...3).map { b in "<VRTRasterBand dataType=\"Byte\" band=\"\(b)\"><SimpleSource><SourceFilename relativeToVRT=\"1\">scene.tif</SourceFilename><SourceBand>\(b)</SourceBand></SimpleSource></VRTRasterBand>" }.joined(separator: "\n"))
        </VRTDataset>
        """

    /// Every regular file under `dir` with its contents.
    static func snapshot(_ dir: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: dir.path) else { return out }
        for case let name as String in walker {
            let path = dir.appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[name] = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            } else if isDirectory.boolValue {
                out[name + "/"] = Data()
            }
        }
        return out
    }

    static func prepare(_ c: Case, in dir: URL) throws -> [String] {
        let fm = FileManager.default
        _ = SegmentCommandTests.scene(in: dir)
        let model = dir.appendingPathComponent("model")
        try fm.createDirectory(at: model, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("CLIPTests/Fixtures")
        for (folder, file) in [("tiny-clip", "model.safetensors"), ("clip-tokenizer", "vocab.json"), ("clip-tokenizer", "merges.txt")] {
            try fm.createSymbolicLink(at: model.appendingPathComponent(file), withDestinationURL: fixtures.appendingPathComponent(folder).appendingPathComponent(file))
        }
        var config = try Data(contentsOf: fixtures.appendingPathComponent("tiny-clip/config.json"))
        if let change = c.config {
            var object = try #require(try JSONSerialization.jsonObject(with: config) as? [String: Any])
            let value = try JSONSerialization.jsonObject(with: Data(change.json.utf8), options: .fragmentsAllowed)
            if let section = change.section {
                var inner = object[section] as? [String: Any] ?? [:]
                inner[change.key] = value
                object[section] = inner
            } else {
                object[change.key] = value
            }
            config = try JSONSerialization.data(withJSONObject: object)
        }
        try config.write(to: model.appendingPathComponent("config.json"))
        for f in c.folders { try fm.createDirectory(at: dir.appendingPathComponent(f), withIntermediateDirectories: true) }
        for (name, text) in c.files {
            let data = name.hasSuffix(".bin") ? Data([0xFF, 0xFE, 0x00, 0xC3]) : Data(text.utf8)
            try data.write(to: dir.appendingPathComponent(name))
        }
        for (link, target) in c.links {
            if c.hard {
                try fm.linkItem(at: dir.appendingPathComponent(target), to: dir.appendingPathComponent(link))
            } else {
                try fm.createSymbolicLink(atPath: dir.appendingPathComponent(link).path, withDestinationPath: target)
            }
        }
        return c.args.map {
            $0.replacingOccurrences(of: "$D", with: dir.path).replacingOccurrences(of: "$S", with: dir.appendingPathComponent("scene.tif").path)
                .replacingOccurrences(of: "$M", with: model.path)
        }
    }

    static func check(_ c: Case) throws {
        let dir = SyntheticRaster.temporaryFolder()
        let cache = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: cache) }
        let args = try prepare(c, in: dir)
        let before = snapshot(dir)
        let r = try CLI.run(args, environment: ["LANDSCRIBE_CACHE": cache.path])
        let lines = r.stderr.split(separator: "\n")
        #expect(r.status == c.status, "\(c.label): status \(r.status): \(r.stderr)")
        #expect(lines.first?.contains(c.message) == true, "\(c.label): \(r.stderr)")
        if c.status == 1 { #expect(lines.count == 1, "\(c.label): \(r.stderr)") }
        let after = snapshot(dir)
        #expect(after.keys.sorted() == before.keys.sorted(), "\(c.label): files before \(before.keys.sorted()), after \(after.keys.sorted())")
        for (name, data) in before { #expect(after[name] == data, "\(c.label): '\(name)' changed") }
    }

    @Test("outputs that would destroy an input or each other are refused", arguments: outputs)
    func output(_ c: Case) throws { try Self.check(c) }

    @Test("hostile config.json values are one-line errors, nothing allocated", arguments: configs)
    func config(_ c: Case) throws { try Self.check(c) }

    @Test("sizes and numbers out of range name their option", arguments: sizes)
    func size(_ c: Case) throws { try Self.check(c) }

    @Test("pipelines are strict: unknown keys (did you mean), empty names, non-finite numbers", arguments: pipelines)
    func pipeline(_ c: Case) throws { try Self.check(c) }
}
