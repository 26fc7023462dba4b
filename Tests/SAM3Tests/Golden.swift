// Reads the fixtures written by Tools/make_sam3_fixtures.py and compares against them.
import Foundation
import Testing
import Tensor
import CLIP
import SAM3
import GoldenSupport

enum SAM3Fixtures {
    static var directory: String { Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path }
    static var tinyModel: String { directory + "/tiny-sam3" }

    struct ImageSpec: Decodable { let batch: Int, height: Int, width: Int, seed: Int }
    struct Meta: Decodable {
        let image: ImageSpec
        let text_ids: [[Int]]
        let text_mask: [[Int]]
    }

    static let meta: Meta = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/golden.json"))
        return try! JSONDecoder().decode(Meta.self, from: data)
    }()

    static let goldens = GoldenTensors(json: directory + "/golden.json", bin: directory + "/golden.bin")

    static func golden(_ name: String) -> Tensor { goldens.tensor(name) }

    /// The deterministic test image of the script: SAM 3's normalisation (mean 0.5, std 0.5).
    static func pixels(_ spec: ImageSpec = meta.image) -> Tensor {
        GoldenTensors.testImage(batch: spec.batch, height: spec.height, width: spec.width, seed: spec.seed,
                                mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    }

    static func config(windowSize: Int? = nil) throws -> SAM3Config {
        var config = try SAM3Config.load(file: tinyModel + "/config.json")
        if let windowSize { config.visionConfig.backboneConfig.windowSize = windowSize }
        return config
    }

    static func model(windowSize: Int? = nil) throws -> SAM3Model {
        try SAM3Model(config: config(windowSize: windowSize), weights: SafetensorsFile(path: tinyModel + "/model.safetensors"))
    }
}

/// Shape first, then max |actual - expected| <= tolerance * max |expected|; returns the observed ratio.
@discardableResult
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-4,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return .infinity }
    let diff = zip(actual.storage, expected.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    let scale = expected.maxAbs
    #expect(scale > 0, "\(what): the golden is all zeros", sourceLocation: sourceLocation)
    #expect(diff <= tolerance * scale, "\(what): max abs diff \(diff) > \(tolerance) x scale \(scale)", sourceLocation: sourceLocation)
    #expect(!actual.storage.contains { !$0.isFinite }, "\(what): non-finite values", sourceLocation: sourceLocation)
    print("parity \(what): max abs diff \(diff), scale \(scale), ratio \(diff / scale)")
    return diff / scale
}

/// A safetensors file (F32) written from named tensors, for loading tests.
func writeSafetensors(_ tensors: [(String, Tensor)], to path: String) throws {
    // The header written by hand: the keys are plain ASCII.
    var entries = [String](), offset = 0
    for (name, t) in tensors {
        let shape = t.shape.map(String.init).joined(separator: ",")
        entries.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + 4 * t.count)]}")
        offset += 4 * t.count
    }
    var json = Data(("{" + entries.joined(separator: ",") + "}").utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for (_, t) in tensors { t.storage.withUnsafeBytes { data.append(contentsOf: $0) } }
    try data.write(to: URL(fileURLWithPath: path))
}
