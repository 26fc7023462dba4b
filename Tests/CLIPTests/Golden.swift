// Reads the golden outputs written by Tools/make_clip_fixtures.py and compares against them.
import Foundation
import Testing
import Tensor
import CLIP
import GoldenSupport

enum Fixtures {
    static var directory: String {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
    }
    static var tinyModel: String { directory + "/tiny-clip" }

    struct ImageSpec: Decodable { let batch: Int, height: Int, width: Int, seed: Int }
    struct Meta: Decodable {
        let ids77: [[Int]]
        let ids12: [[Int]]
        let images: [String: ImageSpec]
        let token_stride: [String: Int]
    }

    static let meta: Meta = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/golden.json"))
        return try! JSONDecoder().decode(Meta.self, from: data)
    }()

    static let goldens = GoldenTensors(json: directory + "/golden.json", bin: directory + "/golden.bin")

    static func golden(_ name: String) -> Tensor { goldens.tensor(name) }

    static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// The deterministic test image of the script (see Tools/make_clip_fixtures.py).
    static func pixels(_ spec: ImageSpec) -> Tensor {
        GoldenTensors.testImage(batch: spec.batch, height: spec.height, width: spec.width, seed: spec.seed, mean: mean, std: std)
    }

    static func model(activation: Activation? = nil) throws -> CLIPModel {
        guard let activation else { return try CLIPModel.load(directory: tinyModel) }
        var config = try CLIPConfig.load(file: tinyModel + "/config.json")
        config.textConfig.hiddenAct = activation
        config.visionConfig.hiddenAct = activation
        return try CLIPModel(config: config, weights: SafetensorsFile(path: tinyModel + "/model.safetensors"))
    }
}

/// Shape first, then max |actual - expected| <= tolerance * max |expected|.
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-4,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let diff = zip(actual.storage, expected.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    let bound = tolerance * expected.maxAbs
    #expect(diff <= bound, "\(what): max abs diff \(diff) > \(bound)", sourceLocation: sourceLocation)
    #expect(!actual.storage.contains { !$0.isFinite }, "\(what): non-finite values", sourceLocation: sourceLocation)
}

/// Every `stride`-th token of hidden states [B, T, D], as the script stores them.
func everyNthToken(_ x: Tensor, _ stride: Int) -> Tensor {
    let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
    let kept = Array(Swift.stride(from: 0, to: t, by: stride))
    var out = [Float]()
    for image in 0..<b { for token in kept { out += x.storage[(image * t + token) * d ..< (image * t + token + 1) * d] } }
    return Tensor(shape: [b, kept.count, d], storage: out)
}
