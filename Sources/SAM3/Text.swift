// SAM 3's text path (transformers `Sam3Model.get_text_features`): the CLIP text encoder of
// `text_encoder.text_model.` (causal, context 32), `final_layer_norm` on every token, then
// `text_projection` to the DETR width.
public import CLIP
public import Tensor

public final class SAM3TextEncoder: Sendable {
    /// The CLIP text transformer (CLIP's own code, SAM 3's key prefix).
    public let encoder: CLIPTextEncoder
    /// `text_projection` [detr_encoder hidden, text hidden] with bias.
    public let projection: Linear

    init(config: SAM3Config, loader: inout WeightLoader) throws {
        let t = config.textConfig
        encoder = try CLIPTextEncoder(config: t, loader: &loader, prefix: "text_encoder.text_model.")
        // CLIPTextModelWithProjection's own projection to projection_dim: in the checkpoint, unused by
        // SAM 3's forward pass (which projects every token with `text_projection` below): checked, not read.
        try loader.check("text_encoder.text_projection.weight", shape: [t.projectionDim, t.hiddenSize])
        projection = try loader.linear("text_projection", in: t.hiddenSize, out: config.detrEncoderConfig.hiddenSize)
    }

    /// Text features [B, L, detr width] for token id sequences of one length L <= 32 (transformers
    /// `get_text_features(input_ids).pooler_output`, no attention mask). With right padding a mask
    /// would change only the padded positions: attention is causal, so no real token sees a pad.
    public func features(ids: [[Int]], threads: Int? = nil) throws -> Tensor {
        projection(try encoder.lastHiddenState(ids: ids, threads: threads))
    }
}
