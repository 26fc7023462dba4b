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
    /// METHOD.md section 10: the `dec` channels and the exemplar cache, when on.
    public let channels: ChannelSelection?
    public let cache: ExemplarCache?
    /// Seconds spent in the vision tower (layers 1 .. L-1), summed over every call.
    public let encoderClock = Stopwatch()
    /// Seconds spent in the head (the modified last layer, projection and query logits), summed.
    public let headClock = Stopwatch()
    let head: PatchLogitHead
    private let workspace = Exclusive(Workspace())

    public static let mean = CLIPImageInput.mean
    public static let std = CLIPImageInput.std

    /// - Parameters:
    ///   - channels: `dec`'s channels (METHOD.md 10), nil for the reference configuration.
    ///   - cache: exemplar keys (from `exemplarKeys` of a segmenter with the same `channels`);
    ///     `queryClass` then gives the class of each query.
    public init(model: CLIPModel, queries: Tensor, rotations: [Int], clsLambda: Float, threads: Int? = nil,
                channels: ChannelSelection? = nil, cache: ExemplarCache? = nil, queryClass: [Int] = []) {
        precondition(!rotations.isEmpty && rotations.allSatisfy { $0 % 90 == 0 })
        self.model = model; self.queries = queries; self.rotations = rotations; self.clsLambda = clsLambda; self.threads = threads
        self.channels = channels; self.cache = cache
        head = PatchLogitHead(model: model, queries: queries, clsLambda: clsLambda, channels: channels, cache: cache, queryClass: queryClass)
    }

    /// The same segmenter with an exemplar cache.
    public func with(cache: ExemplarCache, queryClass: [Int]) -> DenseCLIPSegmenter {
        DenseCLIPSegmenter(model: model, queries: queries, rotations: rotations, clsLambda: clsLambda, threads: threads,
                           channels: channels, cache: cache, queryClass: queryClass)
    }

    /// Buffers reused from tile to tile: the head's lanes, the workers' attention scratch, and
    /// the patch logits of every rotation of the tile, also interpolated along the grid rows.
    final class Workspace {
        var lanes: [PatchLogitHead.Lane] = []
        var scratch: [ScratchBuffer] = []
        let grids = ScratchBuffer()
        let interpolated = ScratchBuffer() // every rotation's logits interpolated along the grid rows
    }

    public var channelCount: Int { queries.shape[0] }
    public var encoderRunsPerTile: Int { rotations.count }

    public func segment(_ image: TileImage) async throws -> [Float] {
        try logits(image)
    }

    /// The rotation-ensembled logit map of one tile, query-major [K, H, W]: the mean over
    /// `rotations` of each rotation's map.
    public func logits(_ image: TileImage) throws -> [Float] {
        try ensemble(image, rotations: rotations, divisor: Float(rotations.count))
    }

    /// One map per rotation, before the ensemble mean, each [K, H, W] in the tile's orientation.
    func rotatedLogits(_ image: TileImage, rotations batch: [Int]) throws -> [[Float]] {
        try batch.map { try ensemble(image, rotations: [$0], divisor: 1) }
    }

    /// Section 3 for every rotation in `list`, the maps summed in the order the rotations run and
    /// divided by `divisor`: rotations that give the same input shape run as one batch through
    /// the vision tower, then the head (one image per worker when there are enough images,
    /// otherwise one image at a time with the workers sharing its attention), then the
    /// upsampling, cropping and turning back of every rotation in one pass over the output rows.
    func ensemble(_ image: TileImage, rotations list: [Int], divisor: Float) throws -> [Float] {
        let (h, w, k) = (image.tile.height, image.tile.width, channelCount)
        let workers = max(1, threads ?? defaultThreads())
        let groups = Dictionary(grouping: list) { r in (r / 90) % 2 == 0 ? 0 : 1 }
        let batches = groups.keys.sorted().map { groups[$0]! }
        let placed = batches.joined().map { Placement(image: image, quarterTurns: $0 / 90, patchSize: model.vision.config.patchSize) }
        let gridCount = placed[0].gridCount * k                      // the same for every rotation
        return try workspace.with { ws in
            ws.grids.reserve(placed.count * gridCount)
            var first = 0                                            // the batch's first rotation in `placed`
            for batch in batches {
                defer { first += batch.count }
                let pixels = input(image, placements: placed[first..<(first + batch.count)], workers: workers)
                let hidden = try encoderClock.time { try model.vision.hiddenStateBeforeLastLayer(pixels: pixels, threads: threads) }
                headClock.time { runHead(hidden: hidden, into: first, of: placed.count, workspace: ws, workers: workers) }
            }
            let interpolatedCount = placed[0].rowInterpolationCount(channels: k)
            ws.interpolated.reserve(placed.count * interpolatedCount)
            let (grids, interpolated) = (UnsafePointer(ws.grids.pointer), ws.interpolated.pointer)
            Parallel.forEach(tasks: placed.count, workers: workers) { index, _ in
                placed[index].interpolateAlongRows(grids + index * gridCount, channels: k,
                                                   into: interpolated + index * interpolatedCount)
            }
            return [Float](unsafeUninitializedCapacity: k * h * w) { out, count in
                let o = out.baseAddress!
                let chunks = min(h, 4 * workers)
                Parallel.forEach(tasks: chunks, workers: workers) { chunk, _ in
                    let rows = Parallel.share(h, worker: chunk, of: chunks)
                    for (index, placement) in placed.enumerated() {
                        placement.upsample(alongRows: interpolated + index * interpolatedCount, channels: k, rows: rows, into: o,
                                           accumulate: index > 0, divisor: index == placed.count - 1 ? divisor : nil)
                    }
                }
                count = k * h * w
            }
        }
    }

    /// The head for every image of `hidden` [B, T, D], patch logits into `ws.grids` from slot `first`
    /// on (of `slots`): one image per worker when there are at least as many images as workers,
    /// otherwise one image at a time with the workers sharing its row chunks and attention; BLAS
    /// single-threaded either way, so both give the same bytes (`PatchLogitHead.logits`).
    private func runHead(hidden: Tensor, into first: Int, of slots: Int, workspace ws: Workspace, workers: Int) {
        let (b, t, d) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
        let gridCount = (t - 1) * channelCount
        let outer = b >= workers ? workers : 1
        while ws.lanes.count < outer { ws.lanes.append(PatchLogitHead.Lane()) }
        while ws.scratch.count < workers { ws.scratch.append(ScratchBuffer()) }
        for lane in ws.lanes.prefix(outer) { head.reserve(lane, tokens: t) }
        for buffer in ws.scratch.prefix(workers) { buffer.reserve(head.scratchCount(tokens: t)) }
        precondition(ws.grids.capacity >= slots * gridCount && first + b <= slots)
        let (lanes, scratch, grids) = (ws.lanes, ws.scratch.prefix(workers).map(\.pointer), ws.grids.pointer)
        hidden.storage.withUnsafeBufferPointer { x in
            let x0 = x.baseAddress!
            BLAS.withThreads(1) {
                if outer > 1 {
                    Parallel.forEach(tasks: b, workers: workers) { image, worker in
                        head.logits(lastLayerInput: x0 + image * t * d, tokens: t, lane: lanes[worker],
                                    scratch: [scratch[worker]], out: grids + (first + image) * gridCount)
                    }
                } else {
                    for image in 0..<b {
                        head.logits(lastLayerInput: x0 + image * t * d, tokens: t, lane: lanes[0],
                                    scratch: scratch, out: grids + (first + image) * gridCount)
                    }
                }
            }
        }
    }

    /// Steps 1-4 of section 3 for rotations that share an input shape: the tile turned, padded
    /// to whole patches (centred), normalised with CLIP's mean and std, nodata pixels 0.
    /// [B, 3, Hp, Wp].
    func input(_ image: TileImage, placements: ArraySlice<Placement>, workers: Int) -> Tensor {
        let batch = Array(placements), shape = batch[0]
        let (h, w) = (image.tile.height, image.tile.width)
        let (hr, wr, hp, wp) = (shape.turnedHeight, shape.turnedWidth, shape.paddedHeight, shape.paddedWidth)
        let (top, left) = (shape.top, shape.left)
        var pixels = Tensor(shape: [batch.count, 3, hp, wp])
        image.pixels.withUnsafeBufferPointer { src in
            image.valid.withUnsafeBufferPointer { valid in
                pixels.storage.withUnsafeMutableBufferPointer { out in
                    let (s, v, o) = (src.baseAddress!, valid.baseAddress!, out.baseAddress!)
                    Parallel.forEach(tasks: batch.count * 3, workers: workers) { task, _ in
                        let (placement, c) = (batch[task / 3], task % 3)
                        let plane = o + task * hp * wp, (mean, std) = (Self.mean[c], Self.std[c])
                        for a in 0..<hr {
                            for x in 0..<wr {
                                let (sy, sx) = placement.source(row: a, col: x)
                                let i = sy * w + sx
                                plane[(a + top) * wp + x + left] = v[i] == 0 ? 0 : (s[c * h * w + i] / 255 - mean) / std
                            }
                        }
                    }
                }
            }
        }
        return pixels
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
