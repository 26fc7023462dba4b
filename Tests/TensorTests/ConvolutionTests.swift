// Convolutions, pooling, axial RoPE and windows against PyTorch / transformers goldens
// (Tools/make_tensor_op_goldens.py). Values are O(1)-O(10); tolerances are relative to
// max(1, max |expected|).
import Testing
import Tensor

@Suite("Tensor convolution, pooling, RoPE and window ops against PyTorch")
struct ConvolutionTests {
    @Test("conv2d: 3x3 pad 1, 1x1, 3x3 stride 2, patch embedding 4/4, 5x5 stride 3 pad 2",
          arguments: ["conv3x3", "conv1x1", "conv3s2", "patch4", "conv5p2s3"])
    func conv2d(_ name: String) {
        let p = OpGoldens.parameters(name)
        let conv = Conv2d(weight: OpGoldens.tensor(name + ".weight"), bias: OpGoldens.optionalTensor(name + ".bias"),
                          stride: p.stride!, padding: p.padding!)
        #expect((conv.bias != nil) == p.bias!)
        expectMatches(conv(OpGoldens.tensor(name + ".input")), OpGoldens.tensor(name + ".output"), tolerance: 1e-5, name)
        // im2col one output row at a time (a budget below one row) and in bands of two rows.
        let input = OpGoldens.tensor(name + ".input")
        let outWidth = conv.outputSize(height: input.shape[2], width: input.shape[3]).width
        for budget in [1, 2 * conv.inChannels * conv.kernelHeight * conv.kernelWidth * outWidth] {
            let banded = Conv2d(weight: conv.weight, bias: conv.bias, stride: conv.stride, padding: conv.padding, columnBudget: budget)
            expectMatches(banded(input), OpGoldens.tensor(name + ".output"), tolerance: 1e-5,
                          name + " budget \(budget)")
        }
    }

    @Test("conv_transpose2d: 2x2 stride 2 (SAM 3's FPN), 3x3 stride 2 pad 1, 3x3 stride 1",
          arguments: ["deconv2s2", "deconv3s2p1", "deconv3s1"])
    func convTranspose2d(_ name: String) {
        let p = OpGoldens.parameters(name)
        let conv = ConvTranspose2d(weight: OpGoldens.tensor(name + ".weight"), bias: OpGoldens.optionalTensor(name + ".bias"),
                                   stride: p.stride!, padding: p.padding!)
        expectMatches(conv(OpGoldens.tensor(name + ".input")), OpGoldens.tensor(name + ".output"), tolerance: 1e-5, name)
    }

    @Test("max_pool2d: kernel 2 stride 2 on odd sizes, kernel 3 stride 2", arguments: ["maxpool2", "maxpool3s2"])
    func maxPool(_ name: String) {
        let p = OpGoldens.parameters(name)
        let out = OpGoldens.tensor(name + ".input").maxPooled2d(kernel: p.kernel!, stride: p.stride!)
        // A maximum is one of the inputs: exact.
        expectMatches(out, OpGoldens.tensor(name + ".output"), tolerance: 0, name)
    }

    @Test("axial 2-D RoPE as transformers' Sam3ViTRotaryEmbedding: windowed and global layers",
          arguments: ["rope_window", "rope_global", "rope_global_hd32"])
    func rotary(_ name: String) {
        let p = OpGoldens.parameters(name)
        let rope = AxialRotaryEmbedding(headDim: p.head_dim!, gridHeight: p.grid!, gridWidth: p.grid!,
                                        scale: Float(p.scale!), theta: Float(p.theta!))
        expectMatches(rope(OpGoldens.tensor(name + ".q")), OpGoldens.tensor(name + ".q_rotated"), tolerance: 1e-5, name + " q")
        expectMatches(rope(OpGoldens.tensor(name + ".k")), OpGoldens.tensor(name + ".k_rotated"), tolerance: 1e-5, name + " k")
    }

    @Test("window partition (zero padding bottom/right) and unpartition (padding dropped)",
          arguments: ["windows_pad", "windows_exact"])
    func windows(_ name: String) {
        let p = OpGoldens.parameters(name)
        let input = OpGoldens.tensor(name + ".input")
        #expect(Windows.padded(input.shape[1], window: p.window!) == p.padded![0])
        #expect(Windows.padded(input.shape[2], window: p.window!) == p.padded![1])
        expectMatches(Windows.partition(input, window: p.window!), OpGoldens.tensor(name + ".windows"), tolerance: 0, name)
        let back = Windows.unpartition(OpGoldens.tensor(name + ".changed"), window: p.window!,
                                       height: input.shape[1], width: input.shape[2])
        expectMatches(back, OpGoldens.tensor(name + ".unpartitioned"), tolerance: 0, name + " unpartition")
        // The round trip is the identity.
        #expect(Windows.unpartition(Windows.partition(input, window: p.window!), window: p.window!,
                                    height: input.shape[1], width: input.shape[2]) == input)
    }

    @Test("group norm (SAM 3's pixel decoder) on values with an offset mean", arguments: ["groupnorm8", "groupnorm2"])
    func groupNorm(_ name: String) {
        let out = OpGoldens.tensor(name + ".input").groupNormalized(groups: OpGoldens.parameters(name).groups!,
                                                                   weight: OpGoldens.tensor(name + ".weight"),
                                                                   bias: OpGoldens.tensor(name + ".bias"), eps: 1e-5)
        expectMatches(out, OpGoldens.tensor(name + ".output"), tolerance: 1e-5, name)
        // In place with the pixel decoder's ReLU, on 1-3 workers: max(0, those values), exactly.
        for workers in 1...3 {
            var x = OpGoldens.tensor(name + ".input")
            x.groupNormalize(groups: OpGoldens.parameters(name).groups!, weight: OpGoldens.tensor(name + ".weight"),
                             bias: OpGoldens.tensor(name + ".bias"), eps: 1e-5, thenReLU: true, workers: workers)
            #expect(x.shape == out.shape && x.storage == out.storage.map { max(0, $0) }, "\(name) on \(workers) workers")
        }
        // No images, or empty planes: nothing to do, no crash.
        for shape in [[0, 4, 3, 3], [2, 4, 0, 3]] {
            let empty = Tensor(shape: shape)
            #expect(empty.groupNormalized(groups: 2, weight: Tensor(shape: [4], storage: [1, 1, 1, 1]),
                                          bias: Tensor(shape: [4]), eps: 1e-5, workers: 2).shape == shape)
        }
    }

    @Test("nearest resize as F.interpolate(mode: nearest): 2x, odd ratios, down", arguments: ["nearest2x", "nearest_odd", "nearest_down"])
    func nearest(_ name: String) {
        let size = OpGoldens.parameters(name).size!
        // Copies of inputs: exact.
        expectMatches(OpGoldens.tensor(name + ".input").resizedNearest(height: size[0], width: size[1]),
                      OpGoldens.tensor(name + ".output"), tolerance: 0, name)
    }
}
