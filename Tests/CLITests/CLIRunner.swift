import Foundation

/// Runs the built `landscribe` executable (beside the test bundle) as a user would.
enum CLI {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("landscribe")
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// ../shared/data/scenes/NAME beside the package, nil when absent (a user's clone).
    static func sharedScene(_ name: String) -> String? {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        let path = dir.deletingLastPathComponent().appendingPathComponent("shared/data/scenes/\(name)").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}
