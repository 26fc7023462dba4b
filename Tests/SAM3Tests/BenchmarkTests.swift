import Testing
import CLIP
import SAM3

@Suite("SAM 3 encoder benchmark")
struct SAM3BenchmarkTests {
    /// The tiny fixture: image 224, patch 14 (g = 16, T = 256), width 64, MLP 160, 4 layers, global
    /// layers 1 and 3, window 8 (4 windows of 64 tokens); FPN 32 at scales 4, 2, 1, 0.5.
    @Test("FLOP counts of backbone and neck, counted by hand for the tiny config")
    func flops() throws {
        let config = try SAM3Fixtures.config()
        // patch embedding 2*256*3*196*64 = 19,267,584; per layer 256*64*(2*192 + 2*64 + 4*160) = 18,874,368;
        // global attention 4*256^2*64 = 16,777,216; windowed 4*4*64^2*64 = 4,194,304.
        // Sum: 19,267,584 + 4 x 18,874,368 + 2 x 16,777,216 + 2 x 4,194,304.
        #expect(config.visionConfig.backboneFlops == 136_708_096)
        // scale 4: 2*16^2*64*32*4 + 2*32^2*32*16*4 + 2*64^2*16*32 + 2*64^2*32*32*9 = 88,080,384
        // scale 2: 2*16^2*64*32*4 + 2*32^2*32*32 + 2*32^2*32*32*9 = 25,165,824
        // scale 1: 2*16^2*64*32 + 2*16^2*32*32*9 = 5,767,168; scale 0.5: 2*8^2*64*32 + 2*8^2*32*32*9 = 1,441,792
        #expect(config.visionConfig.neckFlops == 120_455_168)
    }

    @Test("benchmark runs the backbone and neck at the model's size and reports the counted work")
    func benchmark() throws {
        let model = try SAM3Fixtures.model()
        let result = try model.vision.benchmark(batch: 2, runs: 2, threads: 2)
        #expect(result.size == 224 && result.batch == 2 && result.runs == 2 && result.threads == 2 && result.seconds.count == 2)
        #expect(result.secondsPerImage == result.medianSeconds / 2)
        let flops = 2 * (model.config.visionConfig.backboneFlops + model.config.visionConfig.neckFlops)
        #expect(abs(result.gflopsPerSecond - flops / result.medianSeconds / 1e9) <= 1e-9 * result.gflopsPerSecond)
        #expect(throws: SAM3Error.self) { try model.vision.benchmark(batch: 0) }
    }
}
