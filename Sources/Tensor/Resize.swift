// Bicubic resize identical to PyTorch F.interpolate(mode="bicubic", align_corners=False).

public enum Resize {
    /// Cubic convolution weights (a = -0.75) for fractional offset t, PyTorch's `get_cubic_upsample_coefficients`.
    @inline(__always) static func cubicWeights(_ t: Float) -> (Float, Float, Float, Float) {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }      // |x| <= 1
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a } // 1 < |x| < 2
        return (far(t + 1), near(t), near(1 - t), far(2 - t))
    }

    /// Source taps and weights along one axis: output index -> (4 clamped input indices, 4 weights).
    static func taps(input: Int, output: Int) -> [(idx: (Int, Int, Int, Int), w: (Float, Float, Float, Float))] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { o in
            let real = scale * (Float(o) + 0.5) - 0.5 // no clamping for cubic, as in PyTorch
            let base = Int(real.rounded(.down))
            let t = real - Float(base)
            func c(_ i: Int) -> Int { min(max(i, 0), input - 1) }
            return ((c(base - 1), c(base), c(base + 1), c(base + 2)), cubicWeights(t))
        }
    }

    /// Resizes a grid with `channels` values per position, addressed by element strides
    /// (`yStride`, `xStride`, `channelStride`) on input and output, to `outHeight` x `outWidth`.
    public static func bicubic(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                               yStride: Int, xStride: Int, channelStride: Int,
                               output: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int,
                               outYStride: Int, outXStride: Int, outChannelStride: Int) {
        let ty = taps(input: height, output: outHeight)
        let tx = taps(input: width, output: outWidth)
        for oy in 0..<outHeight {
            let (yi, wy) = ty[oy]
            let rows = [yi.0, yi.1, yi.2, yi.3]
            for ox in 0..<outWidth {
                let (xi, wx) = tx[ox]
                for ch in 0..<channels {
                    func rowValue(_ y: Int) -> Float {
                        let p = input + y * yStride + ch * channelStride
                        return p[xi.0 * xStride] * wx.0 + p[xi.1 * xStride] * wx.1
                            + p[xi.2 * xStride] * wx.2 + p[xi.3 * xStride] * wx.3
                    }
                    let v = rowValue(rows[0]) * wy.0 + rowValue(rows[1]) * wy.1
                        + rowValue(rows[2]) * wy.2 + rowValue(rows[3]) * wy.3
                    output[oy * outYStride + ox * outXStride + ch * outChannelStride] = v
                }
            }
        }
    }
}

extension Tensor {
    /// Bicubic resize of the last two axes ([..., H, W] -> [..., height, width]), PyTorch's
    /// `F.interpolate(mode="bicubic", align_corners=False)`.
    public func resizedBicubic(height outH: Int, width outW: Int) -> Tensor {
        precondition(rank >= 2 && outH > 0 && outW > 0)
        let h = shape[rank - 2], w = shape[rank - 1]
        let planes = count / max(1, h * w)
        var out = Tensor(shape: Array(shape.dropLast(2)) + [outH, outW])
        if planes == 0 || h == 0 || w == 0 { return out }
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                Resize.bicubic(input: src.baseAddress!, height: h, width: w, channels: planes,
                               yStride: w, xStride: 1, channelStride: h * w,
                               output: dst.baseAddress!, outHeight: outH, outWidth: outW,
                               outYStride: outW, outXStride: 1, outChannelStride: outH * outW)
            }
        }
        return out
    }
}
