import Foundation
@testable import Segmentation
import Tensor
import Testing
import Tiling

/// docs/METHOD.md section 10 (`dec`, `exemplars`): hand-made cases, and the pieces of the
/// reference's configs d, e, f (Tools/segment_reference.py) before the whole-scene parity of
/// MethodParityTests.
@Suite("ZoRI's dec channels and exemplar cache")
struct ZoRIClassifierTests {
    @Test("channel scores of a hand-made Q: -0.7 x mean pairwise product + 0.3 x unbiased variance")
    func handMadeScores() {
        let q = Tensor(shape: [3, 4], storage: [1, 0, 0.5, 0.5,
                                                0, 1, 0.5, 0.5,
                                                0, 0, 0.5, 0.5])
        let s = ChannelSelection.scores(queries: q)
        #expect(abs(s[0] - 0.1) < 1e-12 && abs(s[1] - 0.1) < 1e-12)       // pairs 0, variance 1/3
        #expect(abs(s[2] - -0.175) < 1e-12 && s[2] == s[3])                // pairs 0.25, variance 0
        #expect(ChannelSelection(queries: q, keep: 0.25).channels == [0])
        #expect(ChannelSelection(queries: q, keep: 0.5).channels == [0, 1])
        #expect(ChannelSelection(queries: q, keep: 0.75).channels == [0, 1, 2], "ties go to the lower index")
        #expect(ChannelSelection.count(keep: 0.390625, dimension: 768) == 300)
        #expect(ChannelSelection.count(keep: 0.5, dimension: 5) == 3, "halves round away from zero")
    }

    @Test("cut rows are unit vectors over the kept channels")
    func cut() {
        let selection = ChannelSelection(channels: [1, 3], dimension: 4)
        let rows = selection.cut(Tensor(shape: [2, 4], storage: [9, 3, 9, 4, 1, 0, 1, 0]))
        #expect(rows.shape == [2, 2])
        #expect(rows.storage == [0.6, 0.8, 0, 0], "a zero row stays zero")
    }

    @Test("channel scores and the kept channels equal the reference's", arguments: ["d", "e"])
    func referenceChannels(name: String) throws {
        let c = try MethodParityTests.config(name)
        let (segmenter, _) = try MethodParityTests.segmenter(c)
        let data = try Data(contentsOf: MethodParityTests.fixtures.appendingPathComponent("\(name)_scores.f64"))
        let reference = data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        let scores = ChannelSelection.scores(queries: segmenter.queries)
        let worst = zip(scores, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-6, "largest score difference \(worst)")
        #expect(segmenter.channels?.channels == c.channels)
    }

    @Test("exemplar keys: the reference's cells, the fallback cell, keys within 1e-5", arguments: ["e", "f"])
    func referenceKeys(name: String) throws {
        let c = try MethodParityTests.config(name)
        let (segmenter, _) = try MethodParityTests.segmenter(c)
        let result = try segmenter.exemplarKeys(try MethodParityTests.exemplarWindows(c))
        #expect(result.cells == c.exemplars!.map(\.cells))
        #expect(result.fallback == c.exemplars!.map(\.fallback))
        #expect(result.keys.shape == c.keys_shape!)
        let reference = try MethodParityTests.floats("\(name)_keys.f32")
        let worst = zip(result.keys.storage, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest key difference \(worst)")
    }

    @Test("a polygon holding no cell centre falls back to the cell of its point-on-surface, clamped to the grid")
    func fallbackClamped() throws {
        let c = try MethodParityTests.config("f")
        let (segmenter, _) = try MethodParityTests.segmenter(c)
        let windows = try MethodParityTests.exemplarWindows(c)
        let w = windows[0]
        let outside = ExemplarWindow(image: w.image, classIndex: 0, pointOnSurface: (x: 500, y: -40)) { _, _ in false }
        let inside = ExemplarWindow(image: w.image, classIndex: 0, pointOnSurface: (x: 17.5, y: 33)) { _, _ in false }
        let result = try segmenter.exemplarKeys([outside, inside])
        #expect(result.fallback == [true, true])
        #expect(result.cells == [[7], [2 * 8 + 1]], "128 px window: 8 x 8 cells; (500, -40) clamps to row 0, column 7")
    }

    @Test("the cache adds weight x softmax over exemplars, summed per class, to every query of the class")
    func cacheArithmetic() {
        // Two tokens (a class token and one patch token) of width 2; three exemplars of classes 0, 1, 1.
        let cache = ExemplarCache(keys: Tensor(shape: [3, 2], storage: [1, 0, 0, 1, 0.6, 0.8]), classes: [0, 1, 1], weight: 2)
        let unit: [Float] = [0, 0, 0.6, 0.8]
        var out = [Float](repeating: 0, count: 3)              // queries of classes 0, 1, 0
        var scratch = [Float](repeating: 0, count: cache.scratchCount(tokens: 2, classCount: 2))
        cache.add(unit: unit, tokens: 2, queryClass: [0, 1, 0], scratch: &scratch, out: &out)
        let e = [0.6, 0.8, 1.0].map { Foundation.exp($0) }, sum = e.reduce(0, +)
        let a0 = Float(e[0] / sum), a1 = Float((e[1] + e[2]) / sum)
        #expect(abs(out[0] - 2 * a0) < 1e-6 && abs(out[1] - 2 * a1) < 1e-6 && out[2] == out[0])
    }
}
