// Max pooling on NCHW tensors, PyTorch's `nn.MaxPool2d` without padding (floor mode).

extension Tensor {
    /// `F.max_pool2d(x, kernel, stride)` on [N, C, H, W] (no padding, dilation 1, ceil_mode False):
    /// output floor((H - kernel) / stride) + 1 per axis; NaN wins as in PyTorch.
    public func maxPooled2d(kernel: Int, stride: Int? = nil) -> Tensor {
        let s = stride ?? kernel
        precondition(rank == 4 && kernel >= 1 && s >= 1, "maxPooled2d needs [N, C, H, W], got \(shape)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        precondition(h >= kernel && w >= kernel, "maxPooled2d kernel \(kernel) larger than \(h) x \(w)")
        let (oh, ow) = ((h - kernel) / s + 1, (w - kernel) / s + 1)
        var out = Tensor(shape: [shape[0], shape[1], oh, ow])
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for p in 0..<planes {
                    let plane = src.baseAddress! + p * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var best = -Float.infinity
                            for ky in 0..<kernel {
                                let row = plane + (oy * s + ky) * w + ox * s
                                for kx in 0..<kernel {
                                    let v = row[kx]
                                    if v > best || v.isNaN { best = v }
                                    if best.isNaN { break }
                                }
                            }
                            dst[(p * oh + oy) * ow + ox] = best
                        }
                    }
                }
            }
        }
        return out
    }
}
