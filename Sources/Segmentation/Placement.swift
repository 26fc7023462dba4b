import Tiling

/// One rotation of a tile in the encoder's input and the way back (docs/METHOD.md section 3):
/// the tile turned `quarterTurns` times counter-clockwise (`torch.rot90(x, k)`), padded to whole
/// patches with the padding split evenly (the odd pixel at the bottom or right), one logit per
/// patch, and those logits upsampled, cropped and turned back onto the tile.
struct Placement {
    let height: Int, width: Int              // the tile
    let quarterTurns: Int
    let turnedHeight: Int, turnedWidth: Int
    let paddedHeight: Int, paddedWidth: Int
    let top: Int, left: Int                  // padding before the turned tile
    let gridHeight: Int, gridWidth: Int      // patches

    init(image: TileImage, quarterTurns: Int, patchSize p: Int) {
        (height, width) = (image.tile.height, image.tile.width)
        self.quarterTurns = quarterTurns & 3
        (turnedHeight, turnedWidth) = self.quarterTurns % 2 == 1 ? (width, height) : (height, width)
        let padH = (p - turnedHeight % p) % p, padW = (p - turnedWidth % p) % p
        (top, left) = (padH / 2, padW / 2)
        (paddedHeight, paddedWidth) = (turnedHeight + padH, turnedWidth + padW)
        (gridHeight, gridWidth) = (paddedHeight / p, paddedWidth / p)
    }

    var gridCount: Int { gridHeight * gridWidth }

    /// For pixel (row, col) of the turned tile, the pixel of the tile it shows.
    func source(row a: Int, col b: Int) -> (Int, Int) {
        switch quarterTurns {
        case 0: (a, b)
        case 1: (b, width - 1 - a)
        case 2: (height - 1 - a, width - 1 - b)
        default: (height - 1 - b, a)
        }
    }

    /// Steps 8-10 for the tile's rows `rows`: the patch logits `grid` ([gridHeight * gridWidth, K],
    /// channel-interleaved) upsampled bilinearly to the padded turned tile exactly as `Bilinear`,
    /// the padding cut off and the map turned back, written into `out` ([K, height, width]) or,
    /// with `accumulate`, added to what it holds; the result divided by `divisor` when one is given.
    func upsample(_ grid: UnsafePointer<Float>, channels: Int, rows: Range<Int>, into out: UnsafeMutablePointer<Float>,
                  accumulate: Bool, divisor: Float?) {
        let ys = Bilinear.taps(paddedHeight, from: gridHeight), xs = Bilinear.taps(paddedWidth, from: gridWidth)
        let plane = height * width, gw = gridWidth
        for i in rows {
            for j in 0..<width {
                // Where tile pixel (i, j) sits in the turned tile, then in the padded one.
                let (a, b): (Int, Int) = switch quarterTurns {
                case 0: (i, j)
                case 1: (width - 1 - j, i)
                case 2: (height - 1 - i, width - 1 - j)
                default: (j, height - 1 - i)
                }
                let (y0, y1, ly) = ys[a + top], (x0, x1, lx) = xs[b + left]
                let p00 = grid + (y0 * gw + x0) * channels, p01 = grid + (y0 * gw + x1) * channels
                let p10 = grid + (y1 * gw + x0) * channels, p11 = grid + (y1 * gw + x1) * channels
                let target = out + i * width + j
                for c in 0..<channels {
                    let upper = (1 - lx) * p00[c] + lx * p01[c]
                    let lower = (1 - lx) * p10[c] + lx * p11[c]
                    var value = (1 - ly) * upper + ly * lower
                    if accumulate { value = target[c * plane] + value }
                    if let divisor { value = value / divisor }
                    target[c * plane] = value
                }
            }
        }
    }
}
