// `--precision bf16` on the tiny random CLIP: transformers' f32 outputs (the goldens of
// Tools/make_clip_fixtures.py) within bf16's tolerance, and the same bytes on any thread count.
import Testing
import Tensor
import CLIP

private let bf16Runs = MatrixPrecision.bf16.unavailableReason() == nil
private let bf16Skip: Comment = "bf16 products do not run here: \(MatrixPrecision.bf16.unavailableReason() ?? "")"

@Suite("CLIP with bf16 matrix products")
struct BF16ParityTests {
    static func model() throws -> CLIPModel { try CLIPModel.load(directory: Fixtures.tinyModel, precision: .bf16) }

    /// bf16 keeps 8 significant bits: 2e-2 of the largest value is the tolerance of a stack of
    /// a few layers of rounded products (the f32 parity tolerance is 1e-4).
    static let tolerance: Float = 2e-2

    @Test("get_image_features within 2e-2 of transformers' f32, and not equal to our f32",
          .enabled(if: bf16Runs, bf16Skip), arguments: ["image224", "image512", "image320x480"])
    func imageFeatures(_ name: String) throws {
        let model = try Self.model()
        #expect(model.precision == .bf16)
        let pixels = Fixtures.pixels(Fixtures.meta.images[name]!)
        let bf16 = try model.imageFeatures(pixels: pixels, threads: 2)
        expectClose(bf16, Fixtures.golden(name + ".features"), tolerance: Self.tolerance, "bf16 " + name)
        let f32 = try Fixtures.model().imageFeatures(pixels: pixels, threads: 2)
        #expect(bf16.storage != f32.storage, "bf16 gave the f32 bytes: the products were not rounded")
    }

    @Test("get_text_features within 2e-2 of transformers' f32", .enabled(if: bf16Runs, bf16Skip))
    func textFeatures() throws {
        expectClose(try Self.model().textFeatures(ids: Fixtures.meta.ids77), Fixtures.golden("text77.features"),
                    tolerance: Self.tolerance, "bf16 text77")
    }

    @Test("the same bytes on 1, 2 and 3 threads (a batch of 3 and a single image)", .enabled(if: bf16Runs, bf16Skip))
    func threads() throws {
        let model = try Self.model()
        let pair = Fixtures.pixels(Fixtures.meta.images["image224"]!)
        let plane = pair.count / 2
        let three = Tensor(shape: [3] + pair.shape.dropFirst(), storage: pair.storage + pair.storage[plane...])
        let one = Fixtures.pixels(Fixtures.meta.images["image512"]!)
        let reference = [try model.imageFeatures(pixels: three, threads: 1).storage, try model.imageFeatures(pixels: one, threads: 1).storage]
        for threads in [2, 3] {
            let got = [try model.imageFeatures(pixels: three, threads: threads).storage, try model.imageFeatures(pixels: one, threads: threads).storage]
            #expect(got == reference, "bf16 image features on \(threads) threads differ from 1 thread's")
        }
    }

    @Test("a CPU or backend without bf16 is refused when the model loads, naming why")
    func refused() throws {
        // Only checkable where bf16 cannot run; where it can, loading succeeds (the tests above).
        guard let reason = MatrixPrecision.bf16.unavailableReason() else {
            #expect(try Self.model().precision == .bf16)
            return
        }
        #expect(throws: CLIPError.invalidInput(reason)) { try Self.model() }
    }
}
