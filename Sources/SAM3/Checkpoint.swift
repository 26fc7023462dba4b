// The tensor layout of a transformers `Sam3Model` checkpoint as a function of the config: every key
// and its shape. Parts the Swift model does not run yet are checked against it (shape and dtype,
// values not read), so a checkpoint loads only when every tensor in it is accounted for.
import CLIP

public enum SAM3Checkpoint {
    /// The parts of a checkpoint, by key prefix.
    public enum Part: String, CaseIterable, Sendable {
        case vision = "vision_encoder."
        case text = "text_encoder."
        case textProjection = "text_projection."
        case geometryEncoder = "geometry_encoder."
        case detrEncoder = "detr_encoder."
        case detrDecoder = "detr_decoder."
        case maskDecoder = "mask_decoder."
        case scoring = "dot_product_scoring."

        public static func of(_ key: String) -> Part? { allCases.first { key.hasPrefix($0.rawValue) } }
    }

    /// Every tensor of `Sam3Model(config)`'s state dict, key and shape, in a fixed order.
    public static func layout(_ config: SAM3Config) -> [(key: String, shape: [Int])] {
        var out = [(key: String, shape: [Int])]()
        func add(_ key: String, _ shape: [Int]) { out.append((key, shape)) }
        func linear(_ p: String, _ i: Int, _ o: Int, bias: Bool = true) {
            add(p + ".weight", [o, i]); if bias { add(p + ".bias", [o]) }
        }
        func norm(_ p: String, _ d: Int) { add(p + ".weight", [d]); add(p + ".bias", [d]) }
        func attention(_ p: String, _ d: Int, out: String = "o_proj") {
            for name in ["q_proj", "k_proj", "v_proj", out] { linear(p + "." + name, d, d) }
        }
        func mlp(_ p: String, _ d: Int, _ i: Int, names: (String, String) = ("fc1", "fc2")) {
            linear(p + "." + names.0, d, i); linear(p + "." + names.1, i, d)
        }
        func decoderMLP(_ p: String, _ i: Int, _ h: Int, _ o: Int, layers: Int) {
            let dims = [i] + Array(repeating: h, count: layers - 1) + [o]
            for l in 0..<layers { linear(p + ".layer\(l + 1)", dims[l], dims[l + 1]) }
        }

        // Vision encoder: backbone and neck.
        let b = config.visionConfig.backboneConfig, d = b.hiddenSize, g0 = b.pretrainGridSize
        let vb = "vision_encoder.backbone."
        add(vb + "embeddings.patch_embeddings.projection.weight", [d, b.numChannels, b.patchSize, b.patchSize])
        add(vb + "embeddings.position_embeddings", [1, g0 * g0, d])
        norm(vb + "layer_norm", d)
        for l in 0..<b.numHiddenLayers {
            let p = vb + "layers.\(l)"
            norm(p + ".layer_norm1", d); attention(p + ".attention", d)
            norm(p + ".layer_norm2", d); mlp(p + ".mlp", d, b.intermediateSize)
        }
        let f = config.visionConfig.fpnHiddenSize
        for (l, scale) in config.visionConfig.scaleFactors.enumerated() {
            let p = "vision_encoder.neck.fpn_layers.\(l)"
            var channels = d
            if scale == 4 || scale == 2 {
                add(p + ".scale_layers.0.weight", [d, d / 2, 2, 2]); add(p + ".scale_layers.0.bias", [d / 2]); channels = d / 2
            }
            if scale == 4 {
                add(p + ".scale_layers.2.weight", [d / 2, d / 4, 2, 2]); add(p + ".scale_layers.2.bias", [d / 4]); channels = d / 4
            }
            add(p + ".proj1.weight", [f, channels, 1, 1]); add(p + ".proj1.bias", [f])
            add(p + ".proj2.weight", [f, f, 3, 3]); add(p + ".proj2.bias", [f])
        }

        // Text encoder (transformers CLIPTextModelWithProjection) and the projection to the DETR width.
        let t = config.textConfig, h = t.hiddenSize, tm = "text_encoder.text_model."
        add(tm + "embeddings.token_embedding.weight", [t.vocabSize, h])
        add(tm + "embeddings.position_embedding.weight", [t.maxPositionEmbeddings, h])
        for l in 0..<t.numHiddenLayers {
            let p = tm + "encoder.layers.\(l)"
            attention(p + ".self_attn", h, out: "out_proj"); norm(p + ".layer_norm1", h)
            mlp(p + ".mlp", h, t.intermediateSize); norm(p + ".layer_norm2", h)
        }
        norm(tm + "final_layer_norm", h)
        linear("text_encoder.text_projection", h, t.projectionDim, bias: false)
        linear("text_projection", h, config.detrEncoderConfig.hiddenSize)

        // Geometry encoder.
        let ge = config.geometryEncoderConfig, gd = ge.hiddenSize
        add("geometry_encoder.label_embed.weight", [2, gd]); add("geometry_encoder.cls_embed.weight", [1, gd])
        linear("geometry_encoder.boxes_direct_project", 4, gd)
        add("geometry_encoder.boxes_pool_project.weight", [gd, gd, ge.roiSize, ge.roiSize])
        add("geometry_encoder.boxes_pool_project.bias", [gd])
        linear("geometry_encoder.boxes_pos_enc_project", gd + 2, gd)
        norm("geometry_encoder.vision_layer_norm", gd)
        linear("geometry_encoder.final_proj", gd, gd)
        norm("geometry_encoder.prompt_layer_norm", gd)
        for l in 0..<ge.numLayers {
            let p = "geometry_encoder.layers.\(l)"
            norm(p + ".layer_norm1", gd); attention(p + ".self_attn", gd); attention(p + ".cross_attn", gd)
            norm(p + ".layer_norm2", gd); mlp(p + ".mlp", gd, ge.intermediateSize); norm(p + ".layer_norm3", gd)
        }
        norm("geometry_encoder.output_layer_norm", gd)

        // DETR encoder.
        let de = config.detrEncoderConfig
        for l in 0..<de.numLayers {
            let p = "detr_encoder.layers.\(l)"
            norm(p + ".layer_norm1", de.hiddenSize); attention(p + ".self_attn", de.hiddenSize)
            attention(p + ".cross_attn", de.hiddenSize); norm(p + ".layer_norm2", de.hiddenSize)
            mlp(p + ".mlp", de.hiddenSize, de.intermediateSize); norm(p + ".layer_norm3", de.hiddenSize)
        }

        // DETR decoder.
        let dd = config.detrDecoderConfig, q = dd.hiddenSize
        for l in 0..<dd.numLayers {
            let p = "detr_decoder.layers.\(l)"
            for part in ["self_attn", "text_cross_attn", "vision_cross_attn"] {
                attention(p + "." + part, q); norm(p + "." + part + "_layer_norm", q)
            }
            mlp(p + ".mlp", q, dd.intermediateSize); norm(p + ".mlp_layer_norm", q)
        }
        norm("detr_decoder.output_layer_norm", q)
        decoderMLP("detr_decoder.box_head", q, q, 4, layers: 3)
        add("detr_decoder.query_embed.weight", [dd.numQueries, q])
        add("detr_decoder.reference_points.weight", [dd.numQueries, 4])
        add("detr_decoder.presence_token.weight", [1, q])
        decoderMLP("detr_decoder.presence_head", q, q, 1, layers: 3)
        norm("detr_decoder.presence_layer_norm", q)
        decoderMLP("detr_decoder.ref_point_head", 2 * q, q, q, layers: 2)
        decoderMLP("detr_decoder.box_rpb_embed_x", 2, q, dd.numAttentionHeads, layers: 2)
        decoderMLP("detr_decoder.box_rpb_embed_y", 2, q, dd.numAttentionHeads, layers: 2)

        // Mask decoder.
        let md = config.maskDecoderConfig, m = md.hiddenSize
        for s in 0..<md.numUpsamplingStages {
            add("mask_decoder.pixel_decoder.conv_layers.\(s).weight", [m, m, 3, 3])
            add("mask_decoder.pixel_decoder.conv_layers.\(s).bias", [m])
        }
        for s in 0..<md.numUpsamplingStages { norm("mask_decoder.pixel_decoder.norms.\(s)", m) }
        for l in 0..<3 { linear("mask_decoder.mask_embedder.layers.\(l)", m, m) }
        add("mask_decoder.instance_projection.weight", [m, m, 1, 1]); add("mask_decoder.instance_projection.bias", [m])
        add("mask_decoder.semantic_projection.weight", [1, m, 1, 1]); add("mask_decoder.semantic_projection.bias", [1])
        attention("mask_decoder.prompt_cross_attn", m)
        norm("mask_decoder.prompt_cross_attn_norm", m)

        // Scoring of queries against the text.
        decoderMLP("dot_product_scoring.text_mlp", q, dd.intermediateSize, q, layers: 2)
        norm("dot_product_scoring.text_mlp_out_norm", q)
        linear("dot_product_scoring.text_proj", q, q)
        linear("dot_product_scoring.query_proj", q, q)
        return out
    }
}
