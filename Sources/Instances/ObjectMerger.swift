import Foundation
public import Tiling

/// An object on the scene grid after merging (docs/detect.md "Objects from SAM 3"): the union of
/// the masks of its parts, the highest of their scores.
public struct SceneObject: Sendable, Equatable {
    public var classIndex: Int
    public var score: Float
    public var col: Int, row: Int, width: Int, height: Int
    /// Row-major over the box, true inside the object.
    public var mask: [Bool]
    /// How many tile objects were merged into it.
    public var parts: Int

    /// Its first pixel in raster order, as row x `sceneWidth` + column.
    public func firstPixel(sceneWidth: Int) -> Int {
        guard let i = mask.firstIndex(of: true) else { return Int.max }
        return (row + i / width) * sceneWidth + col + i % width
    }
}

/// SAM 3's objects of every tile, made into scene objects (docs/METHOD.md section 9):
/// - within a tile, objects of one class whose masks overlap by IoU >= `duplicateIoU` are kept
///   once (the highest score; the rotations of one tile count as one tile);
/// - across tiles, objects of one class from two overlapping tiles are one object when, inside
///   the two tiles' shared area, their masks overlap by intersection over the smaller of the two
///   (each counted inside that area) >= `mergeOverlap`; merging is transitive (an object across
///   the corner of four tiles is one), the result is the union of the masks with the maximum score.
/// Two objects that only touch share no pixel and stay two. Thread-safe: tiles may be added
/// from any task.
public final class ObjectMerger: TileObjectSink, @unchecked Sendable {
    public let duplicateIoU: Double
    public let mergeOverlap: Double
    private let lock = NSLock()
    private var kept: [TileObject] = []

    public init(duplicateIoU: Double = 0.5, mergeOverlap: Double = 0.5) {
        self.duplicateIoU = duplicateIoU; self.mergeOverlap = mergeOverlap
    }

    /// Objects kept so far (after the within-tile rule), in the order added.
    public var tileObjects: [TileObject] { lock.lock(); defer { lock.unlock() }; return kept }

    public func add(_ objects: [TileObject], tile: Tile) {
        var unique: [TileObject] = []
        for o in objects.sorted(by: { $0.score > $1.score }) {
            let duplicate = unique.contains { u in
                u.classIndex == o.classIndex && Self.iou(u, o) >= duplicateIoU
            }
            if !duplicate { unique.append(o) }
        }
        lock.lock(); kept += unique; lock.unlock()
    }

    /// Adds objects kept before (after the within-tile rule), in their order: the objects of a
    /// sharded run's shards, replayed by the merge as one run added them.
    public func restore(_ objects: [TileObject]) {
        lock.lock(); kept += objects; lock.unlock()
    }

    /// The scene objects, ordered by first pixel.
    public func finish(sceneWidth: Int) -> [SceneObject] {
        let objects = tileObjects
        var parent = Array(objects.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for a in objects.indices {
            for b in (a + 1)..<objects.count {
                let (p, q) = (objects[a], objects[b])
                guard p.classIndex == q.classIndex, p.tile != q.tile, boxesMeet(p, q),
                      let shared = Self.intersection(p.tile, q.tile) else { continue }
                if Self.overlapOverSmaller(p, q, inside: shared) >= mergeOverlap {
                    let (ra, rb) = (root(a), root(b))
                    if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
                }
            }
        }
        var groups: [Int: [Int]] = [:]
        for i in objects.indices { groups[root(i), default: []].append(i) }
        let merged = groups.values.map { members in Self.union(members.map { objects[$0] }) }
        return merged.sorted { ($0.firstPixel(sceneWidth: sceneWidth), $0.classIndex) < ($1.firstPixel(sceneWidth: sceneWidth), $1.classIndex) }
    }

    private func boxesMeet(_ a: TileObject, _ b: TileObject) -> Bool {
        a.col < b.col + b.width && b.col < a.col + a.width && a.row < b.row + b.height && b.row < a.row + a.height
    }

    /// The scene window two tiles share, nil when they do not overlap.
    static func intersection(_ a: Tile, _ b: Tile) -> Rect? {
        clip((a.col, a.row, a.width, a.height), (b.col, b.row, b.width, b.height))
    }

    typealias Rect = (col: Int, row: Int, width: Int, height: Int)

    /// The overlap of two rectangles, nil when empty.
    static func clip(_ a: Rect, _ b: Rect) -> Rect? {
        let x0 = max(a.col, b.col), x1 = min(a.col + a.width, b.col + b.width)
        let y0 = max(a.row, b.row), y1 = min(a.row + a.height, b.row + b.height)
        return x1 > x0 && y1 > y0 ? (x0, y0, x1 - x0, y1 - y0) : nil
    }

    static func box(_ o: TileObject) -> Rect { (o.col, o.row, o.width, o.height) }

    /// Pixels of `a` (and of `b` too, when given) inside `area`; only the boxes' overlap is read.
    static func count(_ a: TileObject, and b: TileObject? = nil, inside area: Rect) -> Int {
        guard var r = clip(box(a), area) else { return 0 }
        if let b { guard let both = clip(r, box(b)) else { return 0 }; r = both }
        var n = 0
        for y in r.row..<(r.row + r.height) {
            let rowA = (y - a.row) * a.width - a.col
            if let b {
                let rowB = (y - b.row) * b.width - b.col
                for x in r.col..<(r.col + r.width) where a.mask[rowA + x] && b.mask[rowB + x] { n += 1 }
            } else {
                for x in r.col..<(r.col + r.width) where a.mask[rowA + x] { n += 1 }
            }
        }
        return n
    }

    /// Intersection over union of two masks.
    static func iou(_ a: TileObject, _ b: TileObject) -> Double {
        let whole = box(a)
        let both = count(a, and: b, inside: whole)
        guard both > 0 else { return 0 }
        return Double(both) / Double(a.pixelCount + b.pixelCount - both)
    }

    /// Inside `area`: pixels in both masks over the smaller of the masks' pixel counts there
    /// (0 when either has none there).
    static func overlapOverSmaller(_ a: TileObject, _ b: TileObject, inside area: Rect) -> Double {
        let both = count(a, and: b, inside: area)
        guard both > 0 else { return 0 }
        let smaller = min(count(a, inside: area), count(b, inside: area))
        return smaller == 0 ? 0 : Double(both) / Double(smaller)
    }

    static func union(_ parts: [TileObject]) -> SceneObject {
        let x0 = parts.map(\.col).min()!, y0 = parts.map(\.row).min()!
        let x1 = parts.map { $0.col + $0.width }.max()!, y1 = parts.map { $0.row + $0.height }.max()!
        let (w, h) = (x1 - x0, y1 - y0)
        var mask = [Bool](repeating: false, count: w * h)
        for p in parts {
            for y in 0..<p.height {
                for x in 0..<p.width where p.mask[y * p.width + x] { mask[(p.row + y - y0) * w + p.col + x - x0] = true }
            }
        }
        return SceneObject(classIndex: parts[0].classIndex, score: parts.map(\.score).max()!, col: x0, row: y0, width: w, height: h,
                           mask: mask, parts: parts.count)
    }
}
