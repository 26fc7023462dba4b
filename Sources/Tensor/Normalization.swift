// Group normalisation and nearest-neighbour resizing on NCHW tensors, as PyTorch computes them.

extension Tensor {
    /// `nn.GroupNorm(groups, C, eps)` on [N, C, H, W]: each group of C / groups channels of an image
    /// normalised by its mean and biased variance over channels and positions, then per-channel
    /// `weight` and `bias` ([C]); with `thenReLU`, max(0, x) in the same pass. (Image, group)
    /// pairs are shared among `workers`.
    public func groupNormalized(groups: Int, weight: Tensor, bias: Tensor, eps: Float, thenReLU: Bool = false,
                                workers: Int = 1) -> Tensor {
        var out = self
        out.groupNormalize(groups: groups, weight: weight, bias: bias, eps: eps, thenReLU: thenReLU, workers: workers)
        return out
    }

    /// `groupNormalized` in place: no second tensor of the input's size (SAM 3's pixel decoder
    /// normalises 85 MB planes).
    public mutating func groupNormalize(groups: Int, weight: Tensor, bias: Tensor, eps: Float, thenReLU: Bool = false,
                                        workers: Int = 1) {
        precondition(rank == 4 && groups > 0 && shape[1] % groups == 0, "groupNormalized(\(groups)) of \(shape)")
        let (n, c) = (shape[0], shape[1]), plane = shape[2] * shape[3], per = c / groups
        precondition(weight.shape == [c] && bias.shape == [c], "GroupNorm weight \(weight.shape), bias \(bias.shape) for \(c) channels")
        if self.count == 0 { return }
        let count = Double(per * plane)
        // One (image, group) per task; within a group the sums run in the same order on any number of workers.
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEach(tasks: n * groups, workers: workers) { task, _ in
                let (image, g) = (task / groups, task % groups)
                let offset = (image * c + g * per) * plane, values = base + offset
                // Two passes in Double: the mean, then the centred sum of squares.
                let mean = Self.sum(values, count: per * plane) { $0 } / count
                let squares = Self.sum(values, count: per * plane) { ($0 - mean) * ($0 - mean) }
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
    }

    /// The sum in Double of `term(Double(x[i]))` over `count` values, in eight running sums (one
    /// sum's chain of additions waits on each add's latency), added up in a fixed order.
    private static func sum(_ x: UnsafePointer<Float>, count: Int, _ term: (Double) -> Double) -> Double {
        var lanes = SIMD8<Double>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            lanes += SIMD8<Double>(term(Double(x[i])), term(Double(x[i + 1])), term(Double(x[i + 2])), term(Double(x[i + 3])),
                                   term(Double(x[i + 4])), term(Double(x[i + 5])), term(Double(x[i + 6])), term(Double(x[i + 7])))
            i += 8
        }
        var total = 0.0
        for lane in 0..<8 { total += lanes[lane] }
        while i < count { total += term(Double(x[i])); i += 1 }
        return total
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
        let outShape = Array(shape.dropLast(2)) + [outH, outW]
        if let other { precondition(other.shape == outShape, "resizedNearest adding \(other.shape) to \(shape) resized to \(outH) x \(outW)") }
        let addend = other?.storage ?? []
        return storage.withUnsafeBufferPointer { src in
            addend.withUnsafeBufferPointer { plus in
                Tensor(shape: outShape) { d in
                    let s = src.baseAddress!
                    Parallel.forEach(tasks: planes, workers: workers) { p, _ in
                        for (oy, y) in ys.enumerated() {
                            let offset = (p * outH + oy) * outW, row = d + offset, from = s + (p * h + y) * w
                            if other != nil { // (an empty array's buffer may still have an address)
                                for (ox, x) in xs.enumerated() { row[ox] = plus[offset + ox] + from[x] }
                            } else {
                                for (ox, x) in xs.enumerated() { row[ox] = from[x] }
                            }
                        }
                    }
                }
            }
        }
    }
}
