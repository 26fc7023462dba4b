import CLIP
import Foundation
public import Tensor
public import Tiling

/// docs/METHOD.md section 10, `dec` (ZoRI's discrimination-enhanced classifier): the embedding
/// channels that tell the text queries apart. Every vector that enters a cosine is cut to
/// `channels` and normalised again.
public struct ChannelSelection: Sendable, Equatable {
    /// ZoRI's 300 of 768 channels.
    public static let defaultKeep = 0.390625

    /// The kept channels, ascending.
    public let channels: [Int]
    /// The embedding width they are taken from.
    public let dimension: Int

    /// Per channel d of the unit query rows Q [K, D] (K >= 2): -0.7 x the mean over ordered
    /// pairs k != l of Q[k,d] Q[l,d] + 0.3 x the unbiased variance of Q[:,d]. In Float64.
    public static func scores(queries: Tensor) -> [Double] {
        let (k, d) = (queries.shape[0], queries.shape[1])
        precondition(k >= 2, "channel scores need at least two queries")
        let q = queries.storage
        return (0..<d).map { c in
            var sum = 0.0, squares = 0.0
            for r in 0..<k { let v = Double(q[r * d + c]); sum += v; squares += v * v }
            let pairs = (sum * sum - squares) / Double(k * (k - 1))       // sum over k != l of Q[k]Q[l]
            let mean = sum / Double(k)
            var spread = 0.0
            for r in 0..<k { let v = Double(q[r * d + c]) - mean; spread += v * v }
            return -0.7 * pairs + 0.3 * spread / Double(k - 1)
        }
    }

    /// The number of channels kept of `dimension` for the fraction `keep`: round(keep x D),
    /// halves away from zero, at least 1.
    public static func count(keep: Double, dimension: Int) -> Int {
        max(1, min(dimension, Int((keep * Double(dimension)).rounded())))
    }

    /// The round(keep x D) channels of highest score (ties to the lower index).
    public init(queries: Tensor, keep: Double) {
        let s = Self.scores(queries: queries)
        let n = Self.count(keep: keep, dimension: s.count)
        let order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        self.init(channels: order.prefix(n).sorted(), dimension: s.count)
    }

    public init(channels: [Int], dimension: Int) {
        precondition(!channels.isEmpty && channels.allSatisfy { (0..<dimension).contains($0) })
        self.channels = channels; self.dimension = dimension
    }

    /// Rows [R, D] cut to the channels and normalised again: [R, n].
    public func cut(_ rows: Tensor) -> Tensor {
        let r = rows.shape[0], n = channels.count
        var out = [Float](repeating: 0, count: r * n)
        for i in 0..<r {
            for (j, c) in channels.enumerated() { out[i * n + j] = rows.storage[i * dimension + c] }
            normalize(&out[(i * n)..<((i + 1) * n)])
        }
        return Tensor(shape: [r, n], storage: out)
    }

    /// `rows` rows of `dimension` floats at `x`, each cut to the channels in place (row i then
    /// starts at x + i * n) and normalised again.
    func cut(inPlace x: UnsafeMutablePointer<Float>, rows: Int) {
        let n = channels.count
        for i in 0..<rows {                      // writes never overtake reads: channels[j] >= j
            let (src, dst) = (x + i * dimension, x + i * n)
            for (j, c) in channels.enumerated() { dst[j] = src[c] }
            Self.normalizeRow(dst, count: n)
        }
    }

    static func normalizeRow(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var norm: Float = 0
        for c in 0..<count { norm += row[c] * row[c] }
        norm = norm.squareRoot()
        if norm > 0 { for c in 0..<count { row[c] /= norm } }
    }

    private func normalize(_ v: inout ArraySlice<Float>) {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { for i in v.indices { v[i] /= norm } }
    }
}

/// docs/METHOD.md section 10, `exemplars` (ZoRI's prototype cache bank from a user's polygons):
/// unit keys, one per exemplar, each with the class it stands for. At step 3.7 every patch
/// token's softmax over the exemplars of its cosines, summed per class and times `weight`, is
/// added to every query of that class.
public struct ExemplarCache: Sendable {
    /// Unit keys [E, n] (n: the kept channels under `dec`, else the embedding width).
    public let keys: Tensor
    /// The vocabulary class of each key.
    public let classes: [Int]
    public let weight: Float

    public init(keys: Tensor, classes: [Int], weight: Float) {
        precondition(keys.shape[0] == classes.count && !classes.isEmpty)
        self.keys = keys; self.classes = classes; self.weight = weight
    }

    /// Floats of scratch per image: [T, E] cosines and one class row.
    func scratchCount(tokens: Int, classCount: Int) -> Int { tokens * classes.count + classCount }

    /// Adds the cache logits to `out` [T - 1, K] for the unit tokens `unit` [T, n] (token 0 the
    /// class token, skipped). `queryClass[k]`: the class of query k.
    func add(unit: UnsafePointer<Float>, tokens t: Int, queryClass: [Int], scratch: UnsafeMutablePointer<Float>,
             out: UnsafeMutablePointer<Float>) {
        let (e, n, kq) = (classes.count, keys.shape[1], queryClass.count)
        let classCount = (queryClass.max() ?? -1) + 1
        let similarity = scratch, cache = scratch + t * e
        keys.storage.withUnsafeBufferPointer { k in
            BLAS.gemm(transposeB: true, m: t - 1, n: e, k: n, a: unit + n, lda: n, b: k.baseAddress!, ldb: n, c: similarity, ldc: e)
        }
        for i in 0..<(t - 1) {
            let row = similarity + i * e
            Kernels.softmaxRow(row, cols: e, valid: e)
            for c in 0..<classCount { cache[c] = 0 }
            for j in 0..<e where classes[j] < classCount { cache[classes[j]] += row[j] }
            for c in 0..<kq { out[i * kq + c] += weight * cache[queryClass[c]] }
        }
    }
}

/// One exemplar as the segmenter sees it: the window to encode (rotation 0), which scene pixels
/// the polygon covers, and the fallback point.
public struct ExemplarWindow: Sendable {
    /// The window's pixels (its `tile` gives the window's place in the scene).
    public let image: TileImage
    /// The vocabulary class the exemplar stands for.
    public let classIndex: Int
    /// Whether the pixel at window-local (x, y) (either may be outside the window) is marked
    /// inside the polygon by the rasterizer's pixel-centre rule.
    public let isInside: @Sendable (Int, Int) -> Bool
    /// The polygon's point-on-surface, window-local pixel coordinates.
    public let pointOnSurface: (x: Double, y: Double)

    public init(image: TileImage, classIndex: Int, pointOnSurface: (x: Double, y: Double), isInside: @escaping @Sendable (Int, Int) -> Bool) {
        self.image = image; self.classIndex = classIndex; self.pointOnSurface = pointOnSurface; self.isInside = isInside
    }
}

extension DenseCLIPSegmenter {
    /// The key of every exemplar (METHOD.md 10.1): each distinct window encoded once at rotation
    /// 0, the mean of the unit patch tokens (cut to the `dec` channels when on) whose cell centre
    /// lies in a pixel inside the polygon, or the cell of the point-on-surface (clamped to the
    /// grid) when none does; normalised. Returns the keys [E, n] and, per exemplar, the cells used
    /// (row-major grid indices) and whether it fell back to the point-on-surface.
    public func exemplarKeys(_ exemplars: [ExemplarWindow]) throws -> (keys: Tensor, cells: [[Int]], fallback: [Bool]) {
        let p = model.vision.config.patchSize
        var tokens: [Tile: (unit: [Float], placement: Placement)] = [:]
        var rows = [Float](), cells = [[Int]](), fallback = [Bool]()
        var width = 0
        for ex in exemplars {
            let tile = ex.image.tile
            if tokens[tile] == nil {
                let placement = Placement(image: ex.image, quarterTurns: 0, patchSize: p)
                tokens[tile] = (try unitPatchTokens(ex.image, placement: placement), placement)
            }
            let (unit, pl) = tokens[tile]!
            width = unit.count / pl.gridCount
            var chosen = [Int]()
            for a in 0..<pl.gridHeight {
                for b in 0..<pl.gridWidth {
                    // The cell centre in window pixels; it lies in pixel (floor x, floor y).
                    let x = Double(b * p - pl.left) + Double(p) / 2, y = Double(a * p - pl.top) + Double(p) / 2
                    if ex.isInside(Int(x.rounded(.down)), Int(y.rounded(.down))) { chosen.append(a * pl.gridWidth + b) }
                }
            }
            fallback.append(chosen.isEmpty)
            if chosen.isEmpty {
                func cell(_ v: Double, _ count: Int) -> Int {   // clamped as a Double: safe for any point
                    v.isNaN ? 0 : Int(min(max((v / Double(p)).rounded(.down), 0), Double(count - 1)))
                }
                chosen = [cell(ex.pointOnSurface.y + Double(pl.top), pl.gridHeight) * pl.gridWidth
                          + cell(ex.pointOnSurface.x + Double(pl.left), pl.gridWidth)]
            }
            var mean = [Float](repeating: 0, count: width)
            for cell in chosen { for c in 0..<width { mean[c] += unit[cell * width + c] } }
            for c in 0..<width { mean[c] /= Float(chosen.count) }
            mean.withUnsafeMutableBufferPointer { ChannelSelection.normalizeRow($0.baseAddress!, count: width) }
            rows += mean
            cells.append(chosen)
        }
        return (Tensor(shape: [exemplars.count, width], storage: rows), cells, fallback)
    }

    /// Steps 1-7 of section 3 at rotation 0 up to the unit patch tokens (cut to the `dec`
    /// channels when on): [gridCount, n], row-major over the grid.
    func unitPatchTokens(_ image: TileImage, placement: Placement) throws -> [Float] {
        let workers = max(1, threads ?? defaultThreads())
        let pixels = input(image, placements: [placement][...], workers: workers)
        let hidden = try encoderClock.time { try model.vision.hiddenStateBeforeLastLayer(pixels: pixels, threads: threads) }
        let (t, d) = (hidden.shape[1], hidden.shape[2])
        let lane = PatchLogitHead.Lane()
        head.reserve(lane, tokens: t)
        let scratch = (0..<workers).map { _ in ScratchBuffer() }
        for s in scratch { s.reserve(head.scratchCount(tokens: t)) }
        let n = head.width
        return BLAS.withThreads(1) {  // workers share the row chunks: the same keys on any thread count
            hidden.storage.withUnsafeBufferPointer { x in
                head.unitTokens(lastLayerInput: x.baseAddress!, tokens: t, lane: lane, scratch: scratch.map(\.pointer))
                return Array(UnsafeBufferPointer(start: lane.unit.pointer + n, count: (t - 1) * n))
            }
        }
    }
}
