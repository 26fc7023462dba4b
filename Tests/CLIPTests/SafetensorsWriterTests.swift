// The safetensors writer (CLIP.SafetensorsWriter; the test-only forger in SafetensorsTests.swift
// has the same name and shadows it here).
import Foundation
import Testing
import Tensor
import CLIP

@Suite("safetensors writer")
struct SafetensorsWriterTests {
    @Test("round trip through SafetensorsFile: names, dtypes, shapes, values; data region 8-aligned")
    func roundTrip() throws {
        let t = Tensor(shape: [2, 3], storage: [1.5, -2, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 3.25])
        let entries: [CLIP.SafetensorsWriter.Entry] = [
            .init("ids", shape: [5], ints: [0, -1, Int32.max, Int32.min, 1023]),
            .init("x", t),
            .init("scalar", shape: [1], floats: [7]),
            .init("empty", shape: [0, 4], floats: []),
        ]
        let data = try CLIP.SafetensorsWriter.data(entries, metadata: ["format": "pt"])
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect((8 + Int(headerLength)) % 8 == 0)
        #expect(data.count == 8 + Int(headerLength) + 4 * (5 + 6 + 1))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try CLIP.SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: url)
        #expect(try Data(contentsOf: url) == data)
        let file = try SafetensorsFile(path: url.path)
        #expect(file.keys == ["empty", "ids", "scalar", "x"])
        #expect(file.metadata == ["format": "pt"])
        #expect(file.entries["ids"]?.dtype == .I32 && file.entries["x"]?.dtype == .F32)
        #expect(try file.int32s("ids") == [0, -1, Int32.max, Int32.min, 1023])
        #expect(try file.tensor("x") == t)
        #expect(try file.tensor("scalar").storage == [7])
        #expect(try file.tensor("empty").shape == [0, 4])
        #expect(throws: CLIPError.self) { try file.int32s("x") }
    }

    @Test("repeated or reserved names and shapes that do not hold the values are refused")
    func refused() {
        #expect(throws: CLIPError.self) { try CLIP.SafetensorsWriter.data([.init("a", shape: [1], floats: [1]), .init("a", shape: [1], floats: [2])]) }
        #expect(throws: CLIPError.self) { try CLIP.SafetensorsWriter.data([.init("__metadata__", shape: [1], floats: [1])]) }
        #expect(throws: CLIPError.self) { try CLIP.SafetensorsWriter.data([.init("a", shape: [2, 2], floats: [1, 2, 3])]) }
    }
}
