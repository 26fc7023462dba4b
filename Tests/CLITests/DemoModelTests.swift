import Foundation
import TestSupport
import Testing

/// `make demo`'s model step (Samples/ensure_model.sh, docs/README): a model folder is used as it
/// is; a model id that is not cached is fetched, and when the hub cannot be reached the step
/// fails saying how to get the model.
@Suite("make demo: the model step")
struct DemoModelTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Samples/ensure_model.sh").path

    static func run(_ model: String, environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, CLI.executable.path, model]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test("a model folder is used as it is; an uncached id with no hub to reach fails with the ways to get it, caching nothing")
    func modelStep() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        // Port 9 (discard) on the loopback: nothing listens, the fetch fails at once.
        let env = ["LANDSCRIBE_CACHE": cache.path, "LANDSCRIBE_HUB_URL": "http://127.0.0.1:9"]
        let folder = try SegmentCommandTests.tinyModel(in: dir)
        let ok = try Self.run(folder, environment: env)
        #expect(ok.status == 0, "\(ok.stderr)")
        let missing = try Self.run("someone/some-model", environment: env)
        #expect(missing.status == 1, "\(missing.stdout) \(missing.stderr)")
        #expect(missing.stdout.contains("model someone/some-model is not in the cache: fetching it"), "\(missing.stdout)")
        #expect(missing.stderr.contains("make demo: could not fetch someone/some-model") && missing.stderr.contains("make demo MODEL=/path/to/folder"),
                "\(missing.stderr)")
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("models").path)) ?? []
        #expect(cached.isEmpty, "\(cached)")
    }
}
