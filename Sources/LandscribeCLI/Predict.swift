import ArgumentParser
import CLIP
import Foundation
import GeoIO
import ModelHub
import SAM3
import Tensor

/// `landscribe predict --model DIR --image IMG --text T [--text T ...] [--object-threshold 0.5]
/// [--dump OUT.safetensors] [--json] [--overwrite] [--threads N]` (docs/predict.md).
struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a SAM 3 model on one image with text prompts.",
        discussion: """
        One image file (any raster GDAL reads; 1 band as grey, 3 bands as RGB, 4 or more: the \
        first three), no tiling, no georeferencing. It is resized to the model's input size \
        (bilinear, align_corners=False, no antialiasing) and normalized (x/255 - 0.5)/0.5; the \
        vision features are computed once for all prompts. Prints, per prompt, the presence score \
        and the objects whose score sigmoid(pred_logit) x sigmoid(presence_logit) exceeds \
        --object-threshold: box in image pixels, score, mask area in image pixels. --dump writes \
        the raw outputs for the first prompt as safetensors (see docs/predict.md).
        """)

    /// One warning line for a prompt longer than the text encoder's context (predict, bench prompt).
    static func warnIfTruncated(_ prompt: SAM3Prompt) {
        if prompt.truncated {
            warn("prompt '\(prompt.text)' has \(prompt.fullLength) tokens; only the first \(prompt.ids.count) are used (the text encoder's context)")
        }
    }

    static let dumpRole = "dump"

    @Option(help: "A SAM 3 model folder in Hugging Face layout (config.json with model_type sam3), or a model id in the cache.")
    var model: String

    @Option(help: "The image file.")
    var image: String

    @Option(help: "A text prompt (repeat for several).")
    var text: [String] = []

    @Option(help: "Objects scoring above this (0 to 1) are listed.")
    var objectThreshold: Double = 0.5

    @Option(help: "Write the raw outputs for the first prompt to this safetensors file.")
    var dump: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Replace an existing --dump file.")
    var overwrite = false

    @Option(help: "Worker threads, 1 to 256 (default: every core this process may use).")
    var threads: Int?

    @OptionGroup var precision: PrecisionOption

    func validate() throws {
        if text.isEmpty { throw ValidationError("give at least one --text") }
        if !(0...1).contains(objectThreshold) { throw ValidationError("--object-threshold must be from 0 to 1, got \(objectThreshold)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
    }

    struct Summary: Encodable {
        struct Prompt: Encodable {
            let text: String
            let tokens: Int
            let truncated: Bool
            let presence: Float
            let objects: [SAM3Object]
        }
        let model: String
        let image: String
        let width: Int
        let height: Int
        let input_size: Int
        let object_threshold: Double
        let prompts: [Prompt]
        let dump: String?
        /// The matrix products' precision, f32 or bf16 (`--precision`).
        let precision: String
    }

    func run() async throws {
        try await failing {
            let directory = try ModelStore().resolve(model)
            switch try ModelKind.detect(directory: directory) {
            case .sam3: break
            case .clip:
                throw UserError("option --model: '\(model)' is a CLIP model; predict needs a SAM 3 model (config.json with model_type 'sam3', such as facebook/sam3)")
            }
            let tokenizer = try CLIPTokenizer(directory: directory)
            let (rgb, width, height) = try Self.readRGB(image)
            var outputs: OutputSet?
            if let dump {
                let inputs = [OutputSet.Input(path: image, role: "the image")]
                    + ["config.json", "model.safetensors", "vocab.json", "merges.txt"].map {
                        OutputSet.Input(path: directory.appendingPathComponent($0).path, role: "model file")
                    }
                outputs = try OutputSet([OutputSet.Request(path: dump, role: Self.dumpRole, extensions: ["safetensors"])], inputs: inputs, overwrite: overwrite)
            }
            let sam = try SAM3Model.load(directory: directory.path, precision: precision.value ?? .f32)
            let length = sam.config.textConfig.maxPositionEmbeddings
            let prompts = text.map { SAM3Prompt($0, tokenizer: tokenizer, length: length) }
            prompts.forEach(Self.warnIfTruncated)
            let n = sam.config.visionConfig.backboneConfig.imageSize
            let pixels = Tensor(shape: [1, 3, n, n], storage: SAM3ImageInput.normalized(rgb: rgb, height: height, width: width, size: n))
            let vision = try sam.vision(pixels, threads: threads)
            var results = [Summary.Prompt]()
            for (i, p) in prompts.enumerated() {
                let out = try sam.segment(vision: vision, ids: [p.ids], mask: [p.mask], threads: threads)
                if i == 0, let outputs, let file = outputs.file(role: Self.dumpRole) {
                    try SafetensorsWriter.write(Self.dumpEntries(prompt: p, output: out),
                                                metadata: ["LANDSCRIBE_PRECISION": sam.precision.rawValue], to: file.temporaryURL)
                }
                results.append(.init(text: p.text, tokens: min(p.fullLength, length), truncated: p.truncated,
                                     presence: SAM3Predictions.presence(out),
                                     objects: SAM3Predictions.objects(out, width: width, height: height, threshold: Float(objectThreshold))))
            }
            try outputs?.commit()
            let summary = Summary(model: directory.path, image: image, width: width, height: height, input_size: n,
                                  object_threshold: objectThreshold, prompts: results, dump: dump,
                                  precision: sam.precision.rawValue)
            if json { try printJSON(summary) } else { Self.printText(summary) }
        }
    }

    /// The raw outputs of one prompt under the names of docs/predict.md, without the batch dimension.
    static func dumpEntries(prompt: SAM3Prompt, output out: SAM3Output) -> [SafetensorsWriter.Entry] {
        let q = out.predLogits.shape[1], (h, w) = (out.predMasks.shape[2], out.predMasks.shape[3])
        return [
            .init("input_ids", shape: [prompt.ids.count], ints: prompt.ids.map { Int32($0) }),
            .init("attention_mask", shape: [prompt.mask.count], ints: prompt.mask.map { $0 ? 1 : 0 }),
            .init("pred_logits", shape: [q], floats: out.predLogits.storage),
            .init("pred_boxes", shape: [q, 4], floats: out.predBoxes.storage),
            .init("presence_logits", shape: [1], floats: out.presenceLogits.storage),
            .init("pred_masks", shape: [q, h, w], floats: out.predMasks.storage),
            .init("semantic_seg", shape: [h, w], floats: out.semanticSeg.storage),
        ]
    }

    /// The image as channel-interleaved RGB, with the band rules of `segment`.
    static func readRGB(_ path: String) throws -> (rgb: [Float], width: Int, height: Int) {
        let ds = try RasterDataset(path: path)
        let bands: [Int]
        switch ds.bandCount {
        case 1: bands = [1, 1, 1]
        case 2: throw UserError("option --image: '\(path)' has 2 bands; predict takes 1 band (grey), 3 (RGB), or 4 or more (the first three as RGB)")
        default: bands = [1, 2, 3]
        }
        let raw = try ds.read(window: PixelWindow(width: ds.width, height: ds.height), bands: bands)
        let plane = ds.width * ds.height
        var rgb = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 { for i in 0..<plane { rgb[i * 3 + c] = raw[c * plane + i] } }
        return (rgb, ds.width, ds.height)
    }

    static func printText(_ s: Summary) {
        var lines = ["\(s.image): \(s.width) x \(s.height) pixels, resized to \(s.input_size) x \(s.input_size)"
                     + (s.precision == "f32" ? "" : ", \(s.precision) matrix products")]
        for p in s.prompts {
            lines.append("'\(p.text)': presence \(String(format: "%.4f", p.presence)), \(p.objects.count) object(s) above \(s.object_threshold)")
            for o in p.objects {
                let box = o.box.map { String(format: "%.1f", $0) }.joined(separator: ", ")
                lines.append("  score \(String(format: "%.4f", o.score))  box (\(box))  mask \(o.maskPixels) px  (query \(o.query))")
            }
        }
        if let d = s.dump { lines.append("raw outputs of '\(s.prompts[0].text)' written to \(d)") }
        print(lines.joined(separator: "\n"))
    }
}
