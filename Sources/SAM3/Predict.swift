// One image and text prompts through SAM 3 as `landscribe predict` runs them: the image input
// (resize and SAM 3's normalisation), prompts tokenized to the text encoder's context, and the
// objects above a score threshold (transformers' Sam3Processor.post_process_instance_segmentation:
// score = sigmoid(pred_logit) * sigmoid(presence_logit), boxes scaled to the image, masks
// upsampled bilinearly and thresholded at logit 0).
public import CLIP
public import Tensor
import Foundation

/// SAM 3's image input: RGB 0-255 resized to the model's square input size (PyTorch bilinear,
/// align_corners=False, no antialiasing) and normalised (x / 255 - 0.5) / 0.5.
public enum SAM3ImageInput {
    /// - Parameter rgb: channel-interleaved RGB, rgb[(y * width + x) * 3 + c], values 0-255.
    /// - Returns: channel-major [3, size, size].
    public static func normalized(rgb: [Float], height: Int, width: Int, size n: Int) -> [Float] {
        Bilinear.resize(rgb, height: height, width: width, channels: 3, toHeight: n, toWidth: n).map { ($0 / 255 - 0.5) / 0.5 }
    }
}

/// A text prompt as the text encoder's input: `length` ids (start, text, end, then end-of-text
/// as padding, as transformers' CLIPTokenizer pads), true in `mask` on start..end.
public struct SAM3Prompt: Sendable, Equatable {
    public let text: String
    public let ids: [Int]
    public let mask: [Bool]
    /// The tokens of the whole text with start and end, before truncation.
    public let fullLength: Int
    /// The text had more tokens than `length`: its first `length - 2` are kept, then the end token.
    public var truncated: Bool { fullLength > ids.count }

    public init(_ text: String, tokenizer: CLIPTokenizer, length: Int) {
        self.text = text
        let padded = tokenizer.encodePadded(text, length: length)
        let real = tokenizer.encode(text, contextLength: length).count
        ids = padded.ids.map(Int.init)
        mask = (0..<length).map { $0 < real }
        fullLength = tokenizer.tokenIDs(text).count + 2
    }
}

/// One object of a prediction.
public struct SAM3Object: Sendable, Equatable, Codable {
    /// The decoder query it comes from.
    public let query: Int
    /// sigmoid(pred_logit) x sigmoid(presence_logit).
    public let score: Float
    /// x0, y0, x1, y1 in pixels of the input image (before resizing).
    public let box: [Double]
    /// Pixels of the input image where the mask logits, upsampled bilinearly to the image size,
    /// are above 0.
    public let maskPixels: Int

    enum CodingKeys: String, CodingKey { case query, score, box, maskPixels = "mask_pixels" }
}

public enum SAM3Predictions {
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    /// sigmoid(presence_logit) of image `index`.
    public static func presence(_ out: SAM3Output, index: Int = 0) -> Float {
        sigmoid(out.presenceLogits.storage[index])
    }

    /// The objects of image `index` scoring above `threshold`, best first, for an input image of
    /// `width` x `height` pixels.
    public static func objects(_ out: SAM3Output, index: Int = 0, width: Int, height: Int, threshold: Float) -> [SAM3Object] {
        let q = out.predLogits.shape[1]
        let (h0, w0) = (out.predMasks.shape[2], out.predMasks.shape[3])
        let presence = self.presence(out, index: index)
        let ys = Bilinear.taps(height, from: h0), xs = Bilinear.taps(width, from: w0)
        var found = [SAM3Object]()
        for query in 0..<q {
            let score = sigmoid(out.predLogits.storage[index * q + query]) * presence
            guard score > threshold else { continue }
            let b = (index * q + query) * 4
            let box = (0..<4).map { Double(out.predBoxes.storage[b + $0]) * Double($0 % 2 == 0 ? width : height) }
            let start = (index * q + query) * h0 * w0
            let area = out.predMasks.storage.withUnsafeBufferPointer { all in
                let m = UnsafeBufferPointer(rebasing: all[start ..< start + h0 * w0])
                var count = 0
                for (y0, y1, ly) in ys {
                    for (x0, x1, lx) in xs {
                        let top = (1 - lx) * m[y0 * w0 + x0] + lx * m[y0 * w0 + x1]
                        let bottom = (1 - lx) * m[y1 * w0 + x0] + lx * m[y1 * w0 + x1]
                        if (1 - ly) * top + ly * bottom > 0 { count += 1 }
                    }
                }
                return count
            }
            found.append(SAM3Object(query: query, score: score, box: box, maskPixels: area))
        }
        return found.sorted { ($0.score, $1.query) > ($1.score, $0.query) }
    }
}
