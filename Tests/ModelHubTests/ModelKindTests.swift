import Foundation
import Testing
import ModelHub

@Suite struct ModelKindTests {
    func folder(_ config: String?) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let config { try Data(config.utf8).write(to: dir.appendingPathComponent("config.json")) }
        return dir
    }

    @Test("model_type decides: clip, sam3; anything else is a one-line error naming the file")
    func detect() throws {
        let clip = try folder(#"{"model_type": "clip", "text_config": {"model_type": "clip_text_model"}}"#)
        let sam3 = try folder(#"{"architectures": ["Sam3Model"], "model_type": "sam3"}"#)
        let bert = try folder(#"{"model_type": "bert"}"#)
        let none = try folder(#"{"hidden_size": 8}"#)
        let bad = try folder("not json")
        let missing = try folder(nil)
        defer { for d in [clip, sam3, bert, none, bad, missing] { try? FileManager.default.removeItem(at: d) } }
        #expect(try ModelKind.detect(directory: clip) == .clip)
        #expect(try ModelKind.detect(directory: sam3) == .sam3)
        for (dir, words) in [(bert, "model_type 'bert'"), (none, "no model_type"), (bad, "not a JSON object"), (missing, "cannot read")] {
            do {
                _ = try ModelKind.detect(directory: dir)
                Issue.record("\(dir.path) was accepted")
            } catch let e as ModelKindError {
                #expect(e.description.contains(words) && e.description.contains(dir.appendingPathComponent("config.json").path))
                #expect(!e.description.contains("\n"))
            }
        }
    }
}
