// Strict loading by checkpoint key: a missing key, a wrong shape or an unused key is an error naming it.
public import Tensor

/// Hands out the tensors of one safetensors file by key, checking shapes, and remembers what was used.
/// Public so that other model targets (SAM3) load by the same rules.
public struct WeightLoader {
    public let file: SafetensorsFile
    public private(set) var used = Set<String>()
    /// The precision of the linear layers' products (`linear`).
    public let precision: MatrixPrecision
    /// Whether `linear` packs f32 weights once for the onednn backend (`Linear(packing:)`):
    /// faster products for as much memory again as the weights (CLIP's image tower, not SAM 3's 3.4 GB).
    public var packing: Bool

    /// Throws when `precision` cannot run here (bf16 without AVX512_BF16 or oneDNN).
    public init(file: SafetensorsFile, precision: MatrixPrecision = .f32, packing: Bool = false) throws {
        if let reason = precision.unavailableReason() { throw CLIPError.invalidInput(reason) }
        self.file = file
        self.precision = precision
        self.packing = packing
    }

    public mutating func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        guard let entry = file.entries[key] else { throw CLIPError.missingKey(key, file: file.path) }
        guard entry.shape == shape else {
            throw CLIPError.wrongShape(key, expected: shape, found: entry.shape, file: file.path)
        }
        used.insert(key)
        let t = try file.tensor(key)
        // NaN or infinite weights would poison every output; say so, naming the tensor.
        if let bad = t.storage.first(where: { !$0.isFinite }) { throw CLIPError.nonFiniteWeights(key, value: bad, file: file.path) }
        return t
    }

    /// Checks that `key` exists with `shape` and a dtype convertible to Float32, and marks it used,
    /// without reading its values (parts of a checkpoint a model validates but does not run yet).
    public mutating func check(_ key: String, shape: [Int]) throws {
        guard let entry = file.entries[key] else { throw CLIPError.missingKey(key, file: file.path) }
        guard entry.shape == shape else {
            throw CLIPError.wrongShape(key, expected: shape, found: entry.shape, file: file.path)
        }
        switch entry.dtype {
        case .F32, .F16, .BF16: break
        default: throw CLIPError.unsupportedDType(key, dtype: entry.dtype.rawValue, file: file.path)
        }
        used.insert(key)
    }

    /// A linear layer at `precision` (nil: the loader's).
    public mutating func linear(_ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true,
                                precision: MatrixPrecision? = nil) throws -> Linear {
        Linear(weight: try tensor(prefix + ".weight", shape: [outFeatures, inFeatures]),
               bias: bias ? try tensor(prefix + ".bias", shape: [outFeatures]) : nil, precision: precision ?? self.precision,
               packing: packing)
    }

    public mutating func layerNorm(_ prefix: String, dim: Int, eps: Float) throws -> LayerNorm {
        LayerNorm(weight: try tensor(prefix + ".weight", shape: [dim]),
                  bias: try tensor(prefix + ".bias", shape: [dim]), eps: eps)
    }

    /// Throws when the file holds keys nothing used (the `position_ids` buffers are accepted).
    public func finish() throws {
        let unused = file.keys.filter { !used.contains($0) && !$0.hasSuffix("embeddings.position_ids") }
        if !unused.isEmpty { throw CLIPError.unusedKeys(unused, file: file.path) }
    }
}
