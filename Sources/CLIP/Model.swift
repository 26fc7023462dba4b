// CLIPModel: both towers, the projections and logit_scale, loaded strictly from a HF-layout folder.
public import Tensor

public final class CLIPModel: Sendable {
    public let config: CLIPConfig
    public let vision: CLIPVisionEncoder
    public let text: CLIPTextEncoder
    /// `visual_projection` [projection_dim, vision D], no bias.
    public let visualProjection: Linear
    /// `text_projection` [projection_dim, text D], no bias.
    public let textProjection: Linear
    /// `logit_scale` (log of the scale; exp() it to get the multiplier).
    public let logitScale: Float
    /// The precision of the linear layers' products.
    public var precision: MatrixPrecision { visualProjection.precision }

    /// Reads `config.json` and `model.safetensors` from a folder in Hugging Face layout.
    /// `precision` is that of the linear layers' products (bf16: `MatrixPrecision`).
    public static func load(directory: String, precision: MatrixPrecision = .f32) throws -> CLIPModel {
        let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let config = try CLIPConfig.load(file: dir + "/config.json")
        return try CLIPModel(config: config, weights: SafetensorsFile(path: dir + "/model.safetensors"), precision: precision)
    }

    /// Builds the model from `weights`, strictly: every key the config implies must be present
    /// with its shape, and every key present must be used.
    public init(config: CLIPConfig, weights: SafetensorsFile, precision: MatrixPrecision = .f32) throws {
        self.config = config
        // The image tower's weights are packed once for oneDNN, on first use (as much memory again
        // as those weights: 0.34 GB for ViT-B/16): faster products than sgemm, which packs in
        // every product (docs/benchmarks.md). The text tower runs once per set of queries (then
        // cached): a packed copy of it would stay resident for nothing.
        var loader = try WeightLoader(file: weights, precision: precision, packing: true)
        vision = try CLIPVisionEncoder(config: config.visionConfig, loader: &loader)
        visualProjection = try loader.linear("visual_projection", in: config.visionConfig.hiddenSize,
                                             out: config.projectionDim, bias: false)
        loader.packing = false
        text = try CLIPTextEncoder(config: config.textConfig, loader: &loader)
        textProjection = try loader.linear("text_projection", in: config.textConfig.hiddenSize,
                                           out: config.projectionDim, bias: false)
        logitScale = try loader.tensor("logit_scale", shape: []).storage[0]
        try loader.finish()
    }

    /// transformers `get_image_features`: projected, un-normalized embeddings [B, projection_dim]
    /// of normalized pixels [B, C, H, W] of any size (position embeddings interpolated).
    public func imageFeatures(pixels: Tensor, threads: Int? = nil) throws -> Tensor {
        let pooled = try vision.pooledOutput(pixels: pixels, threads: threads)
        return BLAS.withThreads(1) { visualProjection(pooled) }  // the same bytes on any thread count
    }

    /// transformers `get_text_features`: projected, un-normalized embeddings [B, projection_dim]
    /// of token id sequences of one length (no attention mask, as `get_text_features(input_ids)`).
    public func textFeatures(ids: [[Int]], threads: Int? = nil) throws -> Tensor {
        let pooled = try text.pooledOutput(ids: ids, threads: threads)
        return BLAS.withThreads(1) { textProjection(pooled) }  // the same bytes on any thread count
    }
}
