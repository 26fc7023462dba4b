import Tensor

/// CLIP's image input as transformers' `CLIPImageProcessor` makes it (without its centre crop):
/// pixels in 0..255, resized bilinearly (PyTorch's `align_corners=False`, no antialias), then
/// (x / 255 - mean) / std per channel with OpenAI CLIP's mean and std.
public enum CLIPImageInput {
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// An RGB image, channel-interleaved (`rgb[(y * width + x) * 3 + c]`, 0..255), as the
    /// normalised channel-major [3, size, size] input of the vision encoder.
    public static func normalized(rgb: [Float], height: Int, width: Int, size n: Int) -> [Float] {
        var out = Bilinear.resize(rgb, height: height, width: width, channels: 3, toHeight: n, toWidth: n)
        for c in 0..<3 {
            for i in 0..<(n * n) { out[c * n * n + i] = (out[c * n * n + i] / 255 - mean[c]) / std[c] }
        }
        return out
    }
}
