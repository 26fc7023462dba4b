// Non-overlapping square windows over a [B, H, W, C] grid, zero-padded at the bottom and right
// (transformers' `window_partition` / `window_unpartition` of SAM and SAM 3).

public enum Windows {
    /// Padded size of `n` for windows of `window`: the next multiple.
    public static func padded(_ n: Int, window: Int) -> Int { (n + window - 1) / window * window }

    /// Where each token of one image's h x w grid sits among the sequences attention runs over:
    /// windows of w x w in row-major order over the grid zero-padded to multiples of w, each
    /// window's tokens row-major (`partition`), or, with window 0, the grid itself as one
    /// sequence. Described as runs: tokens of one grid row that are consecutive rows of one
    /// window, each followed by its zero padding rows.
    public struct Layout: Sendable {
        public let height: Int, width: Int, window: Int

        public init(height: Int, width: Int, window: Int) {
            precondition(height >= 0 && width >= 0 && window >= 0, "window layout \(height) x \(width), window \(window)")
            self.height = height
            self.width = width
            self.window = window
        }

        public var tokensPerSequence: Int { window > 0 ? window * window : height * width }
        public var sequences: Int { window > 0 ? windowRows * windowColumns : 1 }
        private var windowRows: Int { padded(height, window: window) / window }
        private var windowColumns: Int { padded(width, window: window) / window }

        /// Runs: one per row of every window; without windows, the grid in row chunks
        /// (`Parallel.rowChunks`: independent pieces of row-wise work).
        public var runs: Int { window > 0 ? sequences * window : Parallel.rowChunks(height * width) }

        /// Run `index`: `length` tokens from grid token `token` on are sequence rows `row` on,
        /// followed by `padding` zero rows.
        public func run(_ index: Int) -> (token: Int, row: Int, length: Int, padding: Int) {
            guard window > 0 else {
                let rows = Parallel.share(height * width, worker: index, of: runs)
                return (rows.lowerBound, rows.lowerBound, rows.count, 0)
            }
            let s = index / window, i = index % window
            let y = (s / windowColumns) * window + i, x0 = (s % windowColumns) * window
            let length = y < height ? max(0, min(window, width - x0)) : 0
            return (length > 0 ? y * width + x0 : 0, index * window, length, window - length)
        }
    }

    /// [B, H, W, C] -> [B * (Hp/w) * (Wp/w), w, w, C], windows in row-major order per image, the
    /// grid zero-padded to Hp x Wp (multiples of w) at the bottom and right.
    public static func partition(_ x: Tensor, window: Int) -> Tensor {
        precondition(x.rank == 4 && window >= 1, "window partition needs [B, H, W, C], got \(x.shape)")
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let layout = Layout(height: h, width: w, window: window)
        let each = layout.sequences * layout.tokensPerSequence
        var out = Tensor(shape: [b * layout.sequences, window, window, c])
        x.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for image in 0..<b {
                    for index in 0..<layout.runs {
                        let r = layout.run(index)
                        (dst.baseAddress! + (image * each + r.row) * c)
                            .update(from: src.baseAddress! + (image * h * w + r.token) * c, count: r.length * c)
                    }
                }
            }
        }
        return out
    }

    /// The inverse: [B * windows, w, w, C] -> [B, height, width, C], the padding dropped.
    public static func unpartition(_ windows: Tensor, window: Int, height h: Int, width w: Int) -> Tensor {
        let layout = Layout(height: h, width: w, window: window)
        precondition(windows.rank == 4 && windows.shape[1] == window && windows.shape[2] == window
                     && windows.shape[0] % layout.sequences == 0,
                     "window unpartition of \(windows.shape) into \(h) x \(w) with window \(window)")
        let (b, c) = (windows.shape[0] / layout.sequences, windows.shape[3])
        let each = layout.sequences * layout.tokensPerSequence
        var out = Tensor(shape: [b, h, w, c])
        windows.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for image in 0..<b {
                    for index in 0..<layout.runs {
                        let r = layout.run(index)
                        (dst.baseAddress! + (image * h * w + r.token) * c)
                            .update(from: src.baseAddress! + (image * each + r.row) * c, count: r.length * c)
                    }
                }
            }
        }
        return out
    }
}
