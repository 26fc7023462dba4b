// Pipeline files parsed from text: hostile inputs for the parser (docs/fuzzing.md)
// and the aliases that stay allowed.
import Foundation
import Pipeline
import Testing

@Suite("Pipeline files from text")
struct PipelineFileTests {
    func message(_ yaml: String) -> String? {
        do { _ = try SegmentSettings.parse(yaml: yaml, path: "p.yaml"); return nil } catch { return "\(error)" }
    }

    @Test("a billion-laughs file (aliases of aliases, 10^7 nodes in 417 bytes) is refused at once, not expanded")
    func aliasBomb() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1...6 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        lines.append("classes: [{name: road}]")
        let start = Date()
        let error = message(lines.joined(separator: "\n"))
        #expect(error == "pipeline 'p.yaml': more than 100000 YAML nodes once aliases are expanded")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    /// Found by FuzzPipeline: `Yams.load` force-unwraps a mapping key as a string and trapped.
    @Test("a key that is a list or a mapping is an error naming its line, not a trap", arguments: [
        ("[a]: 1\n", 1),
        ("? {a: 1}\n: 2\n", 1),
        ("classes:\n  - {[x]: water}\n", 2),
        ("x: &k [a]\nclasses:\n  - name: road\n    *k : 1\n", 1), // an alias: the line of its anchor
    ])
    func nonScalarKey(_ yaml: String, _ line: Int) {
        #expect(message(yaml) == "pipeline 'p.yaml': line \(line): a key is a list or mapping, not a name")
    }

    @Test("anchors and aliases of an ordinary size still work")
    func aliases() throws {
        let s = try SegmentSettings.parse(yaml: """
            classes:
              - &r {name: road, prompts: &p [road, street]}
              - {name: track, prompts: *p, instances: true}
            """, path: "dir/roads.yaml")
        #expect(s.name == "roads")
        #expect(s.classes.map(\.prompts) == [["road", "street"], ["road", "street"]])
    }

    @Test("parse(yaml:path:) reads the committed pipelines as load(pipeline:) does")
    func committedPipelines() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Pipelines")
        for name in ["landcover", "objects", "potsdam"] {
            let path = folder.appendingPathComponent(name + ".yaml").path
            let parsed = try SegmentSettings.parse(yaml: String(contentsOfFile: path, encoding: .utf8), path: path)
            let loaded = try SegmentSettings.load(pipeline: path)
            #expect(parsed.classes == loaded.classes && parsed.name == loaded.name && parsed.templates == loaded.templates)
        }
    }
}
