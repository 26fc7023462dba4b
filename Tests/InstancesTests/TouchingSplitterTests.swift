import Foundation
import GeoIO
import Instances
import TestSupport
import Testing

/// Masks made of simple shapes, for the splitter alone.
struct Shape: CustomStringConvertible, Sendable {
    let description: String
    let width: Int, height: Int
    let inside: @Sendable (Int, Int) -> Bool

    var mask: [Bool] { (0..<width * height).map { inside($0 % width, $0 / width) } }

    /// Pixel centres within `r` of (cx, cy).
    static func inDisc(_ x: Int, _ y: Int, _ cx: Double, _ cy: Double, _ r: Double) -> Bool {
        let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
        return dx * dx + dy * dy <= r * r
    }

    static let disc = Shape(description: "disc of radius 30", width: 70, height: 70) { inDisc($0, $1, 35, 35, 30) }
    static let evenDisc = Shape(description: "disc of radius 7.5", width: 20, height: 20) { inDisc($0, $1, 10, 10, 7.5) }
    static let square = Shape(description: "square 40 x 40", width: 44, height: 44) { (2..<42).contains($0) && (2..<42).contains($1) }
    static let rectangle = Shape(description: "rectangle 90 x 24", width: 90, height: 24) { _, _ in true }
    static let ellipse = Shape(description: "ellipse 60 x 20", width: 64, height: 24) { x, y in
        let dx = (Double(x) + 0.5 - 32) / 30, dy = (Double(y) + 0.5 - 12) / 10
        return dx * dx + dy * dy <= 1
    }
    static let ell = Shape(description: "L with arms 20 wide", width: 60, height: 60) { x, y in x < 20 || y >= 40 }
    /// A shallow dent, 3 pixels deep in a 30-pixel-wide bar: not a neck.
    static let dented = Shape(description: "bar 100 x 30 with a dent 3 deep", width: 100, height: 30) { x, y in
        !(y < 3 && (45..<55).contains(x))
    }
    /// A square ring: thicker at its corners (distance about 17.6 there, 15 along the sides).
    static let ring = Shape(description: "square ring 100 x 100 around a hole 40 x 40", width: 100, height: 100) { x, y in
        !((30..<70).contains(x) && (30..<70).contains(y))
    }
    /// A ring of uneven thickness around an off-centre hole.
    static let unevenRing = Shape(description: "square 100 x 100 around a hole 20 x 30", width: 100, height: 100) { x, y in
        !((30..<50).contains(x) && (30..<60).contains(y))
    }
    /// A 3 x 3 blob hanging on a big square by one pixel: too small to be an object of its own.
    static let wart = Shape(description: "square with a 3 x 3 wart", width: 46, height: 40) { x, y in
        x < 40 || ((42..<45).contains(x) && (10..<13).contains(y)) || (x == 41 && y == 11) || (x == 40 && y == 11)
    }

    static let dumbbell = Shape(description: "two discs of radius 25 joined by a bridge 6 wide", width: 130, height: 60) { x, y in
        inDisc(x, y, 30, 30, 25) || inDisc(x, y, 100, 30, 25) || ((30..<100).contains(x) && (27..<33).contains(y))
    }
    static let unequal = Shape(description: "discs of radius 30 and 12 joined by a bridge 4 wide", width: 120, height: 70) { x, y in
        inDisc(x, y, 35, 35, 30) || inDisc(x, y, 95, 35, 12) || ((35..<95).contains(x) && (33..<37).contains(y))
    }
    static let overlapping = Shape(description: "discs of radius 20, centres 36 apart", width: 90, height: 50) { x, y in
        inDisc(x, y, 27, 25, 20) || inDisc(x, y, 63, 25, 20)
    }
    static let corner = Shape(description: "squares 20 x 20 touching at a corner", width: 40, height: 40) { x, y in
        (x < 20 && y < 20) || (x >= 20 && y >= 20)
    }
    static let three = Shape(description: "three discs of radius 15 in a row, bridges 4 wide", width: 130, height: 40) { x, y in
        inDisc(x, y, 20, 20, 15) || inDisc(x, y, 65, 20, 15) || inDisc(x, y, 110, 20, 15) || ((20..<110).contains(x) && (18..<22).contains(y))
    }
}

@Suite("Splitting touching objects: distance transform and marker watershed")
struct TouchingSplitterTests {
    @Test("the distance transform is the exact Euclidean distance to the nearest background pixel")
    func distances() {
        let width = 37, height = 23
        // An irregular mask: a blob with holes, touching the rectangle's edges.
        let mask = (0..<width * height).map { i -> Bool in
            let x = i % width, y = i / width
            return (x * x * 3 + y * 7 + x * y) % 13 != 0 && (x - 18) * (x - 18) + (y - 11) * (y - 11) < 300
        }
        let d2 = TouchingSplitter.squaredDistances(mask: mask, width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                var best = Int.max
                // Outside the rectangle is background: the nearest such pixel is one step past an edge.
                best = min(best, (x + 1) * (x + 1), (width - x) * (width - x), (y + 1) * (y + 1), (height - y) * (height - y))
                for j in 0..<mask.count where !mask[j] {
                    let dx = j % width - x, dy = j / width - y
                    best = min(best, dx * dx + dy * dy)
                }
                #expect(Int(d2[y * width + x]) == (mask[y * width + x] ? best : 0), "at (\(x), \(y))")
            }
        }
    }

    @Test("one object stays one", arguments: [Shape.disc, .evenDisc, .square, .rectangle, .ellipse, .ell, .dented, .ring, .unevenRing, .wart])
    func whole(shape: Shape) {
        let mask = shape.mask
        let (labels, parts) = TouchingSplitter().split(mask: mask, width: shape.width, height: shape.height)
        #expect(parts == 1)
        #expect(labels.indices.allSatisfy { (labels[$0] == 1) == mask[$0] })
    }

    @Test("touching objects are split where they meet", arguments: [
        (Shape.dumbbell, [(30, 30), (100, 30)]), (.unequal, [(35, 35), (95, 35)]), (.overlapping, [(27, 25), (63, 25)]),
        (.corner, [(5, 5), (35, 35)]), (.three, [(20, 20), (65, 20), (110, 20)]),
    ])
    func split(shape: Shape, centres: [(Int, Int)]) {
        let mask = shape.mask
        let (labels, parts) = TouchingSplitter().split(mask: mask, width: shape.width, height: shape.height)
        #expect(parts == centres.count)
        // Every mask pixel in exactly one part, nothing outside: the areas add up.
        #expect(labels.indices.allSatisfy { (labels[$0] > 0) == mask[$0] && labels[$0] <= parts })
        var sizes = [Int](repeating: 0, count: parts + 1)
        for l in labels { sizes[Int(l)] += 1 }
        #expect(sizes.dropFirst().reduce(0, +) == mask.filter { $0 }.count)
        // Each centre in its own part, numbered in order of first pixel.
        let at = centres.map { Int(labels[$0.1 * shape.width + $0.0]) }
        #expect(Set(at).count == centres.count && !at.contains(0), "parts at the centres: \(at)")
        let firsts = (1...max(parts, 1)).map { l in labels.firstIndex(of: Int32(l)) ?? -1 }
        #expect(firsts == firsts.sorted())
        // Each part is one 8-connected piece.
        for l in 1...max(parts, 1) {
            #expect(Self.pieces(labels, Int32(l), width: shape.width, height: shape.height) == 1, "part \(l)")
        }
    }

    @Test("every marker rule counts: a neck that is too wide, a part that is too small")
    func thresholds() {
        let shape = Shape.dumbbell
        // The bridge is 6 wide: its saddle is about 3, the discs' peaks about 25.
        #expect(TouchingSplitter(minimumRadius: 26).split(mask: shape.mask, width: shape.width, height: shape.height).parts == 1)
        #expect(TouchingSplitter(neckRatio: 0.1).split(mask: shape.mask, width: shape.width, height: shape.height).parts == 1)
        #expect(TouchingSplitter(minimumDepth: 23).split(mask: shape.mask, width: shape.width, height: shape.height).parts == 1)
        // Without the neck ratio, h-maxima alone would split the dented bar and the ring's corners.
        for (shape, parts) in [(Shape.dented, 2), (.ring, 4)] {
            #expect(TouchingSplitter(neckRatio: 0.99).split(mask: shape.mask, width: shape.width, height: shape.height).parts == parts, "\(shape)")
        }
        #expect(TouchingSplitter().smallestSplittable == 50, "two cores of 25 pixel centres closer than 3")
        #expect(TouchingSplitter().split(mask: [Bool](repeating: false, count: 12), width: 4, height: 3).parts == 0)
    }

    /// Number of 8-connected pieces of label `l`.
    static func pieces(_ labels: [Int32], _ l: Int32, width: Int, height: Int) -> Int {
        var seen = [Bool](repeating: false, count: labels.count), count = 0
        for start in labels.indices where labels[start] == l && !seen[start] {
            count += 1
            var stack = [start]
            seen[start] = true
            while let i = stack.popLast() {
                let x = i % width, y = i / width
                for ny in max(0, y - 1)...min(height - 1, y + 1) {
                    for nx in max(0, x - 1)...min(width - 1, x + 1) where labels[ny * width + nx] == l && !seen[ny * width + nx] {
                        seen[ny * width + nx] = true
                        stack.append(ny * width + nx)
                    }
                }
            }
        }
        return count
    }
}
