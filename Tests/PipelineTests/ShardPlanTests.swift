import Pipeline
import Testing

@Suite("Shard plans: tile rows split by valid tiles")
struct ShardPlanTests {
    @Test("shards cover every tile row once, in order, none empty")
    func coverage() {
        for rows in 1...9 {
            for count in 1...rows {
                let ranges = ShardPlan.partition(validTiles: (0..<rows).map { ($0 * 7) % 4 }, into: count)
                #expect(ranges.count == count)
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == rows)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect(ranges.allSatisfy { !$0.isEmpty })
            }
        }
    }

    @Test("the cuts follow the valid tiles, not the rows: all-nodata rows cost nothing")
    func balanced() {
        // Rows 0-3 hold nothing valid; rows 4-7 hold 5 valid tiles each.
        let ranges = ShardPlan.partition(validTiles: [0, 0, 0, 0, 5, 5, 5, 5], into: 2)
        #expect(ranges == [0..<6, 6..<8])
        // No valid tile at all: rows count alike.
        #expect(ShardPlan.partition(validTiles: [0, 0, 0, 0], into: 2) == [0..<2, 2..<4])
        #expect(ShardPlan.partition(validTiles: [3, 3, 3], into: 3) == [0..<1, 1..<2, 2..<3])
    }
}
