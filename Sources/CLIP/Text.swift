// CLIP text transformer (transformers `CLIPTextTransformer`): causal attention, pooled at end-of-text.
public import Tensor

public final class CLIPTextEncoder: Sendable {
    public let config: CLIPTextConfig
    public let tokenEmbedding: Tensor    // [vocab, D]
    public let positionEmbedding: Tensor // [max_position_embeddings, D]
    public let layers: [EncoderLayer]
    public let finalLayerNorm: LayerNorm
    private let workspace = Exclusive(Workspace())

    /// Loads the tensors under `prefix` (`text_model.` in a CLIPModel checkpoint,
    /// `text_encoder.text_model.` in SAM 3's).
    public init(config: CLIPTextConfig, loader: inout WeightLoader, prefix: String = "text_model.") throws {
        self.config = config
        let d = config.hiddenSize
        tokenEmbedding = try loader.tensor(prefix + "embeddings.token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try loader.tensor(prefix + "embeddings.position_embedding.weight",
                                              shape: [config.maxPositionEmbeddings, d])
        layers = try (0..<config.numHiddenLayers).map { i in
            try EncoderLayer(loader: &loader, prefix: prefix + "encoder.layers.\(i)", dim: d,
                             intermediate: config.intermediateSize, heads: config.numAttentionHeads,
                             activation: config.hiddenAct, eps: config.layerNormEps)
        }
        finalLayerNorm = try loader.layerNorm(prefix + "final_layer_norm", dim: d, eps: config.layerNormEps)
    }

    /// The position pooled for one sequence, as transformers picks it: with the legacy
    /// `eos_token_id == 2` the position of the largest id, else the first `eos_token_id` (0 if none).
    public func pooledPosition(_ ids: [Int]) -> Int {
        if config.eosTokenId == 2 {
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: config.eosTokenId) ?? 0
    }

    /// `final_layer_norm` of the pooled token of each sequence, [B, D] (transformers `pooler_output`).
    /// All sequences must have the same length, at most `max_position_embeddings`.
    public func pooledOutput(ids: [[Int]], threads: Int? = nil) throws -> Tensor {
        let d = config.hiddenSize
        return try run(ids: ids, threads: threads) { x, length in
            var out = Tensor(shape: [ids.count, d])
            out.storage.withUnsafeMutableBufferPointer { o in
                for (s, sequence) in ids.enumerated() {
                    let row = x + (s * length + pooledPosition(sequence)) * d
                    finalLayerNorm.apply(input: row, inputStride: d, rows: 1, output: o.baseAddress! + s * d, outputStride: d)
                }
            }
            return out
        }
    }

    /// `final_layer_norm` of every token, [B, L, D] (transformers `last_hidden_state` without an
    /// attention mask: causal attention only). Same input rules as `pooledOutput`.
    public func lastHiddenState(ids: [[Int]], threads: Int? = nil) throws -> Tensor {
        let d = config.hiddenSize
        return try run(ids: ids, threads: threads) { x, length in
            var out = Tensor(shape: [ids.count, length, d])
            out.storage.withUnsafeMutableBufferPointer { o in
                finalLayerNorm.apply(input: x, inputStride: d, rows: ids.count * length, output: o.baseAddress!, outputStride: d)
            }
            return out
        }
    }

    /// Checks the ids, embeds them, runs the layers and hands the hidden states [B * L, D] to `result`.
    private func run<R>(ids: [[Int]], threads: Int?, result: (UnsafeMutablePointer<Float>, _ length: Int) -> R) throws -> R {
        let d = config.hiddenSize
        guard let length = ids.first?.count, length > 0 else { throw CLIPError.invalidInput("no token ids") }
        guard ids.allSatisfy({ $0.count == length }) else {
            throw CLIPError.invalidInput("token id sequences differ in length; pad them to one length")
        }
        guard length <= config.maxPositionEmbeddings else {
            throw CLIPError.invalidInput("\(length) tokens exceed max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        if let bad = ids.joined().first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw CLIPError.invalidInput("token id \(bad) outside the vocabulary of \(config.vocabSize)")
        }
        let b = ids.count, rows = b * length
        let workers = max(1, min(threads ?? defaultThreads(), rows))
        return workspace.with { ws in
            ws.reserve(lanes: 1, rows: rows, dim: d, intermediate: config.intermediateSize, tokens: length,
                       headDim: config.hiddenSize / config.numAttentionHeads, workers: workers)
            ws.hidden.reserve(rows * d)
            let x = ws.hidden.pointer
            tokenEmbedding.storage.withUnsafeBufferPointer { tok in
                positionEmbedding.storage.withUnsafeBufferPointer { pos in
                    for (s, sequence) in ids.enumerated() {
                        for (i, id) in sequence.enumerated() {
                            let row = x + (s * length + i) * d
                            for j in 0..<d { row[j] = tok[id * d + j] + pos[i * d + j] }
                        }
                    }
                }
            }
            BLAS.withThreads(1) {
                runLayers(layers[...], hidden: x, lane: ws.lanes[0], scratch: ws.scratch.map(\.pointer), images: b, tokens: length, causal: true, workers: workers)
            }
            return result(x, length)
        }
    }
}
