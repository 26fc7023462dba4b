public import CLIP
import Foundation
public import Tensor
public import Tiling

/// The training-free dense CLIP segmenter of docs/METHOD.md sections 3 and 4: per tile and
/// rotation, CLIP's vision tower up to its last layer, the last layer replaced by SegEarth-OV's
/// q-q + k-k + v-v attention (no residual, no MLP), patch tokens compared with the text queries
/// with the class-token bias, bilinear upsampling, and the mean over the rotation ensemble.
/// Output: one logit plane per text query.
public struct DenseCLIPSegmenter: Segmenter {
    public let model: CLIPModel
    /// Unit text queries [K, projection_dim].
    public let queries: Tensor
    /// Degrees counter-clockwise, each in {0, 90, 180, 270}.
    public let rotations: [Int]
    public let clsLambda: Float
    public let threads: Int?
    /// Seconds spent in the vision tower (layers 1 .. L-1), summed over every call.
    public let encoderClock = Stopwatch()

    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    public init(model: CLIPModel, queries: Tensor, rotations: [Int], clsLambda: Float, threads: Int? = nil) {
        precondition(!rotations.isEmpty && rotations.allSatisfy { $0 % 90 == 0 })
        self.model = model; self.queries = queries; self.rotations = rotations; self.clsLambda = clsLambda; self.threads = threads
    }

    public var channelCount: Int { queries.shape[0] }
    public var encoderRunsPerTile: Int { rotations.count }

    public func segment(_ image: TileImage) async throws -> [Float] {
        try logits(image)
    }

    /// The rotation-ensembled logit map of one tile, query-major [K, H, W].
    public func logits(_ image: TileImage) throws -> [Float] {
        let (h, w, k) = (image.tile.height, image.tile.width, channelCount)
        var sum = [Float](repeating: 0, count: k * h * w)
        // Rotations that give the same input shape run as one batch.
        let groups = Dictionary(grouping: rotations) { r in (r / 90) % 2 == 0 ? 0 : 1 }
        for key in groups.keys.sorted() {
            let batch = groups[key]!
            let maps = try rotatedLogits(image, rotations: batch)
            for m in maps { for i in 0..<sum.count { sum[i] += m[i] } }
        }
        let n = Float(rotations.count)
        return sum.map { $0 / n }
    }

    /// Steps 1-10 of section 3 for rotations that share an input shape; each map is [K, H, W]
    /// in the tile's own orientation.
    func rotatedLogits(_ image: TileImage, rotations batch: [Int]) throws -> [[Float]] {
        let p = model.vision.config.patchSize
        let (h, w) = (image.tile.height, image.tile.width)
        let quarter = (batch[0] / 90) % 2 == 1
        let (hr, wr) = quarter ? (w, h) : (h, w)                    // rotated tile size
        let padH = (p - hr % p) % p, padW = (p - wr % p) % p
        let (top, left) = (padH / 2, padW / 2)
        let (hp, wp) = (hr + padH, wr + padW)
        var pixels = Tensor(shape: [batch.count, 3, hp, wp])
        pixels.storage.withUnsafeMutableBufferPointer { out in
            for (b, r) in batch.enumerated() {
                for c in 0..<3 {
                    let plane = (b * 3 + c) * hp * wp
                    for a in 0..<hr {
                        for x in 0..<wr {
                            let (sy, sx) = Self.source(row: a, col: x, quarterTurns: r / 90, height: h, width: w)
                            let i = sy * w + sx
                            let v = image.valid[i] == 0 ? 0 : (image.pixels[c * h * w + i] / 255 - Self.mean[c]) / Self.std[c]
                            out[plane + (a + top) * wp + x + left] = v
                        }
                    }
                }
            }
        }
        let hidden = try encoderClock.time { try model.vision.hiddenStateBeforeLastLayer(pixels: pixels, threads: threads) }
        let t = hidden.shape[1], d = hidden.shape[2]
        let (gh, gw) = (hp / p, wp / p)
        return try batch.enumerated().map { b, r in
            let x = Tensor(shape: [t, d], storage: Array(hidden.storage[(b * t * d)..<((b + 1) * t * d)]))
            let grid = patchLogits(lastLayerInput: x)                     // [gh*gw, K]
            let up = Bilinear.resize(grid.storage, height: gh, width: gw, channels: channelCount, toHeight: hp, toWidth: wp)
            return Self.unrotate(up, paddedWidth: wp, top: top, left: left, quarterTurns: r / 90, height: h, width: w, channels: channelCount)
        }
    }

    /// Section 3 steps 6-7: the modified last layer, post layer norm, projection, and logits of
    /// each patch token against the queries with the class-token bias. [gh*gw, K].
    func patchLogits(lastLayerInput x: Tensor) -> Tensor {
        let layer = model.vision.layers[model.vision.layers.count - 1]
        let t = x.shape[0]
        let y = layer.layerNorm1(x)
        let q = layer.qProj(y), k = layer.kProj(y), v = layer.vProj(y)
        let o = Self.selfSimilarityAttention(q: q, k: k, v: v, heads: layer.heads, scale: layer.scale, workers: threads ?? defaultThreads())
        var unit = model.visualProjection(model.vision.postLayerNorm(layer.outProj(o)))  // [T, P]
        let dim = unit.shape[1]
        unit.storage.withUnsafeMutableBufferPointer { u in
            for r in 0..<t {
                let row = u.baseAddress! + r * dim
                var norm: Float = 0
                for c in 0..<dim { norm += row[c] * row[c] }
                norm = norm.squareRoot()
                if norm > 0 { for c in 0..<dim { row[c] /= norm } }
            }
        }
        let scores = BLAS.matmul(unit, queries, transposeB: true)  // [T, K]
        let kq = queries.shape[0]
        var out = Tensor(shape: [t - 1, kq])
        scores.storage.withUnsafeBufferPointer { s in
            out.storage.withUnsafeMutableBufferPointer { o in
                for i in 1..<t {
                    for c in 0..<kq { o[(i - 1) * kq + c] = s[i * kq + c] + clsLambda * s[c] }
                }
            }
        }
        return out
    }

    /// SegEarth-OV's attention, per head h: (softmax(s q q^T) + softmax(s k k^T) + softmax(s v v^T)) v,
    /// heads written into their columns of the [T, D] result. Products on the strided columns of q,
    /// k and v (no copies) with the attention kernels; heads are shared among `workers` threads,
    /// each with its own two T x T buffers.
    static func selfSimilarityAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float, workers: Int) -> Tensor {
        let t = q.shape[0], d = q.shape[1], hd = d / heads
        let workers = max(1, min(workers, heads))
        var out = Tensor(shape: [t, d])
        let pack = Attention.packCount(keys: t, headDim: hd), perWorker = 2 * t * t + pack
        var scratch = [Float](repeating: 0, count: workers * perWorker)
        q.storage.withUnsafeBufferPointer { qp in
            k.storage.withUnsafeBufferPointer { kp in
                v.storage.withUnsafeBufferPointer { vp in
                    out.storage.withUnsafeMutableBufferPointer { op in
                        scratch.withUnsafeMutableBufferPointer { sp in
                            let (q0, k0, v0, o0, s0) = (qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, op.baseAddress!, sp.baseAddress!)
                            Parallel.forEach(tasks: heads, workers: workers) { head, worker in
                                let sum = s0 + worker * perWorker, part = sum + t * t, packed = part + t * t
                                for (index, m) in [q0, k0, v0].enumerated() {
                                    let cols = m + head * hd, target = index == 0 ? sum : part
                                    Attention.scores(cols, cols, inputStride: d, rows: t, keys: t, headDim: hd, scale: scale,
                                                     out: target, outputStride: t, pack: packed)
                                    for r in 0..<t { Kernels.softmaxRow(target + r * t, cols: t, valid: t) }
                                    if index > 0 { for i in 0..<(t * t) { sum[i] += part[i] } }
                                }
                                Attention.values(sum, weightStride: t, v0 + head * hd, inputStride: d, rows: t, keys: t, headDim: hd,
                                                 rowFactors: nil, out: o0 + head * hd, outputStride: d, pack: packed)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// For pixel (row, col) of a tile turned `quarterTurns` times counter-clockwise
    /// (`torch.rot90(x, k)`), the pixel of the unturned height x width tile it shows.
    static func source(row a: Int, col b: Int, quarterTurns k: Int, height h: Int, width w: Int) -> (Int, Int) {
        switch k & 3 {
        case 0: (a, b)
        case 1: (b, w - 1 - a)
        case 2: (h - 1 - a, w - 1 - b)
        default: (h - 1 - b, a)
        }
    }

    /// Steps 9-10: the padding cut off and the map turned back to the tile's orientation.
    static func unrotate(_ map: [Float], paddedWidth wp: Int, top: Int, left: Int, quarterTurns k: Int,
                         height h: Int, width w: Int, channels: Int) -> [Float] {
        let hp = map.count / channels / wp
        var out = [Float](repeating: 0, count: channels * h * w)
        for i in 0..<h {
            for j in 0..<w {
                // Where tile pixel (i, j) sits in the turned tile.
                let (a, b): (Int, Int) = switch k & 3 {
                case 0: (i, j)
                case 1: (w - 1 - j, i)
                case 2: (h - 1 - i, w - 1 - j)
                default: (j, h - 1 - i)
                }
                let src = (a + top) * wp + b + left
                for c in 0..<channels { out[(c * h + i) * w + j] = map[c * hp * wp + src] }
            }
        }
        return out
    }
}

/// Accumulated wall time of the calls it times; safe to share between tasks.
public final class Stopwatch: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0.0

    public init() {}

    public var seconds: Double { lock.lock(); defer { lock.unlock() }; return total }

    public func time<R>(_ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            lock.lock(); total += elapsed; lock.unlock()
        }
        return try body()
    }
}
