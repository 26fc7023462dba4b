public import Foundation
public import Tensor

/// Golden tensors written by the Tools/ fixture scripts: a JSON file whose "tensors" object maps
/// names to shapes and offsets, and a binary file of little-endian Float32 values. For tests only.
public struct GoldenTensors: Sendable {
    public struct Entry: Decodable, Sendable {
        public let shape: [Int]
        public let offset: Int
    }
    private struct Index: Decodable { let tensors: [String: Entry] }

    public let entries: [String: Entry]
    public let values: [Float]

    /// Reads `json` and `bin`; a missing or malformed file stops the tests with its name.
    public init(json: String, bin: String) {
        guard let index = try? Data(contentsOf: URL(fileURLWithPath: json)),
              let decoded = try? JSONDecoder().decode(Index.self, from: index) else { fatalError("cannot read goldens '\(json)'") }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: bin)) else { fatalError("cannot read goldens '\(bin)'") }
        entries = decoded.tensors
        values = data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    public func tensor(_ name: String) -> Tensor {
        guard let entry = entries[name] else { fatalError("no golden tensor \(name)") }
        let n = entry.shape.reduce(1, *)
        return Tensor(shape: entry.shape, storage: Array(values[entry.offset ..< entry.offset + n]))
    }

    /// The deterministic test image of the fixture scripts, [batch, 3, height, width]: byte
    /// values from a multiplicative hash of the index and seed, normalised per channel with
    /// `mean` and `std` (as the scripts do in NumPy).
    public static func testImage(batch: Int, height: Int, width: Int, seed: Int, mean: [Float], std: [Float]) -> Tensor {
        let plane = height * width
        let values = (0..<(batch * 3 * plane)).map { i -> Float in
            let h = (UInt64(i) + UInt64(seed) * 1_000_003) &* 2_654_435_761
            let v = UInt32(truncatingIfNeeded: h) >> 24
            let c = (i / plane) % 3
            return (Float(v) / 255 - mean[c]) / std[c]
        }
        return Tensor(shape: [batch, 3, height, width], storage: values)
    }
}
