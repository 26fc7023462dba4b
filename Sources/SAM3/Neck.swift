// SAM 3's FPN neck (transformers `Sam3VisionNeck`): one level per scale factor from the backbone's
// last hidden state, and the sine position encoding of each level.
import Foundation
import CLIP
public import Tensor

/// One `Sam3FPNLayer`: scale 4: conv-transpose 2/2 (D -> D/2), GELU, conv-transpose 2/2 (-> D/4);
/// scale 2: conv-transpose 2/2 (-> D/2); scale 1: nothing; scale 0.5: max-pool 2/2; then a 1x1
/// convolution to the FPN width and a 3x3 convolution (padding 1).
public struct SAM3FPNLevel: Sendable {
    public let scaleFactor: Float
    /// `scale_layers.0` and (scale 4) `scale_layers.2`; index 1 is the GELU.
    public let upsampling: [ConvTranspose2d]
    public let proj1: Conv2d
    public let proj2: Conv2d

    init(loader: inout WeightLoader, prefix: String, inChannels d: Int, fpnDim f: Int, scaleFactor: Float) throws {
        self.scaleFactor = scaleFactor
        func deconv(_ index: Int, _ i: Int, _ o: Int) throws -> ConvTranspose2d {
            ConvTranspose2d(weight: try loader.tensor(prefix + ".scale_layers.\(index).weight", shape: [i, o, 2, 2]),
                            bias: try loader.tensor(prefix + ".scale_layers.\(index).bias", shape: [o]), stride: 2)
        }
        let intermediate: Int
        switch scaleFactor {
        case 4: upsampling = [try deconv(0, d, d / 2), try deconv(2, d / 2, d / 4)]; intermediate = d / 4
        case 2: upsampling = [try deconv(0, d, d / 2)]; intermediate = d / 2
        default: upsampling = []; intermediate = d
        }
        proj1 = Conv2d(weight: try loader.tensor(prefix + ".proj1.weight", shape: [f, intermediate, 1, 1]),
                       bias: try loader.tensor(prefix + ".proj1.bias", shape: [f]))
        proj2 = Conv2d(weight: try loader.tensor(prefix + ".proj2.weight", shape: [f, f, 3, 3]),
                       bias: try loader.tensor(prefix + ".proj2.bias", shape: [f]), padding: 1)
    }

    /// [B, D, g, g] -> [B, fpn, g * scale, g * scale].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        if scaleFactor == 0.5 { h = h.maxPooled2d(kernel: 2, stride: 2) }
        for (i, deconv) in upsampling.enumerated() {
            h = deconv(h)
            if i + 1 < upsampling.count { // nn.GELU() between the two transposed convolutions (exact erf GELU)
                let planes = h.shape[0] * h.shape[1], plane = h.shape[2] * h.shape[3]
                h.storage.withUnsafeMutableBufferPointer { p in
                    Kernels.biasActivation(p.baseAddress!, rows: planes, cols: plane, stride: plane, bias: nil, activation: .gelu,
                                           workers: BLAS.threads)
                }
            }
        }
        return proj2(proj1(h))
    }
}

/// The sine position encoding of a level (transformers `Sam3SinePositionEmbedding` with
/// `num_position_features = fpn / 2`, normalize, scale 2 pi, temperature 10000, no mask), [B, fpn, H, W]:
/// channels 0..<F are y, F..<2F are x; with e_y = (y + 1) / (H + 1e-6) * 2 pi and t_i = 10000^(2 floor(i/2) / F),
/// channel 2k is sin(e / t_2k), 2k + 1 is cos(e / t_2k+1). Float32 arithmetic in PyTorch's order.
public enum SAM3SinePositionEncoding {
    public static func encoding(batch: Int, channels: Int, height: Int, width: Int) -> Tensor {
        precondition(channels % 4 == 0, "sine position encoding needs channels divisible by 4, got \(channels)")
        let f = channels / 2
        let scale = Float(2 * Double.pi), eps = Float(1e-6)
        let dimT = (0..<f).map { i in Foundation.pow(Float(10_000), Float(2 * (i / 2)) / Float(f)) }
        func features(_ index: Int, _ size: Int) -> [Float] {
            let e = Float(index + 1) / (Float(size) + eps) * scale
            return (0..<f).map { i in i % 2 == 0 ? Foundation.sin(e / dimT[i]) : Foundation.cos(e / dimT[i]) }
        }
        let ys = (0..<height).map { features($0, height) }, xs = (0..<width).map { features($0, width) }
        var out = Tensor(shape: [batch, channels, height, width])
        out.storage.withUnsafeMutableBufferPointer { p in
            let plane = height * width
            for c in 0..<f {
                // Channel c is constant along each row; channel f + c repeats one row.
                let yPlane = p.baseAddress! + c * plane, xPlane = p.baseAddress! + (f + c) * plane
                for y in 0..<height { (yPlane + y * width).update(repeating: ys[y][c], count: width) }
                for x in 0..<width { xPlane[x] = xs[x][c] }
                for y in stride(from: 1, to: height, by: 1) { (xPlane + y * width).update(from: xPlane, count: width) }
            }
            for image in stride(from: 1, to: batch, by: 1) { (p.baseAddress! + image * channels * plane).update(from: p.baseAddress!, count: channels * plane) }
        }
        return out
    }
}

/// transformers `Sam3VisionNeck`.
public struct SAM3VisionNeck: Sendable {
    public let levels: [SAM3FPNLevel]
    public let fpnHiddenSize: Int

    init(config: SAM3VisionConfig, loader: inout WeightLoader, prefix: String) throws {
        fpnHiddenSize = config.fpnHiddenSize
        levels = try config.scaleFactors.enumerated().map { i, scale in
            try SAM3FPNLevel(loader: &loader, prefix: prefix + "fpn_layers.\(i)", inChannels: config.backboneConfig.hiddenSize,
                             fpnDim: config.fpnHiddenSize, scaleFactor: scale)
        }
    }

    /// FPN levels and their position encodings for backbone features [B, D, g, g].
    public func callAsFunction(_ x: Tensor) -> (levels: [Tensor], positions: [Tensor]) {
        let outputs = levels.map { $0(x) }
        let positions = outputs.map {
            SAM3SinePositionEncoding.encoding(batch: $0.shape[0], channels: $0.shape[1], height: $0.shape[2], width: $0.shape[3])
        }
        return (outputs, positions)
    }
}
