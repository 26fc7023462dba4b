/// Bilinear resizing exactly as PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`
/// without antialiasing: source = (dst + 0.5) * in/out - 0.5, clamped at 0 (docs/METHOD.md
/// section 3 step 8).
public enum Bilinear {
    /// For each of `count` output positions along one axis: the two input positions it reads
    /// (the second clamped to the last) and the weight of the second.
    public static func taps(_ count: Int, from inSize: Int) -> [(Int, Int, Float)] {
        let scale = Float(inSize) / Float(count)
        return (0..<count).map { o in
            let s = max(0, (Float(o) + 0.5) * scale - 0.5)
            let i0 = min(Int(s), inSize - 1)
            let i1 = i0 < inSize - 1 ? i0 + 1 : i0
            return (i0, i1, s - Float(i0))
        }
    }

    /// - Parameters:
    ///   - input: channel-interleaved, input[(y * width + x) * channels + c].
    /// - Returns: channel-major, out[(c * toHeight + y) * toWidth + x].
    public static func resize(_ input: [Float], height gh: Int, width gw: Int, channels: Int, toHeight height: Int, toWidth width: Int) -> [Float] {
        precondition(input.count == gh * gw * channels)
        let ys = taps(height, from: gh), xs = taps(width, from: gw)
        var out = [Float](repeating: 0, count: channels * height * width)
        input.withUnsafeBufferPointer { g in
            out.withUnsafeMutableBufferPointer { o in
                for (y, (y0, y1, ly)) in ys.enumerated() {
                    for (x, (x0, x1, lx)) in xs.enumerated() {
                        let a = (y0 * gw + x0) * channels, b = (y0 * gw + x1) * channels
                        let c = (y1 * gw + x0) * channels, d = (y1 * gw + x1) * channels
                        for ch in 0..<channels {
                            let top = (1 - lx) * g[a + ch] + lx * g[b + ch]
                            let bottom = (1 - lx) * g[c + ch] + lx * g[d + ch]
                            o[(ch * height + y) * width + x] = (1 - ly) * top + ly * bottom
                        }
                    }
                }
            }
        }
        return out
    }
}
