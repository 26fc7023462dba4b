import AsyncAlgorithms
public import GeoIO
public import Tiling

/// What a run did.
public struct RunStatistics: Sendable, Equatable {
    public var tiles = 0
    /// Tiles that went through the segmenter (all-nodata tiles are skipped).
    public var encodedTiles = 0
    public var encoderRuns = 0
    /// Seconds spent inside the segmenter (model forwards and head), summed over tiles.
    public var segmenterSeconds = 0.0
}

/// Progress of a run, reported after each tile, then once as each finishing step starts.
public struct RunProgress: Sendable {
    public let tilesDone: Int
    public let tilesTotal: Int
    public let elapsedSeconds: Double
    /// Inside the tile being run, for engines that report it (`Segmenter.segment(_:steps:)`): its steps done
    /// and their number (SAM 3: text queries x rotations); 0 and 0 between tiles.
    public var tileStepsDone = 0, tileSteps = 0
    /// After the tiles: the output being finished ("class map: COG copy and overviews",
    /// "style and STAC item", "preview", "objects"); nil while tiles run.
    public var step: String? = nil
}

/// Drives reader -> segmenter -> stitcher -> writer (docs/ARCHITECTURE.md): a reader task owns
/// the input and reads ahead while the segmenter works, a writer task owns the outputs; both
/// talk to the segmenting loop through channels whose `send` waits for the receiver, so at most
/// one tile and one strip are in flight and memory stays bounded.
public enum SceneRunner {
    /// - Parameters:
    ///   - startRow: the first scene row wanted (a run that resumes): the run starts at the first
    ///     grid row reaching it (`TileGrid.firstGridRow`) and rows above it are not handed on;
    ///     those handed on are the same bytes as in a run from row 0. Must be a row where an
    ///     earlier run's strips ended (0, a grid row origin, or the height).
    ///   - endGridRow: stop after this many grid rows (a shard: the rows above this grid row's
    ///     origin are then finished and handed on, the rest is not); nil: every grid row.
    ///   - sink: receives the finished rows in order, on the writer task.
    ///   - progress: called after each tile, counting the tiles this run processes.
    public static func run(reader: TileReader, grid: TileGrid, segmenter: some Segmenter, from startRow: Int = 0,
                           until endGridRow: Int? = nil,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
                           sink: @escaping @Sendable (StitchedRows) throws -> Void) async throws -> RunStatistics {
        let firstGridRow = grid.firstGridRow(reaching: startRow)
        let lastGridRow = min(endGridRow ?? grid.rowOrigins.count, grid.rowOrigins.count)
        guard firstGridRow < lastGridRow else { return RunStatistics() }  // every row is written
        let skipped = firstGridRow * grid.columnOrigins.count
        let selected = grid.tiles[skipped..<(lastGridRow * grid.columnOrigins.count)]
        let tiles = AsyncThrowingChannel<TileImage, any Error>()
        let strips = AsyncThrowingChannel<StitchedRows, any Error>()
        let clock = ContinuousClock()
        let start = clock.now
        return try await withThrowingTaskGroup(of: RunStatistics?.self) { group in
            group.addTask {
                do {
                    for tile in selected {
                        try Task.checkCancellation()
                        await tiles.send(try reader.read(tile))
                    }
                    tiles.finish()
                } catch {
                    tiles.fail(error)
                }
                return nil
            }
            group.addTask {
                for try await rows in strips {
                    if rows.row < startRow {
                        precondition(rows.row + rows.rowCount <= startRow, "a resumed run must start where strips ended")
                        continue
                    }
                    try sink(rows)
                }
                return nil
            }
            group.addTask {
                var stats = RunStatistics()
                var stitcher = StripStitcher(grid: grid, classCount: segmenter.channelCount, startingAt: firstGridRow)
                do {
                    for try await image in tiles {
                        var values: [Float]? = nil
                        if image.hasValidPixels {
                            let t0 = clock.now
                            let (done, total) = (stats.tiles, selected.count)
                            values = try await segmenter.segment(image) { step, steps in
                                progress(RunProgress(tilesDone: done, tilesTotal: total, elapsedSeconds: Self.seconds(clock.now - start),
                                                     tileStepsDone: step, tileSteps: steps))
                            }
                            stats.segmenterSeconds += Self.seconds(clock.now - t0)
                            stats.encodedTiles += 1
                            stats.encoderRuns += segmenter.encoderRunsPerTile
                        }
                        stats.tiles += 1
                        if let rows = stitcher.add(tile: image.tile, values: values, valid: image.valid) {
                            await strips.send(rows)
                        }
                        progress(RunProgress(tilesDone: stats.tiles, tilesTotal: selected.count,
                                             elapsedSeconds: Self.seconds(clock.now - start)))
                    }
                    strips.finish()
                } catch {
                    strips.fail(error)
                    throw error
                }
                return stats
            }
            var result = RunStatistics()
            do {
                for try await stats in group { if let stats { result = stats } }
            } catch {
                group.cancelAll()
                throw error
            }
            return result
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
