// Linear and LayerNorm with PyTorch's parameter layout.

/// `y = x W^T + b` with W in PyTorch's `[out, in]` layout (multiplied with `CblasTrans`, never copied).
/// With precision bf16 the product rounds x and W to bfloat16 and accumulates in f32; with
/// `packing` on the onednn backend the f32 weight is packed once for oneDNN's matmul
/// (`BLAS.gemmPacked`, both) rather than by sgemm in every product.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    /// The weight packed for oneDNN's matmul (bf16 products, or f32 with `packing`); nil: `BLAS.gemm`.
    public let packed: PackedWeights?
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
    public var precision: MatrixPrecision { packed?.precision ?? .f32 }

    /// `packing`: f32 products through a weight packed once (on first use; as much memory again
    /// as the weight) where the backend is oneDNN; elsewhere, and for bf16, it changes nothing.
    public init(weight: Tensor, bias: Tensor?, precision: MatrixPrecision = .f32, packing: Bool = false) {
        precondition(weight.rank == 2, "Linear weight must be 2-D, got \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Linear bias \(bias.shape) for weight \(weight.shape)") }
        self.weight = weight
        self.bias = bias
        if precision == .bf16 || (packing && MatrixBackend.current.kind == .onednn) {
            packed = PackedWeights(weight, precision: precision)
        } else {
            packed = nil
        }
    }

    /// The layers' outputs side by side: one product where there were several on the same input
    /// (SAM 3's q, k and v projections). Weights stacked along the output axis; biases all or none.
    public init(stacking layers: [Linear], precision: MatrixPrecision = .f32, packing: Bool = false) {
        precondition(!layers.isEmpty && layers.allSatisfy { $0.inFeatures == layers[0].inFeatures }, "stacked layers need one input size")
        precondition(layers.allSatisfy { $0.bias == nil } || layers.allSatisfy { $0.bias != nil }, "stacked layers: biases all or none")
        let out = layers.reduce(0) { $0 + $1.outFeatures }
        let weight = Tensor(shape: [out, layers[0].inFeatures], storage: Array(layers.map(\.weight.storage).joined()))
        let bias = layers[0].bias == nil ? nil : Tensor(shape: [out], storage: Array(layers.map { $0.bias!.storage }.joined()))
        self.init(weight: weight, bias: bias, precision: precision, packing: packing)
    }

    /// Writes `rows` rows of output (stride `outputStride`) from `rows` rows of input (stride `inputStride`).
    /// With `accumulate` the result is added to what `output` holds (residual connections, GEMM beta = 1).
    /// The bias goes into `output` before the GEMM, which then accumulates (beta = 1): one pass
    /// over the output rather than a zero fill (beta = 0) and a bias pass after. That pass is
    /// shared among `workers` (row chunks; the GEMM itself runs on `BLAS.threads`): the same values.
    /// A packed f32 weight's product adds the bias itself, in its own pass.
    public func apply(input: UnsafePointer<Float>, inputStride: Int, rows: Int,
                      output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool = false, workers: Int = 1) {
        if let packed, packed.precision == .f32 {
            return packedProduct(packed, input: input, inputStride: inputStride, rows: rows, output: output,
                                 outputStride: outputStride, activation: nil, accumulate: accumulate)
        }
        if let packed {
            let started = startOutput(output, rows: rows, stride: outputStride, accumulate: accumulate, workers: workers)
            BLAS.gemmPacked(m: rows, n: outFeatures, k: inFeatures, a: input, lda: inputStride, weights: packed,
                            accumulate: started, c: output, ldc: outputStride)
            return
        }
        weight.storage.withUnsafeBufferPointer { w in
            let started = startOutput(output, rows: rows, stride: outputStride, accumulate: accumulate, workers: workers)
            BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                      a: input, lda: inputStride, b: w.baseAddress!, ldb: inFeatures,
                      beta: started ? 1 : 0, c: output, ldc: outputStride)
        }
    }

    /// Like `apply`, then `activation` over the output (one pass; the bias went in before the GEMM).
    /// A packed f32 weight's product applies the activation itself, in its own pass.
    public func apply(input: UnsafePointer<Float>, inputStride: Int, rows: Int,
                      output: UnsafeMutablePointer<Float>, outputStride: Int, activation: Activation, workers: Int = 1) {
        if let packed, packed.precision == .f32 {
            return packedProduct(packed, input: input, inputStride: inputStride, rows: rows, output: output,
                                 outputStride: outputStride, activation: activation, accumulate: false)
        }
        apply(input: input, inputStride: inputStride, rows: rows, output: output, outputStride: outputStride, workers: workers)
        Kernels.biasActivation(output, rows: rows, cols: outFeatures, stride: outputStride,
                               bias: nil, activation: activation, workers: workers)
    }

    /// The product through a packed f32 weight, with the bias and `activation` in its own pass.
    private func packedProduct(_ packed: PackedWeights, input: UnsafePointer<Float>, inputStride: Int, rows: Int,
                               output: UnsafeMutablePointer<Float>, outputStride: Int, activation: Activation?, accumulate: Bool) {
        func product(_ bias: UnsafePointer<Float>?) {
            BLAS.gemmPacked(m: rows, n: outFeatures, k: inFeatures, a: input, lda: inputStride, weights: packed, bias: bias,
                            activation: activation, accumulate: accumulate, c: output, ldc: outputStride)
        }
        guard let bias else { return product(nil) }
        bias.storage.withUnsafeBufferPointer { product($0.baseAddress) }  // nil only with no outputs, which multiply nothing
    }

    /// Puts the bias into (or onto, with `accumulate`) the output rows, in row chunks among
    /// `workers`; whether the GEMM must then accumulate.
    private func startOutput(_ output: UnsafeMutablePointer<Float>, rows: Int, stride: Int, accumulate: Bool, workers: Int) -> Bool {
        guard let bias else { return accumulate }
        bias.storage.withUnsafeBufferPointer { b in
            Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
                Kernels.addRows(output + chunk.lowerBound * stride, rows: chunk.count, cols: outFeatures, stride: stride,
                                vector: b.baseAddress!, accumulate: accumulate)
            }
        }
        return true
    }

    /// `activation(x W^T + b)` over the last axis of `x`, the activation in one pass over the output.
    public func callAsFunction(_ x: Tensor, activation: Activation) -> Tensor { output(x, activation: activation, workers: 1) }

    /// `x W^T + b` over the last axis of `x` (any leading shape).
    public func callAsFunction(_ x: Tensor) -> Tensor { output(x, activation: nil, workers: 1) }

    /// `callAsFunction` (the same values) with the passes over the output (bias, activation)
    /// shared among `workers`: large outputs (SAM 3's 5184-token layers) are first touched by
    /// every worker rather than by one.
    public func callAsFunction(_ x: Tensor, activation: Activation? = nil, workers: Int) -> Tensor {
        output(x, activation: activation, workers: workers)
    }

    private func output(_ x: Tensor, activation: Activation?, workers: Int) -> Tensor {
        precondition(x.shape.last == inFeatures, "Linear expects last dimension \(inFeatures), got \(x.shape)")
        let rows = x.count / inFeatures
        // Every value is written: the bias rows (or the GEMM with beta = 0, which reads nothing).
        return x.storage.withUnsafeBufferPointer { px in
            Tensor(shape: Array(x.shape.dropLast()) + [outFeatures]) { po in
                guard rows > 0 else { return }
                if let activation {
                    apply(input: px.baseAddress!, inputStride: inFeatures, rows: rows,
                          output: po, outputStride: outFeatures, activation: activation, workers: workers)
                } else {
                    apply(input: px.baseAddress!, inputStride: inFeatures, rows: rows,
                          output: po, outputStride: outFeatures, workers: workers)
                }
            }
        }
    }
}

/// Layer normalisation over the last axis with learned weight and bias.
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float
    public var dim: Int { weight.count }

    public init(weight: Tensor, bias: Tensor, eps: Float) {
        precondition(weight.rank == 1 && bias.shape == weight.shape, "LayerNorm weight \(weight.shape), bias \(bias.shape)")
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    /// Normalises `rows` rows; `input` may equal `output`.
    public func apply(input: UnsafePointer<Float>, inputStride: Int, rows: Int,
                      output: UnsafeMutablePointer<Float>, outputStride: Int) {
        weight.storage.withUnsafeBufferPointer { w in
            bias.storage.withUnsafeBufferPointer { b in
                Kernels.layerNorm(input: input, inputStride: inputStride, output: output, outputStride: outputStride,
                                  rows: rows, dim: dim, weight: w.baseAddress!, bias: b.baseAddress!, eps: eps)
            }
        }
    }

    /// `callAsFunction(x)` (the same values) with the rows shared among `workers`, written
    /// into a fresh tensor (`x` is left as it is).
    public func callAsFunction(_ x: Tensor, workers: Int) -> Tensor {
        precondition(x.shape.last == dim, "LayerNorm expects last dimension \(dim), got \(x.shape)")
        let rows = x.count / max(1, dim)
        return x.storage.withUnsafeBufferPointer { input in
            Tensor(shape: x.shape) { out in
                apply(input: input.baseAddress!, inputStride: dim, rows: rows, output: out, outputStride: dim, workers: workers)
            }
        }
    }

    /// `apply` with the rows shared among `workers` (`Parallel.forEachChunk`; the same values).
    public func apply(input: UnsafePointer<Float>, inputStride: Int, rows: Int,
                      output: UnsafeMutablePointer<Float>, outputStride: Int, workers: Int) {
        Parallel.forEachChunk(rows: rows, workers: workers) { chunk in
            apply(input: input + chunk.lowerBound * inputStride, inputStride: inputStride, rows: chunk.count,
                  output: output + chunk.lowerBound * outputStride, outputStride: outputStride)
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == dim, "LayerNorm expects last dimension \(dim), got \(x.shape)")
        var out = x
        let rows = x.count / dim
        if rows == 0 { return out }
        out.storage.withUnsafeMutableBufferPointer { p in
            apply(input: p.baseAddress!, inputStride: dim, rows: rows, output: p.baseAddress!, outputStride: dim)
        }
        return out
    }
}
