import ArgumentParser
import Foundation
import GeoIO
import Pipeline

/// The loop of a batch (`segment` or `detect` with `--output-dir`): every scene into
/// DIR/<scene name>.<ext>, the model and text queries loaded once (`LoadedModels`); a scene
/// that fails is reported and the others go on, unless `failFast`; `--json` prints a line per
/// scene; exit 1 when any failed.
struct SceneBatch {
    /// One scene's line of the batch's `--json`.
    struct Result<Summary: Encodable>: Encodable {
        let scene: String
        let output: String
        let summary: Summary?
        let error: String?
    }

    let scenes: [String]
    let folder: String
    let fileExtension: String
    let quiet: Bool
    let json: Bool
    let failFast: Bool

    /// Runs `one` for every scene with a mapper that keeps the model and shows progress.
    func run<Summary: Encodable>(printSummary: (Summary, String) -> Void,
                                 _ one: (_ scene: String, _ output: String, _ mapper: SceneMapper) async throws -> Summary) async throws {
        try await failing {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw UserError("option \(folder.hasSuffix("/") ? "-o" : "--output-dir"): '\(folder)' names a folder, which does not exist; create it first")
            }
        }
        var mapper = SceneMapper(progress: nil, warning: { warn($0) })
        mapper.models = LoadedModels()
        var results: [Result<Summary>] = []
        for (i, scene) in scenes.enumerated() {
            let output = URL(fileURLWithPath: folder).appendingPathComponent(URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent + "." + fileExtension).path
            let line = ProgressLine(enabled: !quiet)
            var m = mapper
            m.progress = { p in line.tiles(p) }
            if !quiet { FileHandle.standardError.write(Data("[\(i + 1)/\(scenes.count)] \(scene) -> \(output)\n".utf8)) }
            do {
                let summary = try await one(scene, output, m)
                line.finish()
                if !quiet && !json { printSummary(summary, output) }
                results.append(Result(scene: scene, output: output, summary: summary, error: nil))
            } catch {
                line.finish()
                let message = Messages.line(for: error)
                FileHandle.standardError.write(Data("landscribe: \(scene): \(message)\n".utf8))
                results.append(Result(scene: scene, output: output, summary: nil, error: message))
                if failFast { break }
            }
        }
        if json { try printJSON(["scenes": results]) }
        let failed = results.filter { $0.error != nil }.count
        if failed > 0 || results.count < scenes.count {
            if !quiet { FileHandle.standardError.write(Data("landscribe: \(failed) of \(scenes.count) scenes failed\(results.count < scenes.count ? " (stopped by --fail-fast)" : "")\n".utf8)) }
            throw ExitCode(1)
        }
    }
}

/// `segment a.tif b.tif ... --output-dir DIR` (`SceneBatch`).
extension Segment {
    func runBatch(into folder: String) async throws {
        var settings = SegmentSettings()
        var scenes = options.scenes
        try await failing {
            settings = try options.settings()
            try gis.apply(to: &settings)
            scenes = try Segment.batchScenes(scenes, list: list, shard: shard, extension: "tif")
        }
        let batch = SceneBatch(scenes: scenes, folder: folder, fileExtension: "tif", quiet: options.quiet, json: options.json, failFast: failFast)
        try await batch.run(printSummary: Self.printSummary) { scene, output, mapper in
            try await mapper.segment(SegmentRequest(scene: scene, settings: settings, classMap: output, confidence: confidence,
                                                    overwrite: options.overwrite, inputs: options.inputs, resume: options.resume))
        }
    }
}

extension Segment {
    /// A batch's scenes: those given, then those of `list`, this task's share under `shard`;
    /// two scenes that would write the same `<name>.<extension>` are refused.
    static func batchScenes(_ given: [String], list: String?, shard: String?, extension ext: String) throws -> [String] {
        var scenes = given
        if let list { scenes += try Self.scenes(inList: list) }
        if let shard { scenes = try BatchShard(shard, environment: ProcessInfo.processInfo.environment).share(of: scenes) }
        var names: [String: String] = [:]
        for scene in scenes {
            let name = URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent
            if let other = names[name] { throw UserError("scenes '\(other)' and '\(scene)' would both write '\(name).\(ext)' in --output-dir; rename one") }
            names[name] = scene
        }
        return scenes
    }

    /// The scenes of a `--list` file: one path a line, blank lines and `#` comments skipped,
    /// relative paths taken from the list file's folder.
    static func scenes(inList path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw UserError("option --list: cannot read '\(path)' as a text file of scene paths")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let scenes = text.split(whereSeparator: \.isNewline).compactMap { raw -> String? in
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !line.isEmpty else { return nil }
            return line.hasPrefix("/") ? line : folder.appendingPathComponent(line).path
        }
        guard !scenes.isEmpty else { throw UserError("option --list: '\(path)' names no scene") }
        return scenes
    }
}

/// `--shard I/N` (or `N`, the index from the array job's environment): which scenes of a batch
/// this task maps. Scene k goes to task k mod N, so N tasks together map every scene once.
struct BatchShard: Equatable {
    let index: Int
    let count: Int

    /// - Parameter checkOnly: check the form only (option validation, before the environment is read).
    init(_ text: String, environment: [String: String], checkOnly: Bool = false) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let n = Int(parts[parts.count - 1]), n >= 1 else {
            throw ValidationError("--shard: '\(text)' is not I/N or N (N a whole number of tasks, 1 or more)")
        }
        count = n
        if parts.count == 2 {
            guard let i = Int(parts[0]), (0..<n).contains(i) else { throw ValidationError("--shard: task '\(parts[0])' is not from 0 to \(n - 1)") }
            index = i
        } else if checkOnly {
            index = 0
        } else {
            guard let (name, value) = ArrayTaskIndex.lookup(environment) else {
                throw UserError("option --shard: \(n) tasks but no task index: give --shard I/\(n), or run as a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)")
            }
            guard let i = Int(value), (0..<n).contains(i) else {
                throw UserError("option --shard: \(name)=\(value) is not a task from 0 to \(n - 1)")
            }
            index = i
        }
    }

    /// This task's scenes, in their order.
    func share<T>(of items: [T]) -> [T] { items.enumerated().filter { $0.offset % count == index }.map(\.element) }
}
