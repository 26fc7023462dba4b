import Foundation
import Pipeline
import TestSupport  // only to make a synthetic scene and find the fixture model
import Testing

/// The library example of docs/ARCHITECTURE.md ("Using the library"), compiled and run: a scene
/// mapped through the `Landscribe` product alone, without the command line.
@Suite("The Landscribe library on its own")
struct LibraryExampleTests {
    @Test("SceneMapper.segment and .detect write the outputs and return their summaries")
    func example() async throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scenePath = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scenePath, width: 160, height: 120, bands: 3) { b, x, y in Double((x * (b + 1) + 2 * y) % 256) }
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("CLIPTests/Fixtures")
        let model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for (folder, file) in [("tiny-clip", "config.json"), ("tiny-clip", "model.safetensors"), ("clip-tokenizer", "vocab.json"), ("clip-tokenizer", "merges.txt")] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(folder).appendingPathComponent(file), to: model.appendingPathComponent(file))
        }
        let landcover = dir.appendingPathComponent("landcover.tif").path, picture = dir.appendingPathComponent("landcover.png").path

        // --- the example of docs/ARCHITECTURE.md, with these paths ---
        var settings = SegmentSettings()
        try settings.setClasses("building; road; tree, forest; water")
        settings.model = model.path            // a folder in Hugging Face layout, or a cached model id
        settings.tile = 64; settings.overlap = 16
        let mapper = SceneMapper(cacheDirectory: dir.appendingPathComponent("cache"), progress: { p in _ = "\(p.tilesDone)/\(p.tilesTotal) tiles" })
        let summary = try await mapper.segment(SegmentRequest(scene: scenePath, settings: settings, classMap: landcover, preview: picture))
        for c in summary.classes { _ = "\(c.name): \(c.pixels) pixels" }
        // --- end of the example ---

        #expect(summary.classes.map(\.name) == ["building", "road", "tree", "water"])
        #expect(summary.classes.reduce(0) { $0 + $1.pixels } == 160 * 120)
        #expect(summary.tiles == 9 && summary.encoderRuns == 4 * summary.tiles)
        #expect(FileManager.default.fileExists(atPath: landcover) && FileManager.default.fileExists(atPath: picture))

        let objects = dir.appendingPathComponent("objects.geojson").path
        let found = try await SceneMapper(cacheDirectory: dir.appendingPathComponent("cache")).detect(DetectRequest(scene: scenePath, settings: settings, geojson: objects))
        #expect(found.classes.map(\.name) == ["building", "road", "tree", "water"] && found.objects == found.classes.reduce(0) { $0 + $1.objects })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: objects))) as? [String: Any])
        #expect((json["features"] as? [Any])?.count == found.objects)

        // A batch: with `models` the model and text queries are loaded once for several scenes;
        // another vocabulary loads again.
        var batch = SceneMapper(cacheDirectory: dir.appendingPathComponent("cache"))
        batch.models = LoadedModels()
        for i in 0..<2 {
            _ = try await batch.segment(SegmentRequest(scene: scenePath, settings: settings, classMap: dir.appendingPathComponent("b\(i).tif").path))
        }
        #expect(batch.models?.loads == 1)
        var other = settings
        try other.setClasses("water; land")
        _ = try await batch.segment(SegmentRequest(scene: scenePath, settings: other, classMap: dir.appendingPathComponent("b2.tif").path))
        #expect(batch.models?.loads == 2)

        // The refusals are the library's too: an output over the scene is an error, and nothing is written.
        await #expect(throws: (any Error).self) {
            try await mapper.segment(SegmentRequest(scene: scenePath, settings: settings, classMap: scenePath, overwrite: true))
        }
    }
}
