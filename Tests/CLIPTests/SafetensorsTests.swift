// safetensors decoding and every way a file can lie, plus strict loading by key.
import Foundation
import Testing
import Tensor
import CLIP

/// Writes safetensors files for tests; `header` overrides let a test forge any header.
enum SafetensorsWriter {
    struct Item { var name: String; var dtype: String; var shape: [Int]; var bytes: [UInt8] }

    static func f32(_ name: String, _ t: Tensor) -> Item {
        Item(name: name, dtype: "F32", shape: t.shape,
             bytes: t.storage.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    static func file(_ items: [Item], offsets: [String: [Int]] = [:]) -> [UInt8] {
        var header = [String: Any]()
        var data = [UInt8]()
        for item in items {
            header[item.name] = ["dtype": item.dtype, "shape": item.shape,
                                 "data_offsets": offsets[item.name] ?? [data.count, data.count + item.bytes.count]]
            data += item.bytes
        }
        return raw(header: try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), data: data)
    }

    static func raw(header: Data, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let length = declaredLength ?? UInt64(header.count)
        return withUnsafeBytes(of: length.littleEndian, Array.init) + Array(header) + data
    }
}

final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "landscribe-clip-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }
}

@Suite("safetensors")
struct SafetensorsTests {
    @Test("F32, F16 and BF16 decode to Float32")
    func decoding() throws {
        let dir = TempDir()
        let halves: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x0000, 0x8000, 0x7C00]
        let expectedHalves: [Float] = [1, -2, 0.333251953125, 0x1p-24, 65504, 0, -0.0, .infinity]
        let bf16: [UInt16] = [0x3F80, 0xC040, 0x4049, 0x0000]
        let expectedBF16: [Float] = [1, -3, 3.140625, 0]
        let f32: [Float] = [1.5, -2.25, .pi, 1e-30]
        func bytes(_ v: [UInt16]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
        let file = dir.write("t.safetensors", SafetensorsWriter.file([
            .init(name: "a", dtype: "F16", shape: [2, 4], bytes: bytes(halves)),
            .init(name: "b", dtype: "BF16", shape: [4], bytes: bytes(bf16)),
            SafetensorsWriter.f32("c", Tensor(shape: [1, 4], storage: f32)),
            .init(name: "ids", dtype: "I64", shape: [1], bytes: [1, 0, 0, 0, 0, 0, 0, 0]),
        ]))
        let st = try SafetensorsFile(path: file)
        #expect(st.keys == ["a", "b", "c", "ids"])
        let a = try st.tensor("a")
        #expect(a.shape == [2, 4])
        #expect(a.storage == expectedHalves)
        #expect(a.storage[6].sign == .minus)
        #expect(try st.tensor("b").storage == expectedBF16)
        #expect(try st.tensor("c") == Tensor(shape: [1, 4], storage: f32))
        #expect(throws: CLIPError.unsupportedDType("ids", dtype: "I64", file: file)) { try st.tensor("ids") }
        #expect(throws: CLIPError.missingKey("zz", file: file)) { try st.tensor("zz") }
    }

    static let good = SafetensorsWriter.f32("w", Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]))

    /// Broken files, each with a fragment its error message must contain.
    static let broken: [(String, [UInt8], String)] = [
        ("empty", [], "shorter than"),
        ("truncated data", Array(SafetensorsWriter.file([good]).dropLast(4)), "outside the data region"),
        ("truncated header", Array(SafetensorsWriter.file([good]).prefix(20)), "runs past the end"),
        ("huge header length", SafetensorsWriter.raw(header: Data("{}".utf8), data: [], declaredLength: UInt64.max / 2), "too large"),
        ("bad json", SafetensorsWriter.raw(header: Data("{\"w\": [".utf8), data: []), "not a JSON object"),
        ("json not an object", SafetensorsWriter.raw(header: Data("[1, 2]".utf8), data: []), "not a JSON object"),
        ("unknown dtype", SafetensorsWriter.file([.init(name: "w", dtype: "Q4", shape: [1], bytes: [0])]), "unknown dtype"),
        ("size mismatch", SafetensorsWriter.file([.init(name: "w", dtype: "F32", shape: [2, 2], bytes: good.bytes)]), "needs 16 bytes"),
        ("offsets out of file", SafetensorsWriter.file([good], offsets: ["w": [8, 32]]), "outside the data region"),
        ("reversed offsets", SafetensorsWriter.file([good], offsets: ["w": [24, 0]]), "outside the data region"),
        ("negative shape", SafetensorsWriter.file([.init(name: "w", dtype: "F32", shape: [-1], bytes: [])]), "invalid shape"),
        ("overlap", SafetensorsWriter.file([good, SafetensorsWriter.f32("v", Tensor(shape: [2], storage: [1, 2]))],
                                           offsets: ["v": [16, 24]]), "overlap"),
    ]

    @Test("a lying or damaged file is an error naming it", arguments: broken.indices)
    func brokenFile(_ index: Int) throws {
        let (label, bytes, fragment) = Self.broken[index]
        let dir = TempDir()
        let file = dir.write("broken.safetensors", bytes)
        do {
            _ = try SafetensorsFile(path: file)
            Issue.record("\(label): no error")
        } catch let error as CLIPError {
            let text = error.description
            #expect(text.contains(file), "\(label): \(text)")
            #expect(text.contains(fragment), "\(label): \(text)")
        }
    }

    @Test("bytes in memory with a lie are the same error, naming the name given", arguments: broken.indices)
    func brokenInMemory(_ index: Int) {
        let (label, bytes, fragment) = Self.broken[index]
        do {
            _ = try SafetensorsFile(bytes: bytes, name: "memory")
            Issue.record("\(label): no error")
        } catch {
            #expect("\(error)".contains("'memory'") && "\(error)".contains(fragment), "\(label): \(error)")
        }
    }

    @Test("a file's bytes in memory read as the file mapped")
    func inMemory() throws {
        let mapped = try SafetensorsFile(path: Fixtures.tinyModel + "/model.safetensors")
        let copy = try SafetensorsFile(bytes: Data(contentsOf: URL(fileURLWithPath: mapped.path)), name: "tiny")
        #expect(copy.keys == mapped.keys && copy.metadata == mapped.metadata)
        for key in mapped.keys { #expect(try copy.tensor(key) == mapped.tensor(key)) }
    }

    @Test("a missing file is an error naming it")
    func missingFile() {
        #expect { try SafetensorsFile(path: "/nonexistent/model.safetensors") } throws: { error in
            "\(error)".contains("/nonexistent/model.safetensors")
        }
    }
}

@Suite("strict loading by checkpoint key")
struct StrictLoadingTests {
    /// The tiny model rewritten as F32 with `edit` applied to its tensor list, in a temp folder.
    func rewrite(_ dir: TempDir, _ edit: (inout [SafetensorsWriter.Item]) -> Void) throws -> String {
        let source = try SafetensorsFile(path: Fixtures.tinyModel + "/model.safetensors")
        var items = try source.keys.map { SafetensorsWriter.f32($0, try source.tensor($0)) }
        edit(&items)
        _ = dir.write("model.safetensors", SafetensorsWriter.file(items))
        let config = try Data(contentsOf: URL(fileURLWithPath: Fixtures.tinyModel + "/config.json"))
        _ = dir.write("config.json", Array(config))
        return dir.path
    }

    @Test("the same weights as F32 load and give the golden image features")
    func f32Model() throws {
        let dir = TempDir()
        let path = try rewrite(dir) { items in
            items.append(.init(name: "vision_model.embeddings.position_ids", dtype: "I64", shape: [1, 197],
                               bytes: (0..<197).flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }))
        }
        let model = try CLIPModel.load(directory: path)
        let pixels = Fixtures.pixels(Fixtures.meta.images["image224"]!)
        expectClose(try model.imageFeatures(pixels: pixels), Fixtures.golden("image224.features"), "F32 copy")
    }

    @Test("a NaN or infinite weight throws, naming the tensor", arguments: [Float.nan, Float.infinity])
    func nonFinite(_ value: Float) throws {
        let dir = TempDir()
        let key = "vision_model.encoder.layers.1.mlp.fc1.weight"
        let path = try rewrite(dir) { items in
            let i = items.firstIndex { $0.name == key }!
            withUnsafeBytes(of: value.bitPattern.littleEndian) { items[i].bytes.replaceSubrange(40..<44, with: $0) }
        }
        let error = #expect(throws: CLIPError.self) { try CLIPModel.load(directory: path) }
        #expect(error?.description.contains(key) == true, "\(String(describing: error))")
    }

    @Test("a missing key throws, naming it")
    func missingKey() throws {
        let dir = TempDir()
        let key = "vision_model.encoder.layers.2.self_attn.k_proj.bias"
        let path = try rewrite(dir) { $0.removeAll { $0.name == key } }
        #expect(throws: CLIPError.missingKey(key, file: path + "/model.safetensors")) { try CLIPModel.load(directory: path) }
    }

    @Test("a wrong shape throws, naming the key")
    func wrongShape() throws {
        let dir = TempDir()
        let key = "text_projection.weight"
        let path = try rewrite(dir) { items in
            let i = items.firstIndex { $0.name == key }!
            items[i].shape = [24, 32]
        }
        #expect(throws: CLIPError.wrongShape(key, expected: [32, 24], found: [24, 32], file: path + "/model.safetensors")) {
            try CLIPModel.load(directory: path)
        }
    }

    @Test("an unused key throws, naming it")
    func unusedKey() throws {
        let dir = TempDir()
        let path = try rewrite(dir) { $0.append(SafetensorsWriter.f32("vision_model.extra.weight", Tensor(shape: [2], storage: [1, 2]))) }
        #expect(throws: CLIPError.unusedKeys(["vision_model.extra.weight"], file: path + "/model.safetensors")) {
            try CLIPModel.load(directory: path)
        }
    }
}
