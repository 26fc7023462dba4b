// safetensors writer: the format SafetensorsFile reads. An 8-byte little-endian header length N,
// N bytes of JSON ({"name": {"dtype", "shape", "data_offsets": [begin, end]}}, offsets relative
// to the data region), padded with spaces so that the data region starts at a multiple of 8,
// then the tensors' little-endian bytes back to back in the order given.
public import Foundation
public import Tensor

public enum SafetensorsWriter {
    /// One named tensor: Float32 values or Int32 values, with a shape whose product is the count.
    public struct Entry: Sendable {
        public enum Values: Sendable {
            case f32([Float])
            case i32([Int32])
        }
        public let name: String
        public let shape: [Int]
        public let values: Values

        public init(_ name: String, _ tensor: Tensor) {
            self.name = name; shape = tensor.shape; values = .f32(tensor.storage)
        }
        public init(_ name: String, shape: [Int], floats: [Float]) {
            self.name = name; self.shape = shape; values = .f32(floats)
        }
        public init(_ name: String, shape: [Int], ints: [Int32]) {
            self.name = name; self.shape = shape; values = .i32(ints)
        }

        var count: Int { switch values { case .f32(let v): v.count; case .i32(let v): v.count } }
        var dtype: String { switch values { case .f32: "F32"; case .i32: "I32" } }
    }

    /// The file's bytes. Names must be unique and not `__metadata__`; `metadata` goes under
    /// `__metadata__` (string values, as the format requires).
    public static func data(_ entries: [Entry], metadata: [String: String] = [:]) throws -> Data {
        var seen = Set<String>()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            guard e.name != "__metadata__", seen.insert(e.name).inserted else {
                throw CLIPError.invalidInput("safetensors tensor name '\(e.name)' is reserved or repeated")
            }
            guard e.shape.allSatisfy({ $0 >= 0 }), e.shape.reduce(1, *) == e.count else {
                throw CLIPError.invalidInput("safetensors tensor '\(e.name)': shape \(e.shape) does not hold \(e.count) values")
            }
            header[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + 4 * e.count]] as [String: Any]
            offset += 4 * e.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            switch e.values {
            case .f32(let v): v.withUnsafeBufferPointer { p in appendLittleEndian(p.lazy.map(\.bitPattern), to: &out) }
            case .i32(let v): v.withUnsafeBufferPointer { p in appendLittleEndian(p.lazy.map { UInt32(bitPattern: $0) }, to: &out) }
            }
        }
        return out
    }

    private static func appendLittleEndian(_ words: some Sequence<UInt32>, to out: inout Data) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(words.underestimatedCount * 4)
        for w in words { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
        out.append(contentsOf: bytes)
    }

    /// Writes `data(entries)` to `url` (the caller chooses a temporary name: see GeoIO's OutputFile).
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        let bytes = try data(entries, metadata: metadata)
        do {
            try bytes.write(to: url)
        } catch {
            throw CLIPError.invalidInput("cannot write '\(url.path)': \(error.localizedDescription)")
        }
    }
}

extension SafetensorsFile {
    /// An I32 tensor's values (the reader's `tensor` converts floating-point dtypes only).
    public func int32s(_ name: String) throws -> [Int32] {
        guard let entry = entries[name] else { throw CLIPError.missingKey(name, file: path) }
        guard entry.dtype == .I32 else { throw CLIPError.unsupportedDType(name, dtype: entry.dtype.rawValue, file: path) }
        return try withBytes(of: name) { raw in
            (0..<raw.count / 4).map { Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}
