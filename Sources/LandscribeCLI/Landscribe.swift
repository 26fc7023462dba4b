public import ArgumentParser

/// The root command: `landscribe <subcommand>`.
@available(macOS 14, *)
public struct Landscribe: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "landscribe",
        abstract: "Open-vocabulary land cover and objects from whole satellite and aerial scenes.",
        version: "0.1.0",
        subcommands: []
    )
    public init() {}
}
