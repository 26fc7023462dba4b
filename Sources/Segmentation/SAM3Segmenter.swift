public import CLIP
import Foundation
public import SAM3
public import Tensor
public import Tiling

/// The SAM 3 engine (docs/METHOD.md section 9, SegEarth-OV3's training-free method) behind the
/// `Segmenter` seam. Per tile and rotation: the tile turned, resized to the model's input size,
/// the vision backbone and neck once, then for every text query (one per class prompt, no
/// templates) the DETR encoder and decoder, scoring and mask decoder on those features; the
/// query's score map p x max(0, max over kept objects of s_i x M_i, G) at the tile's size, turned
/// back; the mean over rotations. Output: one score plane (0..1) per query.
///
/// With an `objects` sink, the kept objects of queries whose class is in `instanceClasses`
/// (mask M_i > 0.5 inside the tile's valid pixels) go to it, tile by tile.
public struct SAM3Segmenter: Segmenter {
    public let model: SAM3Model
    /// Text features of every query [K, L, D] and their attention masks, computed once.
    public let text: SAM3TextQueries
    /// Degrees counter-clockwise, each in {0, 90, 180, 270}.
    public let rotations: [Int]
    /// Objects scoring above this are kept (`object_threshold`).
    public let objectThreshold: Float
    public let threads: Int?
    public let objects: (any TileObjectSink)?
    public let instanceClasses: Set<Int>
    /// Seconds in the vision backbone and neck, summed over every call.
    public let encoderClock = Stopwatch()
    /// Seconds in the per-query heads (DETR encoder and decoder, scoring, masks) and the score maps.
    public let headClock = Stopwatch()

    public init(model: SAM3Model, text: SAM3TextQueries, rotations: [Int], objectThreshold: Float, threads: Int? = nil,
                objects: (any TileObjectSink)? = nil, instanceClasses: Set<Int> = []) {
        precondition(!rotations.isEmpty && rotations.allSatisfy { $0 % 90 == 0 })
        self.model = model; self.text = text; self.rotations = rotations; self.objectThreshold = objectThreshold
        self.threads = threads; self.objects = objects; self.instanceClasses = instanceClasses
    }

    public var channelCount: Int { text.count }
    public var encoderRunsPerTile: Int { rotations.count }
    /// The model's square input side (1008 for facebook/sam3).
    public var inputSize: Int { model.config.visionConfig.backboneConfig.imageSize }

    public func segment(_ image: TileImage) async throws -> [Float] {
        try scores(image)
    }

    /// Reports a step after each query's head (queries x rotations steps a tile).
    public func segment(_ image: TileImage, steps: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) async throws -> [Float] {
        try scores(image, steps: steps)
    }

    /// The rotation-averaged score maps of one tile, query-major [K, H, W]; `steps` is told
    /// after each query's head.
    public func scores(_ image: TileImage, steps: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [Float] {
        let (h, w, k) = (image.tile.height, image.tile.width, channelCount)
        let workers = max(1, threads ?? defaultThreads())
        var out = [Float](repeating: 0, count: k * h * w)
        var found: [TileObject] = []
        for (ri, r) in rotations.enumerated() {
            let placement = Placement(image: image, quarterTurns: r / 90, patchSize: 1)
            let pixels = input(image, placement: placement)
            let vision = try encoderClock.time { try model.vision(pixels, threads: workers) }
            for q in 0..<k {
                try headClock.time {
                    let result = try model.segment(vision: vision, text: text.features(q), mask: [text.masks[q]], threads: workers)
                    let (map, kept) = Self.scoreMap(result, height: placement.turnedHeight, width: placement.turnedWidth,
                                                    objectThreshold: objectThreshold,
                                                    wantMasks: objects != nil && instanceClasses.contains(text.queryClass[q]))
                    out.withUnsafeMutableBufferPointer { o in
                        let plane = o.baseAddress! + q * h * w
                        for a in 0..<placement.turnedHeight {
                            for b in 0..<placement.turnedWidth {
                                let (y, x) = placement.source(row: a, col: b)
                                plane[y * w + x] += map[a * placement.turnedWidth + b]
                            }
                        }
                    }
                    for (score, turned) in kept {
                        var local = [Bool](repeating: false, count: h * w)
                        for a in 0..<placement.turnedHeight {
                            for b in 0..<placement.turnedWidth where turned[a * placement.turnedWidth + b] {
                                let (y, x) = placement.source(row: a, col: b)
                                local[y * w + x] = image.valid[y * w + x] != 0
                            }
                        }
                        if let o = TileObject(classIndex: text.queryClass[q], score: score, tile: image.tile, localMask: local) { found.append(o) }
                    }
                }
                steps?(ri * k + q + 1, rotations.count * k)
            }
        }
        if rotations.count > 1 {
            let scale = 1 / Float(rotations.count)
            for i in out.indices { out[i] *= scale }
        }
        objects?.add(found, tile: image.tile)
        return out
    }

    /// Step 4 of section 9 for one query's outputs (batch of one) at the turned tile's size:
    /// p = sigmoid(presence), s_i = sigmoid(logit_i) x p, objects kept when s_i > the threshold,
    /// M_i and G the sigmoid of the bilinear resize of their logits, and the map
    /// p x max(0, max over kept i of s_i M_i, G). With `wantMasks`, the kept objects' masks
    /// (M_i > 0.5, that is the resized logit > 0) with their scores.
    public static func scoreMap(_ out: SAM3Output, height: Int, width: Int, objectThreshold: Float,
                                wantMasks: Bool) -> (map: [Float], objects: [(score: Float, mask: [Bool])]) {
        let n = out.predLogits.shape[1], (h0, w0) = (out.predMasks.shape[2], out.predMasks.shape[3])
        let presence = SAM3Predictions.sigmoid(out.presenceLogits.storage[0])
        var best = Bilinear.resize(out.semanticSeg.storage, height: h0, width: w0, channels: 1, toHeight: height, toWidth: width)
            .map { SAM3Predictions.sigmoid($0) }
        var kept: [(Float, [Bool])] = []
        for i in 0..<n {
            let s = SAM3Predictions.sigmoid(out.predLogits.storage[i]) * presence
            guard s > objectThreshold else { continue }
            let logits = Bilinear.resize(Array(out.predMasks.storage[(i * h0 * w0)..<((i + 1) * h0 * w0)]), height: h0, width: w0,
                                         channels: 1, toHeight: height, toWidth: width)
            for j in best.indices { best[j] = max(best[j], s * SAM3Predictions.sigmoid(logits[j])) }
            if wantMasks { kept.append((s, logits.map { $0 > 0 })) }
        }
        return (best.map { presence * max(0, $0) }, kept)
    }

    /// Step 1: the tile turned, nodata pixels given 127.5 (0 once normalized), resized to the
    /// input size (bilinear, align_corners=False, no antialias), normalized (x/255 - 0.5)/0.5.
    /// [1, 3, S, S].
    func input(_ image: TileImage, placement: Placement) -> Tensor {
        let (h, w) = (image.tile.height, image.tile.width), (hr, wr) = (placement.turnedHeight, placement.turnedWidth)
        var rgb = [Float](repeating: 0, count: hr * wr * 3)
        for a in 0..<hr {
            for b in 0..<wr {
                let (y, x) = placement.source(row: a, col: b)
                let i = y * w + x
                for c in 0..<3 { rgb[(a * wr + b) * 3 + c] = image.valid[i] == 0 ? 127.5 : image.pixels[c * h * w + i] }
            }
        }
        let n = inputSize
        return Tensor(shape: [1, 3, n, n], storage: SAM3ImageInput.normalized(rgb: rgb, height: hr, width: wr, size: n))
    }
}

/// SAM 3's text queries for a run (section 9 step 3): every prompt of every class, the bare words
/// tokenized to the text context (32), their features computed once.
public struct SAM3TextQueries: Sendable {
    /// [K, L, D].
    public let features: Tensor
    public let masks: [[Bool]]
    public let queryClass: [Int]
    public let prompts: [String]

    public var count: Int { masks.count }

    /// Query `k`'s features [1, L, D].
    public func features(_ k: Int) -> Tensor { features.slice(k..<(k + 1)) }

    /// - Throws: `SAM3TextQueries.TooLong` for a prompt with more tokens than the context.
    public static func compute(model: SAM3Model, tokenizer: CLIPTokenizer, vocabulary: Vocabulary, threads: Int? = nil) throws -> SAM3TextQueries {
        let length = model.config.textConfig.maxPositionEmbeddings
        let prompts = vocabulary.queries.map { SAM3Prompt($0, tokenizer: tokenizer, length: length) }
        for (k, p) in prompts.enumerated() where p.truncated {
            throw TooLong(className: vocabulary.classes[vocabulary.queryClass[k]].name, prompt: p.text, tokens: p.fullLength, context: length)
        }
        let features = try model.text.features(ids: prompts.map(\.ids), threads: threads)
        return SAM3TextQueries(features: features, masks: prompts.map(\.mask), queryClass: vocabulary.queryClass, prompts: vocabulary.queries)
    }

    public struct TooLong: Error, CustomStringConvertible, Sendable {
        public let className: String, prompt: String, tokens: Int, context: Int
        public var description: String {
            "class '\(className)': prompt '\(prompt)' has \(tokens) tokens with start and end; SAM 3's text context holds \(context): shorten it"
        }
    }
}
