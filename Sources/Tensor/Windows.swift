// Non-overlapping square windows over a [B, H, W, C] grid, zero-padded at the bottom and right
// (transformers' `window_partition` / `window_unpartition` of SAM and SAM 3).

public enum Windows {
    /// Padded size of `n` for windows of `window`: the next multiple.
    public static func padded(_ n: Int, window: Int) -> Int { (n + window - 1) / window * window }

    /// [B, H, W, C] -> [B * (Hp/w) * (Wp/w), w, w, C], windows in row-major order per image, the
    /// grid zero-padded to Hp x Wp (multiples of w) at the bottom and right.
    public static func partition(_ x: Tensor, window: Int) -> Tensor {
        precondition(x.rank == 4 && window >= 1, "window partition needs [B, H, W, C], got \(x.shape)")
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (hp, wp) = (padded(h, window: window), padded(w, window: window))
        let (rows, cols) = (hp / window, wp / window)
        var out = Tensor(shape: [b * rows * cols, window, window, c])
        x.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for image in 0..<b {
                    for wy in 0..<rows { for wx in 0..<cols {
                        let win = dst.baseAddress! + ((image * rows + wy) * cols + wx) * window * window * c
                        for i in 0..<window {
                            let y = wy * window + i
                            guard y < h else { break }
                            let x0 = wx * window, n = min(window, w - x0)
                            guard n > 0 else { continue }
                            (win + i * window * c).update(from: src.baseAddress! + ((image * h + y) * w + x0) * c, count: n * c)
                        }
                    } }
                }
            }
        }
        return out
    }

    /// The inverse: [B * windows, w, w, C] -> [B, height, width, C], the padding dropped.
    public static func unpartition(_ windows: Tensor, window: Int, height h: Int, width w: Int) -> Tensor {
        let (hp, wp) = (padded(h, window: window), padded(w, window: window))
        let (rows, cols) = (hp / window, wp / window)
        precondition(windows.rank == 4 && windows.shape[1] == window && windows.shape[2] == window
                     && windows.shape[0] % (rows * cols) == 0,
                     "window unpartition of \(windows.shape) into \(h) x \(w) with window \(window)")
        let (b, c) = (windows.shape[0] / (rows * cols), windows.shape[3])
        var out = Tensor(shape: [b, h, w, c])
        windows.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for image in 0..<b {
                    for wy in 0..<rows { for wx in 0..<cols {
                        let win = src.baseAddress! + ((image * rows + wy) * cols + wx) * window * window * c
                        for i in 0..<window {
                            let y = wy * window + i
                            guard y < h else { break }
                            let x0 = wx * window, n = min(window, w - x0)
                            guard n > 0 else { continue }
                            (dst.baseAddress! + ((image * h + y) * w + x0) * c).update(from: win + i * window * c, count: n * c)
                        }
                    } }
                }
            }
        }
        return out
    }
}
