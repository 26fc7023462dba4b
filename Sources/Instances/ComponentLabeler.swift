import Tiling
/// What one object (connected component) is made of.
public struct ComponentStats: Sendable, Equatable {
    /// The class index of its pixels.
    public var classIndex: Int
    /// How many pixels it has.
    public var pixels: Int
    /// The sum over its pixels of the winning class's probability (0 without probabilities).
    public var probabilitySum: Double
    /// The smallest rectangle that holds its pixels.
    public var box: PixelBox = .empty
    /// Its first pixel in raster order (the leftmost of its top row), as row x width + column.
    public var firstPixel: Int = -1
}

/// A rectangle of pixels, bounds included: columns `minX...maxX`, rows `minY...maxY`.
public struct PixelBox: Sendable, Equatable {
    public var minX: Int, minY: Int, maxX: Int, maxY: Int

    public init(minX: Int, minY: Int, maxX: Int, maxY: Int) {
        self.minX = minX; self.minY = minY; self.maxX = maxX; self.maxY = maxY
    }

    /// Holds no pixel; grows by `include`.
    public static let empty = PixelBox(minX: .max, minY: .max, maxX: .min, maxY: .min)

    public var width: Int { maxX - minX + 1 }
    public var height: Int { maxY - minY + 1 }

    mutating func include(x: Int, y: Int) {
        minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
    }

    mutating func include(_ other: PixelBox) {
        minX = min(minX, other.minX); maxX = max(maxX, other.maxX); minY = min(minY, other.minY); maxY = max(maxY, other.maxY)
    }
}

/// Labels 8-connected components of equal instance class in a class map that arrives in strips
/// of whole rows, top to bottom, in memory proportional to the width (plus a few numbers per
/// object), never to the height.
///
/// Pass 1 (`add`): each strip is labelled on its own (raster scan, union-find over provisional
/// labels, compacted to strip components in order of first pixel); each strip component becomes
/// a global element, and elements that touch across the strip boundary (the previous strip's
/// last row, 8-connectivity, same class) are united in a global union-find. Per element the
/// pixel count, probability sum, bounding box and first pixel are accumulated.
/// `finish()` resolves elements to objects numbered 1, 2, ... in order of their first pixel.
/// Pass 2 (`relabel`): the same strips, in the same order, are labelled again (deterministically
/// the same strip components) and mapped to their object ids.
public final class ComponentLabeler {
    public let width: Int
    private let isInstance: [Bool]

    // Per strip, sized by width x strip rows and reused.
    private var labels: [Int32] = []
    private var localParent: [Int32] = []
    private var localToComponent: [Int32] = []
    // The previous strip's last row: global element (-1 none) and class of each pixel.
    private var previousRow: [Int32]
    private var previousClass: [UInt8]

    // Per element (strip component): global union-find and statistics.
    private var parent: [Int32] = []
    private var elementStats: [ComponentStats] = []
    private var stripBases: [Int] = []
    private var nextRow = 0

    // After finish().
    private var objectOfElement: [UInt32] = []
    private var relabelStrip = 0
    /// The objects, object id i at index i - 1 (after `finish()`).
    public private(set) var objects: [ComponentStats] = []

    /// - Parameter instanceClasses: the class indexes (0...254) whose pixels form objects.
    public init(width: Int, instanceClasses: Set<Int>) {
        precondition(width > 0)
        self.width = width
        var flags = [Bool](repeating: false, count: 256)
        for c in instanceClasses where c >= 0 && c < ClassMap.maxClasses { flags[c] = true }
        isInstance = flags
        previousRow = [Int32](repeating: -1, count: width)
        previousClass = [UInt8](repeating: ClassMap.nodata, count: width)
    }

    /// Capacities of the buffers held between strips (elements, not bytes), for checks that
    /// memory follows the strip size and not the scene height.
    public var stripBufferCapacities: [Int] {
        [labels.capacity, localParent.capacity, localToComponent.capacity, previousRow.capacity, previousClass.capacity]
    }

    /// How many strip components (global elements) pass 1 has seen.
    public var elementCount: Int { parent.count }

    /// Pass 1: the next strip of whole rows (row-major class indexes) and, optionally, each
    /// pixel's winning-class probability.
    public func add(strip classes: [UInt8], winning: [Float]? = nil) {
        precondition(objects.isEmpty && objectOfElement.isEmpty, "add() after finish()")
        precondition(classes.count % width == 0 && (winning == nil || winning!.count == classes.count))
        let rows = classes.count / width
        let count = labelStrip(classes, rows: rows)
        let base = parent.count
        stripBases.append(base)
        parent.append(contentsOf: (base..<base + count).map { Int32($0) })
        elementStats.append(contentsOf: repeatElement(ComponentStats(classIndex: 0, pixels: 0, probabilitySum: 0), count: count))
        for y in 0..<rows {
            for x in 0..<width where labels[y * width + x] > 0 {
                let i = y * width + x
                let e = base + Int(labels[i]) - 1
                if elementStats[e].pixels == 0 { elementStats[e].firstPixel = (nextRow + y) * width + x }
                elementStats[e].classIndex = Int(classes[i])
                elementStats[e].pixels += 1
                elementStats[e].box.include(x: x, y: nextRow + y)
                if let winning { elementStats[e].probabilitySum += Double(winning[i]) }
            }
        }
        if nextRow > 0 {
            for x in 0..<width where labels[x] > 0 {
                let e = Int32(base) + labels[x] - 1
                for px in max(0, x - 1)...min(width - 1, x + 1) where previousRow[px] >= 0 && previousClass[px] == classes[x] {
                    unite(e, previousRow[px])
                }
            }
        }
        let last = (rows - 1) * width
        for x in 0..<width {
            previousRow[x] = labels[last + x] > 0 ? Int32(base) + labels[last + x] - 1 : -1
            previousClass[x] = classes[last + x]
        }
        nextRow += rows
    }

    /// Resolves elements into objects (ids 1, 2, ... in order of first pixel) with summed stats.
    /// An object's root is its earliest element, which holds its first pixel.
    public func finish() {
        objectOfElement = [UInt32](repeating: 0, count: parent.count)
        objects = []
        for e in 0..<parent.count {
            let root = Int(find(Int32(e)))
            if root == e {
                objects.append(elementStats[e])
                objectOfElement[e] = UInt32(objects.count)
            } else {
                let id = objectOfElement[root]
                objectOfElement[e] = id
                objects[Int(id) - 1].pixels += elementStats[e].pixels
                objects[Int(id) - 1].probabilitySum += elementStats[e].probabilitySum
                objects[Int(id) - 1].box.include(elementStats[e].box)
            }
        }
        elementStats = []
        parent = []
    }

    /// Pass 2: the object id (0 for none) of every pixel of the next strip; the strips must be
    /// the same, in the same order, as in pass 1.
    public func relabel(strip classes: [UInt8]) -> [UInt32] {
        precondition(relabelStrip < stripBases.count, "relabel() before finish() or past the last strip")
        _ = labelStrip(classes, rows: classes.count / width)
        let base = stripBases[relabelStrip]
        relabelStrip += 1
        var out = [UInt32](repeating: 0, count: classes.count)
        for i in 0..<classes.count where labels[i] > 0 {
            out[i] = objectOfElement[base + Int(labels[i]) - 1]
        }
        return out
    }

    // MARK: - Strip labelling

    /// Labels one strip into `labels` (1...n strip components, 0 none); returns n.
    private func labelStrip(_ classes: [UInt8], rows: Int) -> Int {
        let n = rows * width
        if labels.count < n {
            // At most one provisional label per pixel: reserve once, never grow by doubling.
            labels = [Int32](repeating: 0, count: n)
            localParent.reserveCapacity(n + 1)
            localToComponent.reserveCapacity(n + 1)
        }
        localParent.removeAll(keepingCapacity: true)
        localParent.append(0)
        for y in 0..<rows {
            for x in 0..<width {
                let i = y * width + x
                let c = classes[i]
                guard isInstance[Int(c)] else { labels[i] = 0; continue }
                var l: Int32 = 0
                if x > 0, classes[i - 1] == c { l = labels[i - 1] }
                if y > 0 {
                    let up = i - width
                    for j in max(up - 1, up - x)...min(up + 1, up - x + width - 1) where classes[j] == c {
                        l = l == 0 ? labels[j] : localUnite(l, labels[j])
                    }
                }
                if l == 0 {
                    l = Int32(localParent.count)
                    localParent.append(l)
                }
                labels[i] = l
            }
        }
        localToComponent.removeAll(keepingCapacity: true)
        localToComponent.append(contentsOf: repeatElement(0, count: localParent.count))
        var count: Int32 = 0
        for i in 0..<n where labels[i] > 0 {
            let r = Int(localFind(labels[i]))
            if localToComponent[r] == 0 { count += 1; localToComponent[r] = count }
            labels[i] = localToComponent[r]
        }
        return Int(count)
    }

    /// Union-find root with path halving.
    private static func root(_ a: Int32, in parent: inout [Int32]) -> Int32 {
        var a = a
        while parent[Int(a)] != a {
            parent[Int(a)] = parent[Int(parent[Int(a)])]
            a = parent[Int(a)]
        }
        return a
    }

    private func localFind(_ a: Int32) -> Int32 { Self.root(a, in: &localParent) }

    /// Unites two provisional labels; returns the root (the smaller label).
    private func localUnite(_ a: Int32, _ b: Int32) -> Int32 {
        let ra = localFind(a), rb = localFind(b)
        if ra == rb { return ra }
        let (lo, hi) = ra < rb ? (ra, rb) : (rb, ra)
        localParent[Int(hi)] = lo
        return lo
    }

    private func find(_ a: Int32) -> Int32 { Self.root(a, in: &parent) }

    private func unite(_ a: Int32, _ b: Int32) {
        let ra = find(a), rb = find(b)
        if ra == rb { return }
        if ra < rb { parent[Int(rb)] = ra } else { parent[Int(ra)] = rb }
    }
}
