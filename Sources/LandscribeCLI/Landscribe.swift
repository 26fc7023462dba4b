public import ArgumentParser
import Foundation
import GeoIO

/// The root command: `landscribe <subcommand>`.
@available(macOS 14, *)
public struct Landscribe: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "landscribe",
        abstract: "Open-vocabulary land cover and objects from whole satellite and aerial scenes.",
        discussion: """
        Reads any raster GDAL reads (GeoTIFF, COG, VRT, ...), cuts it into overlapping tiles, \
        runs a CLIP-based segmentation model on the CPU and writes georeferenced results. \
        See docs/ in the source tree for one page per command.
        """,
        version: version,
        subcommands: [Info.self, Segment.self, Detect.self, ShardCommand.self, MergeCommand.self, Evaluate.self, Embed.self, Predict.self, Bench.self, Model.self]
    )

    public init() {}

    /// Process-wide set-up before any command runs: large freed blocks go back to the system
    /// (`ProcessMemory.returnLargeBlocksOnFree`), which keeps the peak memory of a long
    /// `segment` from growing with the scene's height.
    /// Ctrl-C and SIGTERM remove this run's temporary files and exit 130 / 143 (`Interrupts`).
    /// An unknown subcommand or option is reported in one line, with the nearest name, and
    /// exits 64 before the argument parser words it less clearly (`Preflight`).
    public static func prepareProcess() {
        ProcessMemory.returnLargeBlocksOnFree()
        Interrupts.install()
        if let problem = Preflight.problem(Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data("\(problem)\n".utf8))
            Foundation.exit(64)
        }
    }
}
