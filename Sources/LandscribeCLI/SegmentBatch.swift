import ArgumentParser
import Foundation
import GeoIO
import Pipeline

/// `segment a.tif b.tif ... --output-dir DIR`: every scene into DIR/<scene name>.tif, the model
/// and text queries loaded once (`LoadedModels`); a scene that fails is reported and the others
/// go on, unless --fail-fast; exit 1 when any failed.
extension Segment {
    /// One scene's line of the batch's `--json`.
    struct SceneResult: Encodable {
        let scene: String
        let output: String
        let summary: SegmentSummary?
        let error: String?
    }

    func runBatch(into folder: String) async throws {
        var settings = SegmentSettings()
        try await failing {
            settings = try options.settings()
            try gis.apply(to: &settings)
            var names: [String: String] = [:]
            for scene in options.scenes {
                let name = URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent
                if let other = names[name] { throw UserError("scenes '\(other)' and '\(scene)' would both write '\(name).tif' in --output-dir; rename one") }
                names[name] = scene
            }
        }
        let mapper = { () -> SceneMapper in
            var m = SceneMapper(progress: nil, warning: { warn($0) })
            m.models = LoadedModels()
            return m
        }()
        var results: [SceneResult] = []
        for (i, scene) in options.scenes.enumerated() {
            let output = URL(fileURLWithPath: folder).appendingPathComponent(URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent + ".tif").path
            let line = ProgressLine(enabled: !options.quiet)
            var m = mapper
            m.progress = { p in line.tiles(p) }
            if !options.quiet { FileHandle.standardError.write(Data("[\(i + 1)/\(options.scenes.count)] \(scene) -> \(output)\n".utf8)) }
            do {
                let summary = try await m.segment(SegmentRequest(scene: scene, settings: settings, classMap: output, confidence: confidence,
                                                                 overwrite: options.overwrite, inputs: options.inputs, resume: options.resume))
                line.finish()
                if !options.quiet && !options.json { Self.printSummary(summary, output: output) }
                results.append(SceneResult(scene: scene, output: output, summary: summary, error: nil))
            } catch {
                line.finish()
                let message = Messages.line(for: error)
                FileHandle.standardError.write(Data("landscribe: \(scene): \(message)\n".utf8))
                results.append(SceneResult(scene: scene, output: output, summary: nil, error: message))
                if failFast { break }
            }
        }
        if options.json { try printJSON(["scenes": results]) }
        let failed = results.filter { $0.error != nil }.count
        if failed > 0 || results.count < options.scenes.count {
            if !options.quiet { FileHandle.standardError.write(Data("landscribe: \(failed) of \(options.scenes.count) scenes failed\(results.count < options.scenes.count ? " (stopped by --fail-fast)" : "")\n".utf8)) }
            throw ExitCode(1)
        }
    }
}
