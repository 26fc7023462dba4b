// SAM 3's DETR decoder (transformers `Sam3DetrDecoder`): a presence token and `num_queries` object
// queries attend to themselves, the prompt and the encoded image (with a box relative position
// bias), and refine one reference box per query after every layer.
import Foundation
import CLIP
public import Tensor

/// transformers `Sam3DecoderMLP`: 2 or 3 linear layers with ReLU between them.
public struct SAM3DecoderMLP: Sendable {
    public let layers: [Linear]

    init(loader: inout WeightLoader, prefix: String, input: Int, hidden: Int, output: Int, layers count: Int) throws {
        let dims = [input] + Array(repeating: hidden, count: count - 1) + [output]
        layers = try (0..<count).map { try loader.linear(prefix + ".layer\($0 + 1)", in: dims[$0], out: dims[$0 + 1]) }
    }

    /// The passes over each layer's output shared among `workers` (the same values).
    public func callAsFunction(_ x: Tensor, workers: Int = 1) -> Tensor {
        callAsFunction(x, workers: workers, hidden: (1..<layers.count).map { _ in ScratchBuffer() })
    }

    /// `callAsFunction` (the same values) with each hidden layer's rows in a buffer of `hidden`
    /// (one per hidden layer, kept by the caller from call to call, contents undefined): the box
    /// relative position bias runs its 14,400-row hidden layers (15 MB each at 72 x 72 tokens)
    /// twice in each of six layers a prompt, and fresh arrays would fault in their pages each time.
    public func callAsFunction(_ x: Tensor, workers: Int, hidden: [ScratchBuffer]) -> Tensor {
        precondition(hidden.count >= layers.count - 1, "\(hidden.count) hidden buffers for an MLP of \(layers.count) layers")
        precondition(x.shape.last == layers[0].inFeatures, "MLP expects last dimension \(layers[0].inFeatures), got \(x.shape)")
        let rows = x.count / layers[0].inFeatures, last = layers[layers.count - 1]
        guard rows > 0 else { return Tensor(shape: Array(x.shape.dropLast()) + [last.outFeatures]) }
        return x.storage.withUnsafeBufferPointer { px in
            var input = UnsafePointer(px.baseAddress!)
            for (layer, buffer) in zip(layers.dropLast(), hidden) {
                buffer.reserve(rows * layer.outFeatures)
                layer.apply(input: input, inputStride: layer.inFeatures, rows: rows, output: buffer.pointer,
                            outputStride: layer.outFeatures, activation: .relu, workers: workers)
                input = UnsafePointer(buffer.pointer)
            }
            return Tensor(shape: Array(x.shape.dropLast()) + [last.outFeatures]) { out in
                last.apply(input: input, inputStride: last.inFeatures, rows: rows, output: out,
                           outputStride: last.outFeatures, workers: workers)
            }
        }
    }
}

/// One `Sam3DetrDecoderLayer` (post-LN, layer norms eps 1e-5). With qp = x + query_pos (zeros for
/// the presence token): x = ln(x + self_attn(qp, qp, x)); x = ln(x + text_cross_attn(qp, text, text, mask));
/// x = ln(x + vision_cross_attn(qp, vision + pos, vision, bias = box RPB)); x = ln(x + fc2(relu(fc1(x)))).
public struct SAM3DetrDecoderLayer: Sendable {
    public let selfAttention: SAM3Attention
    public let selfAttentionNorm: LayerNorm
    public let textCrossAttention: SAM3Attention
    public let textCrossAttentionNorm: LayerNorm
    public let visionCrossAttention: SAM3Attention
    public let visionCrossAttentionNorm: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let mlpNorm: LayerNorm

    init(loader: inout WeightLoader, prefix: String, config c: SAM3StackConfig) throws {
        let d = c.hiddenSize, eps: Float = 1e-5, h = c.numAttentionHeads
        selfAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".self_attn", dim: d, heads: h, selfAttention: true)
        selfAttentionNorm = try loader.layerNorm(prefix + ".self_attn_layer_norm", dim: d, eps: eps)
        textCrossAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".text_cross_attn", dim: d, heads: h)
        textCrossAttentionNorm = try loader.layerNorm(prefix + ".text_cross_attn_layer_norm", dim: d, eps: eps)
        visionCrossAttention = try SAM3Attention(loader: &loader, prefix: prefix + ".vision_cross_attn", dim: d, heads: h)
        visionCrossAttentionNorm = try loader.layerNorm(prefix + ".vision_cross_attn_layer_norm", dim: d, eps: eps)
        fc1 = try loader.linear(prefix + ".mlp.fc1", in: d, out: c.intermediateSize)
        fc2 = try loader.linear(prefix + ".mlp.fc2", in: c.intermediateSize, out: d)
        mlpNorm = try loader.layerNorm(prefix + ".mlp_layer_norm", dim: d, eps: eps)
    }

    /// `buffers`: the vision cross-attention's (keys and values of every image token), kept
    /// from layer to layer.
    func apply(_ x: inout Tensor, queryPosition: Tensor, prompt: Tensor, promptMask: [Bool]?,
               vision: Tensor, visionKeys: Tensor, bias: SAM3AxialBias, workers: Int, buffers: SAM3Attention.Buffers) {
        var qp = x + queryPosition
        x = selfAttentionNorm(x + selfAttention(query: qp, key: qp, value: x, workers: workers))
        qp = x + queryPosition
        x = textCrossAttentionNorm(x + textCrossAttention(query: qp, key: prompt, value: prompt, keyMask: promptMask, workers: workers))
        qp = x + queryPosition
        x = visionCrossAttentionNorm(x + visionCrossAttention(query: qp, key: visionKeys, value: vision, bias: bias, workers: workers,
                                                                             buffers: buffers))
        x = mlpNorm(x + fc2(fc1(x, activation: .relu)))
    }
}

/// What the decoder hands on, per layer (transformers `Sam3DETRDecoderOutput`).
public struct SAM3DetrDecoderOutput: Sendable {
    /// `output_layer_norm` of the query states after each layer, [layers, B, Q, D].
    public var intermediateHiddenStates: Tensor
    /// The reference boxes (cx, cy, w, h in 0...1) each layer started from, [layers, B, Q, 4].
    public var referenceBoxes: Tensor
    /// The presence logit after each layer, clamped to -10...10, [layers, B, 1].
    public var presenceLogits: Tensor
    /// The boxes refined by the last layer (cx, cy, w, h), [B, Q, 4]: `Sam3Model`'s predicted boxes
    /// before the conversion to corners.
    public var finalBoxes: Tensor
}

/// transformers `Sam3DetrDecoder`.
public struct SAM3DetrDecoder: Sendable {
    public let config: SAM3StackConfig
    public let layers: [SAM3DetrDecoderLayer]
    public let outputLayerNorm: LayerNorm
    public let boxHead: SAM3DecoderMLP
    /// `query_embed` [Q, D], `reference_points` [Q, 4] (before the sigmoid), `presence_token` [1, D].
    public let queryEmbed: Tensor
    public let referencePoints: Tensor
    public let presenceToken: Tensor
    public let presenceHead: SAM3DecoderMLP
    public let presenceLayerNorm: LayerNorm
    public let refPointHead: SAM3DecoderMLP
    public let boxRPBEmbedX: SAM3DecoderMLP
    public let boxRPBEmbedY: SAM3DecoderMLP

    init(config c: SAM3StackConfig, loader: inout WeightLoader) throws {
        config = c
        let d = c.hiddenSize, p = "detr_decoder."
        layers = try (0..<c.numLayers).map { try SAM3DetrDecoderLayer(loader: &loader, prefix: p + "layers.\($0)", config: c) }
        outputLayerNorm = try loader.layerNorm(p + "output_layer_norm", dim: d, eps: 1e-5)
        boxHead = try SAM3DecoderMLP(loader: &loader, prefix: p + "box_head", input: d, hidden: d, output: 4, layers: 3)
        queryEmbed = try loader.tensor(p + "query_embed.weight", shape: [c.numQueries, d])
        referencePoints = try loader.tensor(p + "reference_points.weight", shape: [c.numQueries, 4])
        presenceToken = try loader.tensor(p + "presence_token.weight", shape: [1, d])
        presenceHead = try SAM3DecoderMLP(loader: &loader, prefix: p + "presence_head", input: d, hidden: d, output: 1, layers: 3)
        presenceLayerNorm = try loader.layerNorm(p + "presence_layer_norm", dim: d, eps: 1e-5)
        refPointHead = try SAM3DecoderMLP(loader: &loader, prefix: p + "ref_point_head", input: 2 * d, hidden: d, output: d, layers: 2)
        boxRPBEmbedX = try SAM3DecoderMLP(loader: &loader, prefix: p + "box_rpb_embed_x", input: 2, hidden: d,
                                          output: c.numAttentionHeads, layers: 2)
        boxRPBEmbedY = try SAM3DecoderMLP(loader: &loader, prefix: p + "box_rpb_embed_y", input: 2, hidden: d,
                                          output: c.numAttentionHeads, layers: 2)
    }

    /// Encoded image tokens and their position encodings [B, H * W, D] of an H x W grid, prompt
    /// features [B, L, D] with their mask (true = real token).
    public func callAsFunction(vision: Tensor, position: Tensor, height: Int, width: Int,
                               prompt: Tensor, promptMask: [[Bool]]? = nil, threads: Int? = nil) throws -> SAM3DetrDecoderOutput {
        let d = config.hiddenSize, q = config.numQueries
        guard vision.rank == 3, vision.shape[1] == height * width, vision.shape[2] == d, position.shape == vision.shape else {
            throw SAM3Error.invalidInput("DETR decoder vision \(vision.shape) / positions \(position.shape), need [B, \(height * width), \(d)]")
        }
        let b = vision.shape[0]
        guard prompt.rank == 3, prompt.shape[0] == b, prompt.shape[2] == d, prompt.shape[1] > 0 else {
            throw SAM3Error.invalidInput("DETR decoder prompt \(prompt.shape), need [\(b), L, \(d)]")
        }
        let l = prompt.shape[1], n = height * width
        if let promptMask {
            guard promptMask.count == b, promptMask.allSatisfy({ $0.count == l && $0.contains(true) }) else {
                throw SAM3Error.invalidInput("prompt mask must be [\(b)][\(l)] with a real token in every row")
            }
        }
        let workers = max(1, threads ?? defaultThreads())
        var hidden = [Float](), boxes = [Float](), presence = [Float](), final = [Float]()
        var perLayer = [(hidden: [Float], boxes: [Float], presence: [Float])](repeating: ([], [], []), count: layers.count)
        let buffers = SAM3Attention.Buffers()
        let biasHidden = relativePositionBiasBuffers()
        for image in 0..<b {
            let visionTokens = vision.slice(image..<image + 1).reshaped([n, d])
            let visionKeys = visionTokens.adding(position.slice(image..<image + 1).reshaped([n, d]), workers: workers)
            let text = prompt.slice(image..<image + 1).reshaped([l, d])
            var x = Tensor(shape: [q + 1, d], storage: presenceToken.storage + queryEmbed.storage)
            var reference = referencePoints.storage.map(Self.sigmoid) // [Q, 4], cx cy w h
            for (index, layer) in layers.enumerated() {
                let queryPosition = refPointHead(Self.boxSineEncoding(reference, dim: d))
                let padded = Tensor(shape: [q + 1, d], storage: [Float](repeating: 0, count: d) + queryPosition.storage)
                let bias = relativePositionBias(reference, height: height, width: width, workers: workers, hidden: biasHidden)
                layer.apply(&x, queryPosition: padded, prompt: text, promptMask: promptMask?[image],
                            vision: visionTokens, visionKeys: visionKeys, bias: bias, workers: workers, buffers: buffers)
                let normed = outputLayerNorm(x.slice(1..<q + 1))
                let delta = boxHead(normed)
                perLayer[index].boxes += reference
                reference = (0..<q * 4).map { Self.sigmoid(delta.storage[$0] + Self.inverseSigmoid(reference[$0])) }
                perLayer[index].hidden += normed.storage
                let logit = presenceHead(presenceLayerNorm(x.slice(0..<1))).storage[0]
                perLayer[index].presence.append(min(max(logit, -10), 10))
            }
            final += reference
        }
        for layer in perLayer { hidden += layer.hidden; boxes += layer.boxes; presence += layer.presence }
        let count = layers.count
        return SAM3DetrDecoderOutput(intermediateHiddenStates: Tensor(shape: [count, b, q, d], storage: hidden),
                                     referenceBoxes: Tensor(shape: [count, b, q, 4], storage: boxes),
                                     presenceLogits: Tensor(shape: [count, b, 1], storage: presence),
                                     finalBoxes: Tensor(shape: [b, q, 4], storage: final))
    }

    /// transformers' `inverse_sigmoid` (eps 1e-3): log(max(x, eps) / max(1 - x, eps)), x clamped to 0...1.
    static func inverseSigmoid(_ v: Float) -> Float {
        let x = min(max(v, 0), 1)
        return Foundation.log(max(x, 1e-3) / max(1 - x, 1e-3))
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

    /// `Sam3SinePositionEmbedding.encode_boxes` with dim/2 features a coordinate, scale 2 pi,
    /// temperature 10000: [Q, 2 dim] = (y, x, w, h) blocks of interleaved sin / cos.
    static func boxSineEncoding(_ boxes: [Float], dim: Int) -> Tensor {
        let f = dim / 2, count = boxes.count / 4, scale = Float(2 * Double.pi)
        let dimT = (0..<f).map { i in Foundation.pow(Float(10_000), Float(2 * (i / 2)) / Float(f)) }
        var out = [Float](repeating: 0, count: count * 4 * f)
        for b in 0..<count {
            // Output block order y, x, w, h from box coordinates cx (0), cy (1), w (2), h (3).
            for (block, coordinate) in [1, 0, 2, 3].enumerated() {
                let e = boxes[b * 4 + coordinate] * scale
                for i in 0..<f {
                    let v = e / dimT[i]
                    out[(b * 4 + block) * f + i] = i % 2 == 0 ? Foundation.sin(v) : Foundation.cos(v)
                }
            }
        }
        return Tensor(shape: [count, 4 * f], storage: out)
    }

    /// Buffers for the hidden rows of `relativePositionBias`'s embedding MLPs.
    func relativePositionBiasBuffers() -> [ScratchBuffer] {
        (1..<max(boxRPBEmbedX.layers.count, boxRPBEmbedY.layers.count)).map { _ in ScratchBuffer() }
    }

    /// The box relative position bias over the H x W grid for the Q queries after the presence
    /// token (which gets none): for each query's box (x1, y1, x2, y2) and grid row i / column j
    /// at i / H, j / W, the deltas to the box edges, log-scaled as sign(8t) log2(|8t| + 1) / 3,
    /// embedded per axis by `box_rpb_embed_y` / `_x` and summed (`SAM3AxialBias`).
    /// `hidden`: the embedding MLPs' hidden rows (`relativePositionBiasBuffers`), kept by the caller.
    func relativePositionBias(_ reference: [Float], height: Int, width: Int, workers: Int,
                              hidden: [ScratchBuffer]) -> SAM3AxialBias {
        let q = reference.count / 4, heads = config.numAttentionHeads
        func logScaled(_ t: Float) -> Float {
            let s = t * 8
            let sign: Float = s > 0 ? 1 : (s < 0 ? -1 : 0)
            return sign * Foundation.log2(abs(s) + 1) / 3
        }
        func deltas(_ size: Int, low: Int, high: Int) -> Tensor { // [Q * size, 2]
            var out = [Float](repeating: 0, count: q * size * 2)
            for b in 0..<q {
                let (cx, cy, w, h) = (reference[b * 4], reference[b * 4 + 1], reference[b * 4 + 2], reference[b * 4 + 3])
                let edges = [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
                for i in 0..<size {
                    let c = Float(i) / Float(size)
                    out[(b * size + i) * 2] = logScaled(c - edges[low])
                    out[(b * size + i) * 2 + 1] = logScaled(c - edges[high])
                }
            }
            return Tensor(shape: [q * size, 2], storage: out)
        }
        // [Q * size, heads] -> [heads, Q, size]
        func byHead(_ x: Tensor, size: Int) -> Tensor {
            x.swappingLastAxes(workers: workers).reshaped([heads, q, size])
        }
        return SAM3AxialBias(rows: byHead(boxRPBEmbedY(deltas(height, low: 1, high: 3), workers: workers, hidden: hidden), size: height),
                             columns: byHead(boxRPBEmbedX(deltas(width, low: 0, high: 2), workers: workers, hidden: hidden), size: width),
                             unbiasedQueries: 1)
    }
}
