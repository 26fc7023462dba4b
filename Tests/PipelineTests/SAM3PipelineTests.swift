import Foundation
import Pipeline
import Testing

@Suite("SAM 3 engine keys in pipeline files")
struct SAM3PipelineTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Pipelines")

    func message(_ yaml: String) -> String? {
        do { _ = try SegmentSettings.parse(yaml: yaml, path: "p.yaml"); return nil } catch { return "\(error)" }
    }

    @Test("SegEarth-OV3's per-dataset settings: object threshold, threshold, background, rotations {0}")
    func datasets() throws {
        let expected: [(String, Float, Float, String)] = [("openearthmap-sam3", 0.1, 0.1, "background"), ("loveda-sam3", 0.5, 0.5, "background"),
                                                          ("potsdam-sam3", 0.2, 0.1, "clutter"), ("vaihingen-sam3", 0.4, 0.1, "clutter")]
        for (name, objectThreshold, threshold, background) in expected {
            let s = try SegmentSettings.load(pipeline: Self.pipelines.appendingPathComponent(name + ".yaml").path)
            #expect(s.objectThreshold == objectThreshold && s.threshold == threshold && s.background == background, "\(name)")
            #expect(s.rotationsGiven == [0] && s.model == "facebook/sam3", "\(name)")
        }
        for name in ["building-sam3", "road-sam3", "water-sam3"] {
            let s = try SegmentSettings.load(pipeline: Self.pipelines.appendingPathComponent(name + ".yaml").path)
            #expect(s.classes.count == 2 && s.background == "background", "\(name)")
        }
        // The CLIP pipeline keeps its own settings; rotations left out mean the engine's default.
        let clip = try SegmentSettings.load(pipeline: Self.pipelines.appendingPathComponent("openearthmap.yaml").path)
        #expect(clip.objectThreshold == 0.5 && clip.rotations == [0, 90, 180, 270])
        #expect(try SegmentSettings.parse(yaml: "classes:\n  - name: water\n", path: "p.yaml").rotationsGiven == nil)
    }

    @Test("object_threshold must be inside (0, 1); a misspelling gets a did-you-mean")
    func badObjectThreshold() {
        for value in ["0", "1", "1.5", "-0.2", ".nan"] {
            #expect(message("object_threshold: \(value)\nclasses:\n  - name: water\n")?.contains("object_threshold") == true, "\(value)")
        }
        #expect(message("object_treshold: 0.2\nclasses:\n  - name: water\n")?.contains("did you mean 'object_threshold'") == true)
    }
}
