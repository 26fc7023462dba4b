import ArgumentParser
import CLIP
import ModelHub
import Foundation
import GeoIO
import Tensor

/// `landscribe embed --model MODEL (--text T ... | --image IMG [--size N]) --json`
struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print CLIP embeddings of texts or images.",
        discussion: """
        Prints {"embeddings": [[...], ...]}: the projected, un-normalized embeddings that \
        transformers' CLIPModel.get_text_features / get_image_features return, one row per text \
        or image. An image is any raster GDAL reads (first three bands as RGB, one band as grey), \
        resized to N x N with bilinear interpolation (PyTorch's, align_corners=False, no \
        antialiasing), scaled by 1/255 and normalized with CLIP's mean and std.
        """)

    @Option(help: "A model folder in Hugging Face layout, or a model id in the cache.")
    var model: String = "openai/clip-vit-base-patch16"

    @Option(help: "A text to embed (repeat for several).")
    var text: [String] = []

    @Option(help: "An image to embed (repeat for several).")
    var image: [String] = []

    @Option(help: "Image side in pixels after resizing, at most 2048 (default: the model's image size).")
    var size: Int?

    @Option(help: "Worker threads, 1 to 256 (default: every core this process may use); the embeddings are the same for every count.")
    var threads: Int?

    @OptionGroup var precision: PrecisionOption

    @Flag(help: "Print JSON (the only output format; accepted for the contract of docs/embed.md).")
    var json = false

    func validate() throws {
        if text.isEmpty == image.isEmpty { throw ValidationError("give either --text or --image") }
        if let size, !(1...Bench.maxSize).contains(size) { throw ValidationError("--size must be from 1 to \(Bench.maxSize) pixels, got \(size)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
    }

    func run() async throws {
        try await failing {
            let directory = try ModelStore().resolve(model)
            let clip = try CLIPModel.load(directory: directory.path, precision: precision.value ?? .f32)
            let features: Tensor
            if !text.isEmpty {
                let tokenizer = try CLIPTokenizer(directory: directory)
                features = try clip.textFeatures(ids: text.map { tokenizer.encodePadded($0).ids.map(Int.init) }, threads: threads)
            } else {
                let n = size ?? clip.config.visionConfig.imageSize
                var pixels = [Float]()
                for path in image { pixels += try Self.pixels(path, size: n) }
                features = try clip.imageFeatures(pixels: Tensor(shape: [image.count, 3, n, n], storage: pixels), threads: threads)
            }
            let d = features.shape[1]
            let rows = (0..<features.shape[0]).map { r in features.storage[(r * d)..<((r + 1) * d)].map { Double($0) } }
            try printJSON(["embeddings": rows])
        }
    }

    /// An image as CLIP's normalized [3, n, n] input.
    static func pixels(_ path: String, size n: Int) throws -> [Float] {
        let ds = try RasterDataset(path: path)
        let bands = ds.bandCount >= 3 ? [1, 2, 3] : [1, 1, 1]
        let raw = try ds.read(window: PixelWindow(width: ds.width, height: ds.height), bands: bands)
        let plane = ds.width * ds.height
        var interleaved = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 { for i in 0..<plane { interleaved[i * 3 + c] = raw[c * plane + i] } }
        return CLIPImageInput.normalized(rgb: interleaved, height: ds.height, width: ds.width, size: n)
    }
}
