// 2-D convolutions on NCHW tensors with PyTorch's parameter layouts: im2col / col2im around one
// GEMM per image (BLAS.gemm), no groups, no dilation.

/// `torch.nn.Conv2d` (groups 1, dilation 1, zero padding): weight `[out, in, kh, kw]`, optional
/// bias `[out]`, one stride and one padding for both axes. The im2col buffer covers a band of
/// output rows at a time, at most `columnBudget` floats (at least one row): a 3x3 convolution of
/// 256 channels at 288 x 288 would need 764 MB for all rows at once. The default, 4 MB, keeps a
/// band in cache from im2col to the product: SAM 3's 3x3 convolutions at 288 x 288 ran in about
/// half the time of 64 MB bands (docs/benchmarks.md).
public struct Conv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let columnBudget: Int

    public var outChannels: Int { weight.shape[0] }
    public var inChannels: Int { weight.shape[1] }
    public var kernelHeight: Int { weight.shape[2] }
    public var kernelWidth: Int { weight.shape[3] }

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, columnBudget: Int = 1 << 20) {
        precondition(weight.rank == 4, "Conv2d weight must be [out, in, kh, kw], got \(weight.shape)")
        precondition(stride >= 1 && padding >= 0, "Conv2d stride \(stride), padding \(padding)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Conv2d bias \(bias.shape) for weight \(weight.shape)") }
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.columnBudget = columnBudget
    }

    /// Output size along one axis: floor((n + 2p - k) / s) + 1, as PyTorch.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelHeight) / stride + 1, (width + 2 * padding - kernelWidth) / stride + 1)
    }

    /// [N, in, H, W] -> [N, out, Ho, Wo].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "Conv2d expects [N, \(inChannels), H, W], got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h + 2 * padding >= kernelHeight && w + 2 * padding >= kernelWidth,
                     "Conv2d input \(h) x \(w) (padding \(padding)) smaller than kernel \(kernelHeight) x \(kernelWidth)")
        let (oh, ow) = outputSize(height: h, width: w)
        let k = c * kernelHeight * kernelWidth, positions = oh * ow
        if n * outChannels * positions == 0 { return Tensor(shape: [n, outChannels, oh, ow]) }
        // A 1x1 convolution with stride 1 and no padding reads the input planes as they are.
        let direct = kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0
        let band = direct ? oh : max(1, min(oh, columnBudget / max(1, k * ow))) // output rows per GEMM
        // im2col writes every column it hands the product, so the band buffer starts uninitialized;
        // so does the output, which the bias planes (or the products, beta 0) fill.
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: direct ? 0 : k * band * ow)
        defer { columns.deallocate() }
        return x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                Tensor(shape: [n, outChannels, oh, ow]) { po in
                    for image in 0..<n {
                        let input = px.baseAddress! + image * c * h * w
                        let output = po + image * outChannels * positions
                        let started = fillBias(output, positions: positions)
                        var row = 0
                        while row < oh {
                            let rows = min(band, oh - row), width = rows * ow
                            if !direct {
                                Self.im2col(input, channels: c, height: h, width: w,
                                            kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                                            stride: stride, padding: padding, outRows: row..<row + rows, outWidth: ow,
                                            columns: columns)
                            }
                            // out[:, row band] (row stride `positions`) = W [out, k] x columns [k, band].
                            BLAS.gemm(m: outChannels, n: width, k: k,
                                      a: pw.baseAddress!, lda: k,
                                      b: direct ? input : UnsafePointer(columns), ldb: direct ? positions : width,
                                      beta: started ? 1 : 0, c: output + row * ow, ldc: positions)
                            row += rows
                        }
                    }
                }
            }
        }
    }

    /// Writes the bias into each output plane (planes shared among `BLAS.threads` workers, as
    /// im2col's channels); whether the GEMM must then accumulate.
    private func fillBias(_ output: UnsafeMutablePointer<Float>, positions: Int) -> Bool {
        guard let bias else { return false }
        bias.storage.withUnsafeBufferPointer { b in
            Parallel.forEach(tasks: outChannels, workers: BLAS.threads) { o, _ in
                (output + o * positions).update(repeating: b[o], count: positions)
            }
        }
        return true
    }

    /// columns[(c, ky, kx), (oy - first, ox)] = x[c, oy*s - p + ky, ox*s - p + kx] for output rows
    /// oy in `outRows`, 0 outside the image; channels shared among `BLAS.threads` workers.
    static func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                       kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int,
                       outRows: Range<Int>, outWidth: Int, columns: UnsafeMutablePointer<Float>) {
        let planeColumns = kernelHeight * kernelWidth * outRows.count * outWidth
        Parallel.forEach(tasks: channels, workers: BLAS.threads) { c, _ in
            let plane = x + c * height * width
            var row = columns + c * planeColumns
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    // Output columns ox whose input column ox*s - p + kx lies inside the image.
                    let first = min(outWidth, max(0, (padding - kx + stride - 1) / stride))
                    let span = width - 1 + padding - kx
                    let last = span < 0 ? first : max(first, min(outWidth, span / stride + 1))
                    for oy in outRows {
                        let y = oy * stride - padding + ky
                        let dst = row + (oy - outRows.lowerBound) * outWidth
                        guard y >= 0 && y < height else { dst.update(repeating: 0, count: outWidth); continue }
                        let src = plane + y * width - padding + kx
                        dst.update(repeating: 0, count: first)
                        if stride == 1 {
                            (dst + first).update(from: src + first, count: last - first)
                        } else {
                            for ox in first..<last { dst[ox] = src[ox * stride] }
                        }
                        (dst + last).update(repeating: 0, count: outWidth - last)
                    }
                    row += outRows.count * outWidth
                }
            }
        }
    }
}

/// `torch.nn.ConvTranspose2d` (groups 1, dilation 1, output_padding 0): weight `[in, out, kh, kw]`,
/// optional bias `[out]`. Output size (n - 1) * stride - 2 * padding + k. Computed as one GEMM
/// per image, `W^T X` ([out*kh*kw, H*W]), scattered into the output (col2im).
public struct ConvTranspose2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int

    public var inChannels: Int { weight.shape[0] }
    public var outChannels: Int { weight.shape[1] }
    public var kernelHeight: Int { weight.shape[2] }
    public var kernelWidth: Int { weight.shape[3] }

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) {
        precondition(weight.rank == 4, "ConvTranspose2d weight must be [in, out, kh, kw], got \(weight.shape)")
        precondition(stride >= 1 && padding >= 0, "ConvTranspose2d stride \(stride), padding \(padding)")
        if let bias { precondition(bias.shape == [weight.shape[1]], "ConvTranspose2d bias \(bias.shape) for weight \(weight.shape)") }
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height - 1) * stride - 2 * padding + kernelHeight, (width - 1) * stride - 2 * padding + kernelWidth)
    }

    /// [N, in, H, W] -> [N, out, Ho, Wo].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "ConvTranspose2d expects [N, \(inChannels), H, W], got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = outputSize(height: h, width: w)
        precondition(oh > 0 && ow > 0, "ConvTranspose2d output \(oh) x \(ow) for input \(h) x \(w)")
        let (kh, kw, o) = (kernelHeight, kernelWidth, outChannels)
        let rows = o * kh * kw, positions = h * w
        var out = Tensor(shape: [n, o, oh, ow])
        var columns = [Float](repeating: 0, count: rows * positions)
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                out.storage.withUnsafeMutableBufferPointer { po in
                    columns.withUnsafeMutableBufferPointer { pc in
                        let cols = pc.baseAddress!
                        for image in 0..<n {
                            // cols[(o, ky, kx), (y, x)] = sum_c w[c, (o, ky, kx)] x[c, (y, x)]
                            BLAS.gemm(transposeA: true, m: rows, n: positions, k: c,
                                      a: pw.baseAddress!, lda: rows,
                                      b: px.baseAddress! + image * c * positions, ldb: positions,
                                      c: cols, ldc: positions)
                            let output = po.baseAddress! + image * o * oh * ow
                            Parallel.forEach(tasks: o, workers: BLAS.threads) { oc, _ in
                                let plane = output + oc * oh * ow
                                plane.update(repeating: bias?.storage[oc] ?? 0, count: oh * ow)
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let src = cols + ((oc * kh + ky) * kw + kx) * positions
                                        for y in 0..<h {
                                            let oy = y * stride - padding + ky
                                            guard oy >= 0 && oy < oh else { continue }
                                            let dst = plane + oy * ow, row = src + y * w
                                            for xx in 0..<w {
                                                let ox = xx * stride - padding + kx
                                                if ox >= 0 && ox < ow { dst[ox] += row[xx] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
