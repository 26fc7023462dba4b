// Group normalisation and nearest-neighbour resizing on NCHW tensors, as PyTorch computes them.

extension Tensor {
    /// `nn.GroupNorm(groups, C, eps)` on [N, C, H, W]: each group of C / groups channels of an image
    /// normalised by its mean and biased variance over channels and positions, then per-channel
    /// `weight` and `bias` ([C]); with `thenReLU`, max(0, x) in the same pass. (Image, group)
    /// pairs are shared among `workers`.
    public func groupNormalized(groups: Int, weight: Tensor, bias: Tensor, eps: Float, thenReLU: Bool = false,
                                workers: Int = 1) -> Tensor {
        precondition(rank == 4 && groups > 0 && shape[1] % groups == 0, "groupNormalized(\(groups)) of \(shape)")
        let (n, c) = (shape[0], shape[1]), plane = shape[2] * shape[3], per = c / groups
        precondition(weight.shape == [c] && bias.shape == [c], "GroupNorm weight \(weight.shape), bias \(bias.shape) for \(c) channels")
        var out = self
        let count = Double(per * plane)
        out.storage.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            // One (image, group) per task; within a group the sums run in the same order on any number of workers.
            Parallel.forEach(tasks: n * groups, workers: workers) { task, _ in
                let (image, g) = (task / groups, task % groups)
                let values = base + (image * c + g * per) * plane
                // Two passes in Double: the mean, then the centred sum of squares.
                var sum = 0.0
                for i in 0..<per * plane { sum += Double(values[i]) }
                let mean = sum / count
                var squares = 0.0
                for i in 0..<per * plane { let d = Double(values[i]) - mean; squares += d * d }
                let inv = Float(1 / (squares / count + Double(eps)).squareRoot()), m = Float(mean)
                for k in 0..<per {
                    let channel = g * per + k, w = weight.storage[channel] * inv, b = bias.storage[channel]
                    let row = values + k * plane
                    if thenReLU {
                        for i in 0..<plane { row[i] = max(0, (row[i] - m) * w + b) }
                    } else {
                        for i in 0..<plane { row[i] = (row[i] - m) * w + b }
                    }
                }
            }
        }
        return out
    }

    /// `F.interpolate(mode="nearest")` of the last two axes to `height` x `width`: source index
    /// floor(dst * (in / out)) per axis (PyTorch's legacy nearest, not "nearest-exact").
    /// With `adding`, returns the resized tensor plus `adding` (its shape), in one pass; planes
    /// shared among `workers`.
    public func resizedNearest(height outH: Int, width outW: Int, adding other: Tensor? = nil, workers: Int = 1) -> Tensor {
        precondition(rank >= 2 && outH > 0 && outW > 0)
        let h = shape[rank - 2], w = shape[rank - 1], planes = count / max(1, h * w)
        let sy = Float(h) / Float(outH), sx = Float(w) / Float(outW)
        let ys = (0..<outH).map { min(Int((Float($0) * sy).rounded(.down)), h - 1) }
        let xs = (0..<outW).map { min(Int((Float($0) * sx).rounded(.down)), w - 1) }
        var out = other ?? Tensor(shape: Array(shape.dropLast(2)) + [outH, outW])
        precondition(out.shape == Array(shape.dropLast(2)) + [outH, outW], "resizedNearest adding \(out.shape) to \(shape) resized to \(outH) x \(outW)")
        let add: Float = other == nil ? 0 : 1
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                let (s, d) = (src.baseAddress!, dst.baseAddress!)
                Parallel.forEach(tasks: planes, workers: workers) { p, _ in
                    for (oy, y) in ys.enumerated() {
                        let row = d + (p * outH + oy) * outW, from = s + (p * h + y) * w
                        for (ox, x) in xs.enumerated() { row[ox] = add * row[ox] + from[x] }
                    }
                }
            }
        }
        return out
    }
}
