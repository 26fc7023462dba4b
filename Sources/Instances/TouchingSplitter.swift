/// Splits one object that is really several touching ones (two tanks side by side, a row of
/// houses joined by a wall): exact Euclidean distance transform of the object's mask, one marker
/// per significant maximum of the distance, and a marker-controlled watershed (priority flood)
/// restricted to the mask (docs/detect.md, "Splitting touching objects").
///
/// A maximum of the distance marks a part of its own only when it is *significant*: with peak
/// distance `r` (the radius of the largest disc of the part) and `s` the distance at the neck
/// (the saddle where its flood first meets a higher maximum, half the width of the neck),
/// `r >= minimumRadius`, `r - s >= minimumDepth` (h-maxima with h = `minimumDepth`) and
/// `s <= neckRatio * r`. The absolute depth removes the maxima of pixel staircases, the ratio
/// the maxima of shallow dents and of the corners of a ring around a hole, the radius slivers
/// of a few pixels. A disc, a rectangle, an ellipse or an L has one significant maximum and is
/// never split.
///
/// Every mask pixel ends in exactly one part (there are no watershed-line pixels), every part is
/// 8-connected, and the parts' pixel counts add up to the mask's. Memory: besides the mask,
/// about 16 bytes per pixel of its rectangle (squared distances, sort order, union-find).
public struct TouchingSplitter: Sendable {
    /// A part must hold a disc of this radius in pixels (its peak distance is at least this).
    public var minimumRadius: Double
    /// The neck of a part may be at most this fraction of the part's peak distance.
    public var neckRatio: Double
    /// A part's peak must stand at least this many pixels above its neck (the h of h-maxima).
    public var minimumDepth: Double

    public init(minimumRadius: Double = 3, neckRatio: Double = 0.75, minimumDepth: Double = 1) {
        precondition(minimumRadius > 0 && minimumDepth > 0 && neckRatio > 0 && neckRatio < 1)
        self.minimumRadius = minimumRadius; self.neckRatio = neckRatio; self.minimumDepth = minimumDepth
    }

    /// The fewest pixels an object needs to hold two parts: twice the pixels of a part's
    /// smallest core (the pixel centres closer than `minimumRadius` to the peak).
    public var smallestSplittable: Int {
        let r = Int(minimumRadius.rounded(.up))
        var core = 0
        for dy in -r...r { for dx in -r...r where Double(dx * dx + dy * dy) < minimumRadius * minimumRadius { core += 1 } }
        return 2 * core
    }

    /// The parts of the pixels where `mask` is true (row-major, `width` x `height`; everything
    /// outside the rectangle counts as background).
    /// - Returns: per pixel its part 1...`parts` (parts numbered in order of their first pixel,
    ///   row by row), 0 outside the mask; `parts` is 0 for an empty mask.
    public func split(mask: [Bool], width: Int, height: Int) -> (labels: [Int32], parts: Int) {
        precondition(width > 0 && height > 0 && mask.count == width * height)
        let d2 = Self.squaredDistances(mask: mask, width: width, height: height)
        let seeds = markers(mask: mask, squaredDistances: d2, width: width, height: height)
        var labels = Self.flood(mask: mask, squaredDistances: d2, seeds: seeds, width: width, height: height)
        // Renumber in order of first pixel.
        var renumbered = [Int32](repeating: 0, count: seeds.count + 1)
        var parts: Int32 = 0
        for i in 0..<labels.count where labels[i] > 0 {
            let l = Int(labels[i])
            if renumbered[l] == 0 { parts += 1; renumbered[l] = parts }
            labels[i] = renumbered[l]
        }
        return (labels, Int(parts))
    }

    // MARK: - Distance transform

    /// The squared Euclidean distance from each mask pixel's centre to the nearest background
    /// pixel centre (0 on background), background all around the rectangle: a column pass
    /// (two scans) and a row pass of Felzenszwalb and Huttenlocher's lower envelope of
    /// parabolas, exact in integers.
    public static func squaredDistances(mask: [Bool], width: Int, height: Int) -> [Int32] {
        precondition(mask.count == width * height)
        // Columns: distance to the nearest background pixel in the column, rows -1 and
        // `height` being background.
        var g = [Int32](repeating: 0, count: mask.count)
        for x in 0..<width {
            var run: Int32 = 0
            for y in 0..<height {
                run = mask[y * width + x] ? run + 1 : 0
                g[y * width + x] = run
            }
            run = 0
            for y in stride(from: height - 1, through: 0, by: -1) {
                run = mask[y * width + x] ? run + 1 : 0
                g[y * width + x] = min(g[y * width + x], run)
            }
        }
        // Rows: d²(x) = min over q of (x - q)² + g(q)², with background sites at -1 and `width`.
        let n = width + 2
        var f = [Double](repeating: 0, count: n)
        var v = [Int](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n + 1)
        var out = [Int32](repeating: 0, count: mask.count)
        for y in 0..<height {
            let row = y * width
            for x in 0..<width { let c = Double(g[row + x]); f[x + 1] = c * c }
            f[0] = 0; f[n - 1] = 0
            var k = 0
            v[0] = 0; z[0] = -.infinity; z[1] = .infinity
            for q in 1..<n {
                var s = intersection(f, q, v[k])
                while s <= z[k] { k -= 1; s = intersection(f, q, v[k]) }
                k += 1
                v[k] = q; z[k] = s; z[k + 1] = .infinity
            }
            k = 0
            for q in 0..<n {
                while z[k + 1] < Double(q) { k += 1 }
                if q >= 1 && q <= width {
                    let dq = q - v[k]
                    out[row + q - 1] = Int32(dq * dq + Int(f[v[k]]))
                }
            }
        }
        return out
    }

    /// Where the parabolas rooted at q and p (p < q) cross.
    private static func intersection(_ f: [Double], _ q: Int, _ p: Int) -> Double {
        ((f[q] + Double(q * q)) - (f[p] + Double(p * p))) / Double(2 * q - 2 * p)
    }

    // MARK: - Markers

    /// The peak pixel of every significant maximum: mask pixels are added in order of falling
    /// distance to a union-find of 8-connected components (each rooted at its peak); where a
    /// pixel joins components, all but the one with the highest peak end there (the elder rule)
    /// and each ending one is a marker when it is significant. Components never joined (one for
    /// a connected mask) are markers too.
    func markers(mask: [Bool], squaredDistances d2: [Int32], width: Int, height: Int) -> [Int] {
        // Order: falling distance, then raster order. Key: (max - d²) in the high bits, index below.
        var order: [UInt64] = []
        order.reserveCapacity(mask.count)
        for i in 0..<mask.count where mask[i] {
            order.append(UInt64(UInt32(Int32.max - d2[i])) << 32 | UInt64(i))
        }
        order.sort()
        var parent = [Int32](repeating: -1, count: mask.count)
        func find(_ a: Int32) -> Int32 {
            var a = a
            while parent[Int(a)] != a { parent[Int(a)] = parent[Int(parent[Int(a)])]; a = parent[Int(a)] }
            return a
        }
        // True when root a was added before root b (higher peak, or equal and earlier).
        func elder(_ a: Int32, _ b: Int32) -> Bool { d2[Int(a)] > d2[Int(b)] || (d2[Int(a)] == d2[Int(b)] && a < b) }
        var seeds: [Int] = []
        for key in order {
            let p = Int(key & 0xffff_ffff)
            let saddle = Double(d2[p]).squareRoot()
            var root: Int32 = -1  // p's component so far
            Self.forEachNeighbour(of: p, width: width, height: height) { q in
                guard parent[q] >= 0 else { return }
                let rq = find(Int32(q))
                if root < 0 { root = rq; return }  // p joins its first neighbour's component
                guard rq != root else { return }
                let (old, young) = elder(root, rq) ? (root, rq) : (rq, root)
                let peak = Double(d2[Int(young)]).squareRoot()
                if peak >= minimumRadius && peak - saddle >= minimumDepth && saddle <= neckRatio * peak {
                    seeds.append(Int(young))
                }
                parent[Int(young)] = old
                root = old
            }
            parent[p] = root < 0 ? Int32(p) : root
        }
        for key in order {
            let p = Int(key & 0xffff_ffff)
            if parent[p] == Int32(p) { seeds.append(p) }
        }
        return seeds
    }

    // MARK: - Watershed

    /// Priority flood from the seeds: the mask pixel of highest distance next to a labelled one
    /// is taken first (equal distances first come, first served) and gives its label to its
    /// unlabelled 8-neighbours in the mask. Every mask pixel connected to a seed is labelled.
    static func flood(mask: [Bool], squaredDistances d2: [Int32], seeds: [Int], width: Int, height: Int) -> [Int32] {
        var labels = [Int32](repeating: 0, count: mask.count)
        var heap = FloodQueue()
        for (k, s) in seeds.enumerated() {
            labels[s] = Int32(k + 1)
            heap.push(pixel: s, squaredDistance: d2[s])
        }
        while let p = heap.pop() {
            forEachNeighbour(of: p, width: width, height: height) { q in
                guard mask[q] && labels[q] == 0 else { return }
                labels[q] = labels[p]
                heap.push(pixel: q, squaredDistance: d2[q])
            }
        }
        return labels
    }

    /// Calls `body` with the index of each 8-neighbour of pixel `p` inside the rectangle.
    @inline(__always)
    static func forEachNeighbour(of p: Int, width: Int, height: Int, _ body: (Int) -> Void) {
        let x = p % width, y = p / width
        for ny in max(0, y - 1)...min(height - 1, y + 1) {
            for nx in max(0, x - 1)...min(width - 1, x + 1) where nx != x || ny != y {
                body(ny * width + nx)
            }
        }
    }
}

/// A binary min-heap of pixels keyed by falling squared distance, then by push order.
struct FloodQueue {
    private var keys: [UInt64] = []
    private var pixels: [Int32] = []
    private var pushed: UInt64 = 0

    mutating func push(pixel: Int, squaredDistance: Int32) {
        keys.append(UInt64(UInt32(Int32.max - squaredDistance)) << 32 | (pushed & 0xffff_ffff))
        pixels.append(Int32(pixel))
        pushed += 1
        var i = keys.count - 1
        while i > 0 {
            let up = (i - 1) / 2
            guard keys[i] < keys[up] else { break }
            keys.swapAt(i, up); pixels.swapAt(i, up)
            i = up
        }
    }

    mutating func pop() -> Int? {
        guard let top = pixels.first else { return nil }
        keys.swapAt(0, keys.count - 1); pixels.swapAt(0, pixels.count - 1)
        keys.removeLast(); pixels.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < keys.count && keys[l] < keys[smallest] { smallest = l }
            if r < keys.count && keys[r] < keys[smallest] { smallest = r }
            guard smallest != i else { break }
            keys.swapAt(i, smallest); pixels.swapAt(i, smallest)
            i = smallest
        }
        return Int(top)
    }
}
