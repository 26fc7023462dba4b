import Tensor
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

    /// Floats of `interpolateAlongRows`' output: [K, gridHeight, paddedWidth].
    func rowInterpolationCount(channels: Int) -> Int { channels * gridHeight * paddedWidth }

    /// Step 8, first half: each grid row of the patch logits `grid` ([gridHeight * gridWidth, K],
    /// channel-interleaved) interpolated along the row to the padded width, into `out`
    /// ([K, gridHeight, paddedWidth]). `Bilinear`'s horizontal taps, in its order of operations.
    func interpolateAlongRows(_ grid: UnsafePointer<Float>, channels: Int, into out: UnsafeMutablePointer<Float>) {
        let xs = Bilinear.taps(paddedWidth, from: gridWidth)
        for y in 0..<gridHeight {
            let row = grid + y * gridWidth * channels
            for (x, (x0, x1, lx)) in xs.enumerated() {
                let (left, right) = (row + x0 * channels, row + x1 * channels)
                for c in 0..<channels {
                    out[(c * gridHeight + y) * paddedWidth + x] = (1 - lx) * left[c] + lx * right[c]
                }
            }
        }
    }

    /// Step 8, second half, and steps 9-10, for the tile's rows `rows`: the rows from
    /// `interpolateAlongRows` interpolated between grid rows (together exactly `Bilinear` to the
    /// padded turned tile), the padding cut off and the map turned back, written into `out`
    /// ([K, height, width]) or, with `accumulate`, added to what it holds; the result divided by
    /// `divisor` when one is given.
    func upsample(alongRows interpolated: UnsafePointer<Float>, channels: Int, rows: Range<Int>,
                  into out: UnsafeMutablePointer<Float>, accumulate: Bool, divisor: Float?) {
        let ys = Bilinear.taps(paddedHeight, from: gridHeight)
        let plane = height * width, planeIn = gridHeight * paddedWidth, pw = paddedWidth
        @inline(__always) func put(_ value: Float, _ target: UnsafeMutablePointer<Float>) {
            var value = value
            if accumulate { value = target.pointee + value }
            if let divisor { value = value / divisor }
            target.pointee = value
        }
        for i in rows {
            for c in 0..<channels {
                let source = interpolated + c * planeIn, target = out + c * plane + i * width
                // Where tile pixel (i, j) sits in the turned tile: row a, column b; then padded.
                switch quarterTurns {
                case 0, 2:                                // a fixed along the row, b = j or width - 1 - j
                    let (y0, y1, ly) = ys[(quarterTurns == 0 ? i : height - 1 - i) + top]
                    let (upper, lower) = (source + y0 * pw + left, source + y1 * pw + left)
                    if quarterTurns == 0 {
                        for j in 0..<width { put((1 - ly) * upper[j] + ly * lower[j], target + j) }
                    } else {
                        for j in 0..<width { put((1 - ly) * upper[width - 1 - j] + ly * lower[width - 1 - j], target + j) }
                    }
                default:                                  // b fixed along the row, a = width - 1 - j or j
                    let column = source + (quarterTurns == 1 ? i : height - 1 - i) + left
                    for j in 0..<width {
                        let (y0, y1, ly) = ys[(quarterTurns == 1 ? width - 1 - j : j) + top]
                        put((1 - ly) * column[y0 * pw] + ly * column[y1 * pw], target + j)
                    }
                }
            }
        }
    }
}
