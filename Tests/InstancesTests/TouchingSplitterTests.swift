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

/// A 300 x 360 class map (class 1, pixel coordinates) with two dumbbells and three shapes that
/// must stay whole; the extractor reads it in strips of 64 rows (boundaries 64, 128, 192, ...).
enum TouchingScene {
    static let width = 300, height = 360

    static func value(_ x: Int, _ y: Int) -> Double {
        // Vertical dumbbell: discs across rows 64 and 192, the bridge across row 128.
        if Shape.inDisc(x, y, 80, 90, 30) || Shape.inDisc(x, y, 80, 166, 30) || ((77..<83).contains(x) && (90..<166).contains(y)) { return 1 }
        if Shape.inDisc(x, y, 220, 90, 35) { return 1 }                                              // a disc
        if (20..<120).contains(x) && (230..<270).contains(y) { return 1 }                   // a rectangle across row 256
        if (170..<250).contains(x) && (150..<230).contains(y)
            && !((195..<225).contains(x) && (175..<205).contains(y)) { return 1 }           // a square ring across row 192
        // Horizontal dumbbell: its right disc's first pixel comes after the rectangle's.
        if Shape.inDisc(x, y, 170, 300, 20) || Shape.inDisc(x, y, 240, 300, 20) || ((170..<240).contains(x) && (297..<303).contains(y)) { return 1 }
        return 0
    }

    static func write(dir: URL) -> (map: String, probs: String?) {
        let map = dir.appendingPathComponent("touching.tif").path
        SyntheticRaster.write(path: map, width: width, height: height, bands: 1, crs: nil, geoTransform: nil, nodata: 255) { _, x, y in value(x, y) }
        let probs = dir.appendingPathComponent("touching-probs.tif").path
        SyntheticRaster.write(path: probs, width: width, height: height, bands: 2, type: "Float32", crs: nil, geoTransform: nil) { _, x, y in
            Scene.probability(x, y)
        }
        return (map, probs)
    }
}

@Suite("Objects from class maps: --split-touching")
struct SplitTouchingExtractionTests {
    func extract(_ dir: URL, _ inputs: (map: String, probs: String?), split: Bool, stripRows: Int = 64,
                 name: String) throws -> (ExtractionSummary, String) {
        let out = dir.appendingPathComponent("\(name).geojson").path
        let options = ExtractionOptions(simplify: 0, pixelCoordinates: true, stripRows: stripRows, splitTouching: split)
        let summary = try InstanceExtractor(options: options).extract(
            classMap: inputs.map, probabilities: inputs.probs, classNames: ["background", "building"], instanceClasses: [1],
            geojson: out, overwrite: false)
        return (summary, out)
    }

    /// The bounding box of each feature's outline, by object id, in columns and rows (pixel
    /// coordinates are written with y = -row).
    func boxes(_ path: String) throws -> [Int: (minX: Double, minY: Double, maxX: Double, maxY: Double)] {
        var out: [Int: (minX: Double, minY: Double, maxX: Double, maxY: Double)] = [:]
        for f in try geoJSONFeatures(path) {
            let id = try #require((f["properties"] as? [String: Any])?["id"] as? Int)
            let p = positions(f).map { ($0.0, -$0.1) }
            out[id] = (p.map(\.0).min()!, p.map(\.1).min()!, p.map(\.0).max()!, p.map(\.1).max()!)
        }
        return out
    }

    /// The objects whose outline's box holds every one of `points`.
    func objects(_ summary: ExtractionSummary, _ boxes: [Int: (minX: Double, minY: Double, maxX: Double, maxY: Double)],
                 around points: [(Double, Double)]) -> [ExtractedObject] {
        summary.objects.filter { o in
            guard let b = boxes[o.id] else { return false }
            return points.allSatisfy { b.minX < $0.0 && $0.0 < b.maxX && b.minY < $0.1 && $0.1 < b.maxY }
        }
    }

    @Test("dumbbells become two objects each with the flag, one without; disc, rectangle and ring stay whole")
    func dumbbells() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = TouchingScene.write(dir: dir)
        let (whole, wholeOut) = try extract(dir, inputs, split: false, name: "whole")
        let (split, out) = try extract(dir, inputs, split: true, name: "split")

        #expect(whole.components == 5 && whole.splits == 0 && whole.objects.count == 5)
        #expect(split.components == 5 && split.splits == 2 && split.objects.count == 7)
        #expect(split.perClass == [.init(name: "building", objects: 7)])
        #expect(split.objects.map(\.id) == Array(1...7), "ids are consecutive")
        let wholeBoxes = try boxes(wholeOut), splitBoxes = try boxes(out)

        // The parts of each dumbbell: pixels and areas add up to the whole, scores weighted by
        // pixels give the whole's score (the mean over all its pixels).
        var dumbbellIds: Set<Int> = []
        for (centres, radius) in [([(80.0, 90.0), (80.0, 166.0)], 30.0), ([(170.0, 300.0), (240.0, 300.0)], 20.0)] {
            let dumbbell = try #require(objects(whole, wholeBoxes, around: centres).first)
            dumbbellIds.insert(dumbbell.id)
            #expect(objects(split, splitBoxes, around: centres).isEmpty, "no object holds both discs")
            let parts = centres.map { objects(split, splitBoxes, around: [$0]) }
            #expect(parts.allSatisfy { $0.count == 1 }, "one part around each centre: \(parts)")
            let found = parts.compactMap(\.first)
            guard found.count == 2 else { continue }
            #expect(found[0].id != found[1].id)
            #expect(found[0].pixels + found[1].pixels == dumbbell.pixels)
            #expect(found[0].areaPixels + found[1].areaPixels == dumbbell.areaPixels)
            #expect(found.allSatisfy { $0.areaPixels == Double($0.pixels) }, "exact outlines: area = pixel count")
            #expect(found.allSatisfy { abs(Double($0.pixels) - Double.pi * radius * radius) < 200 }, "each about a disc: \(found.map(\.pixels))")
            let weighted = found.reduce(0.0) { $0 + $1.score! * Double($1.pixels) }
            #expect(abs(weighted - dumbbell.score! * Double(dumbbell.pixels)) < 1e-6 * Double(dumbbell.pixels))
        }
        #expect(dumbbellIds.count == 2)

        // The disc, the rectangle and the ring with its hole are the same objects in both runs.
        let kept = whole.objects.filter { !dumbbellIds.contains($0.id) }
        #expect(kept.count == 3)
        for k in kept {
            #expect(split.objects.contains { $0.pixels == k.pixels && $0.score == k.score && $0.areaPixels == k.areaPixels }, "\(k)")
        }

        // Ids follow the first pixel, row by row: the tops of the outlines never go up.
        let tops = split.objects.map { splitBoxes[$0.id]!.minY }
        #expect(tops == tops.sorted(), "\(tops)")
        #expect(try VectorReader.read(path: out).features.allSatisfy { $0.geometry.isValid })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test("the split does not depend on the strip height", arguments: [1, 7, 64, 1000])
    func strips(rows: Int) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = TouchingScene.write(dir: dir)
        let (reference, _) = try extract(dir, inputs, split: true, stripRows: 360, name: "one-strip")
        let (summary, _) = try extract(dir, inputs, split: true, stripRows: rows, name: "strips")
        #expect(summary.objects.count == 7)
        #expect(summary.objects.map { [$0.id, $0.pixels] } == reference.objects.map { [$0.id, $0.pixels] })
        #expect(summary.objects.map(\.areaPixels) == reference.objects.map(\.areaPixels))
        // Scores: the same sums, perhaps added in another order.
        #expect(zip(summary.objects, reference.objects).allSatisfy { abs($0.score! - $1.score!) < 1e-9 })
    }

    @Test("objects whose box exceeds the cap are left whole")
    func cap() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = TouchingScene.write(dir: dir)
        var options = ExtractionOptions(simplify: 0, pixelCoordinates: true, splitTouching: true)
        // The vertical dumbbell's box is 61 x 137, the horizontal one's 111 x 41.
        options.splitMaxSide = 100
        let summary = try InstanceExtractor(options: options).extract(
            classMap: inputs.map, probabilities: inputs.probs, classNames: ["background", "building"], instanceClasses: [1],
            geojson: dir.appendingPathComponent("capped.geojson").path, overwrite: false)
        #expect(summary.components == 5 && summary.splits == 0)
    }
}
