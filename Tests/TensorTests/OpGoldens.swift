// Reads the goldens written by Tools/make_tensor_op_goldens.py (ops.json + ops.bin).
import Foundation
import Testing
import Tensor
import GoldenSupport

enum OpGoldens {
    struct Case: Decodable {
        let stride: Int?, padding: Int?, bias: Bool?, kernel: Int?
        let head_dim: Int?, heads: Int?, grid: Int?, scale: Double?, theta: Double?
        let window: Int?, padded: [Int]?
        let groups: Int?, size: [Int]?
    }
    struct Meta: Decodable { let cases: [String: Case] }

    static var directory: String { Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path }

    static let meta: Meta = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/ops.json"))
        return try! JSONDecoder().decode(Meta.self, from: data)
    }()

    static let goldens = GoldenTensors(json: directory + "/ops.json", bin: directory + "/ops.bin")

    static func tensor(_ name: String) -> Tensor { goldens.tensor(name) }

    static func optionalTensor(_ name: String) -> Tensor? { goldens.contains(name) ? tensor(name) : nil }
    static func parameters(_ name: String) -> Case { meta.cases[name]! }
}

/// Shape first, then max |actual - expected| <= tolerance * max(1, max |expected|).
func expectMatches(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ what: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let diff = zip(actual.storage, expected.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    let bound = tolerance * max(1, expected.maxAbs)
    #expect(diff <= bound, "\(what): max abs diff \(diff) > \(bound)", sourceLocation: sourceLocation)
    #expect(!actual.storage.contains { !$0.isFinite }, "\(what): non-finite values", sourceLocation: sourceLocation)
}
