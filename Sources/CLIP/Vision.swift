// CLIP vision transformer (transformers `CLIPVisionTransformer`), any input size.
public import Tensor

/// The vision tower: patch embedding, position embeddings (resized bicubically for other grids),
/// `pre_layrnorm`, encoder layers, `post_layernorm` on the class token.
public final class CLIPVisionEncoder: Sendable {
    public let config: CLIPVisionConfig
    /// Conv weight [D, C, P, P], used as a [D, C*P*P] matrix on im2col patches.
    public let patchEmbedding: Linear
    public let classEmbedding: Tensor
    /// Trained position embeddings [g*g + 1, D].
    public let positionEmbedding: Tensor
    public let preLayerNorm: LayerNorm
    public let layers: [EncoderLayer]
    public let postLayerNorm: LayerNorm
    private let workspace = Exclusive(Workspace())

    init(config: CLIPVisionConfig, loader: inout WeightLoader) throws {
        self.config = config
        let d = config.hiddenSize, c = config.numChannels, p = config.patchSize, g = config.gridSize
        let p0 = "vision_model."
        let conv = try loader.tensor(p0 + "embeddings.patch_embedding.weight", shape: [d, c, p, p])
        patchEmbedding = Linear(weight: conv.reshaped([d, c * p * p]), bias: nil, precision: loader.precision,
                                packing: loader.packing)
        classEmbedding = try loader.tensor(p0 + "embeddings.class_embedding", shape: [d])
        positionEmbedding = try loader.tensor(p0 + "embeddings.position_embedding.weight", shape: [g * g + 1, d])
        preLayerNorm = try loader.layerNorm(p0 + "pre_layrnorm", dim: d, eps: config.layerNormEps)
        layers = try (0..<config.numHiddenLayers).map { i in
            try EncoderLayer(loader: &loader, prefix: p0 + "encoder.layers.\(i)", dim: d,
                             intermediate: config.intermediateSize, heads: config.numAttentionHeads,
                             activation: config.hiddenAct, eps: config.layerNormEps)
        }
        postLayerNorm = try loader.layerNorm(p0 + "post_layernorm", dim: d, eps: config.layerNormEps)
    }

    /// Position embeddings [1 + h*w, D] for a grid of h x w patches: the trained ones for the
    /// trained grid, else the patch part resized bicubically (a = -0.75, align_corners=False) to
    /// (h, w) as transformers' `interpolate_pos_encoding`, the class position kept.
    public func positionEmbeddings(gridHeight h: Int, gridWidth w: Int) -> Tensor {
        let d = config.hiddenSize, g = config.gridSize
        if h == g && w == g { return positionEmbedding }
        var out = Tensor(shape: [1 + h * w, d])
        positionEmbedding.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                dst.baseAddress!.update(from: src.baseAddress!, count: d)
                Resize.bicubic(input: src.baseAddress! + d, height: g, width: g, channels: d,
                               yStride: g * d, xStride: d, channelStride: 1,
                               output: dst.baseAddress! + d, outHeight: h, outWidth: w,
                               outYStride: w * d, outXStride: d, outChannelStride: 1)
            }
        }
        return out
    }

    /// Tokens for an input of `height` x `width` pixels: 1 + (height / P) * (width / P).
    public func tokens(height: Int, width: Int) -> Int {
        1 + (height / config.patchSize) * (width / config.patchSize)
    }

    /// Hidden states [B, T, D] after `pre_layrnorm` and the first `layerCount` encoder layers, for
    /// normalized pixels [B, C, H, W]. `layerCount == layers.count - 1` gives the input of the last
    /// layer (transformers `hidden_states[-2]`); `layers.count` the `last_hidden_state`.
    public func hiddenStates(pixels: Tensor, layerCount: Int, threads: Int? = nil) throws -> Tensor {
        try run(pixels: pixels, layerCount: layerCount, threads: threads) { ws, rows, d in
            Tensor(shape: [pixels.shape[0], rows / pixels.shape[0], d],
                   storage: Array(UnsafeBufferPointer(start: ws.hidden.pointer, count: rows * d)))
        }
    }

    /// The input of the last encoder layer, [B, T, D] (`hidden_states[-2]`).
    public func hiddenStateBeforeLastLayer(pixels: Tensor, threads: Int? = nil) throws -> Tensor {
        try hiddenStates(pixels: pixels, layerCount: layers.count - 1, threads: threads)
    }

    /// `post_layernorm` of the class token after all layers, [B, D] (transformers `pooler_output`).
    public func pooledOutput(pixels: Tensor, threads: Int? = nil) throws -> Tensor {
        let d = config.hiddenSize
        return try run(pixels: pixels, layerCount: layers.count, threads: threads) { ws, rows, _ in
            let b = pixels.shape[0], t = rows / b
            var out = Tensor(shape: [b, d])
            out.storage.withUnsafeMutableBufferPointer { o in
                postLayerNorm.apply(input: ws.hidden.pointer, inputStride: t * d, rows: b,
                                    output: o.baseAddress!, outputStride: d)
            }
            return out
        }
    }

    /// Checks the input, embeds it, runs the layers and hands the workspace to `result`.
    private func run<R>(pixels: Tensor, layerCount: Int, threads: Int?,
                        result: (Workspace, _ rows: Int, _ dim: Int) throws -> R) throws -> R {
        let c = config.numChannels, p = config.patchSize, d = config.hiddenSize
        guard pixels.rank == 4, pixels.shape[1] == c, pixels.shape[0] > 0 else {
            throw CLIPError.invalidInput("pixels must be [B, \(c), H, W] with B >= 1, got \(pixels.shape)")
        }
        let (b, height, width) = (pixels.shape[0], pixels.shape[2], pixels.shape[3])
        let (gh, gw) = (height / p, width / p)
        guard gh > 0, gw > 0 else {
            throw CLIPError.invalidInput("image \(height) x \(width) is smaller than one \(p) x \(p) patch")
        }
        guard (0...layers.count).contains(layerCount) else {
            throw CLIPError.invalidInput("layer count \(layerCount) outside 0...\(layers.count)")
        }
        let t = 1 + gh * gw, rows = b * t
        let workers = max(1, threads ?? defaultThreads())
        // Whole rounds of `workers` images run one image per worker (each worker a whole
        // single-threaded layer stack, nothing shared, no barriers); the images left over
        // (and a batch of one) run one at a time with the workers splitting each layer.
        let solo = workers > 1 && b >= workers ? b - b % workers : 0
        let lanes = solo > 0 ? workers : 1
        return try workspace.with { ws in
            ws.reserve(lanes: lanes, rows: t, dim: d, intermediate: config.intermediateSize, tokens: t,
                       headDim: config.hiddenSize / config.numAttentionHeads, workers: workers)
            ws.hidden.reserve(rows * d)
            ws.patches.reserve(b * gh * gw * c * p * p)
            if ws.positionGrid == nil || ws.positionGrid! != (gh, gw) {
                let table = positionEmbeddings(gridHeight: gh, gridWidth: gw)
                ws.positions.reserve(table.count)
                table.storage.withUnsafeBufferPointer { ws.positions.pointer.update(from: $0.baseAddress!, count: table.count) }
                ws.positionGrid = (gh, gw)
            }
            let stack = layers[0..<layerCount], x = ws.hidden.pointer
            let lanes = ws.lanes, scratch = ws.scratch.map(\.pointer)
            BLAS.withThreads(1) {
                pixels.storage.withUnsafeBufferPointer { px in
                    embed(pixels: px.baseAddress!, images: b, height: height, width: width, ws: ws, workers: workers)
                }
                if solo > 0 {
                    Parallel.forEach(tasks: solo, workers: workers) { image, w in
                        runLayers(stack, hidden: x + image * t * d, lane: lanes[w], scratch: [scratch[w]],
                                  images: 1, tokens: t, causal: false, workers: 1)
                    }
                }
                for image in solo..<b {
                    runLayers(stack, hidden: x + image * t * d, lane: lanes[0], scratch: scratch,
                              images: 1, tokens: t, causal: false, workers: workers)
                }
            }
            return try result(ws, rows, d)
        }
    }

    /// Patch embedding as a GEMM on im2col patches, class token, position embeddings, `pre_layrnorm`,
    /// into `ws.hidden`; (image, chunk of patches) tasks, chunks fixed by the patch count
    /// (`Parallel.rowChunks`) so the products are the same on any number of workers.
    private func embed(pixels: UnsafePointer<Float>, images b: Int, height: Int, width: Int,
                       ws: Workspace, workers: Int) {
        let c = config.numChannels, p = config.patchSize, d = config.hiddenSize
        let (gh, gw) = (height / p, width / p)
        let t = 1 + gh * gw, k = c * p * p
        let x = ws.hidden.pointer, patches = ws.patches.pointer, positions = ws.positions.pointer
        let chunks = Parallel.rowChunks(gh * gw)
        classEmbedding.storage.withUnsafeBufferPointer { cls in
            for image in 0..<b {
                let row = x + image * t * d
                for i in 0..<d { row[i] = cls[i] + positions[i] }
                preLayerNorm.apply(input: row, inputStride: d, rows: 1, output: row, outputStride: d)
            }
            Parallel.forEach(tasks: b * chunks, workers: workers) { task, _ in
                let image = task / chunks, share = Parallel.share(gh * gw, worker: task % chunks, of: chunks)
                guard !share.isEmpty else { return }
                let plane = pixels + image * c * height * width
                for patch in share {
                    let (py, px) = (patch / gw, patch % gw)
                    var dst = patches + (image * gh * gw + patch) * k
                    for ch in 0..<c {
                        for ky in 0..<p {
                            let src = plane + (ch * height + py * p + ky) * width + px * p
                            dst.update(from: src, count: p)
                            dst += p
                        }
                    }
                }
                let out = x + (image * t + 1 + share.lowerBound) * d
                patchEmbedding.apply(input: patches + (image * gh * gw + share.lowerBound) * k, inputStride: k,
                                     rows: share.count, output: out, outputStride: d)
                for r in 0..<share.count {
                    let row = out + r * d, pos = positions + (1 + share.lowerBound + r) * d
                    for i in 0..<d { row[i] += pos[i] }
                }
                preLayerNorm.apply(input: out, inputStride: d, rows: share.count, output: out, outputStride: d)
            }
        }
    }
}
