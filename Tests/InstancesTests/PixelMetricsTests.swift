import Instances
import Testing

@Suite("Pixel metrics from a confusion matrix")
struct PixelMetricsTests {
    @Test("classes absent from truth and prediction do not count; h-mIoU = 2su/(s+u)")
    func formula() {
        // Truth rows x predicted columns (a, b, c, d, none):
        //   a [8, 2, 0, 0, 0]   a: TP 8, FN 2, FP 0 -> 8/10 = 0.8
        //   b [0, 4, 0, 0, 2]   b: TP 4, FN 2, FP 2 + 2 -> 4/10 = 0.4
        //   c [0, 2, 0, 0, 0]   c: TP 0, FN 2, FP 0 -> 0
        //   d [0, 0, 0, 0, 0]   d: absent from both -> not in the mean
        // mIoU = 1.2 / 3 = 0.4; accuracy 12 / 18 (18 truth pixels). Unseen {c, d}: s = 0.6, u = 0 -> h = 0.
        let m = ConfusionMatrix(names: ["a", "b", "c", "d"], counts: [[8, 2, 0, 0, 0], [0, 4, 0, 0, 2], [0, 2, 0, 0, 0], [0, 0, 0, 0, 0]])
        let metrics = PixelMetrics(confusion: m, unseen: ["c", "d"])
        #expect(metrics.perClass.map(\.name) == ["a", "b", "c"])
        #expect(metrics.perClass.map(\.iou) == [0.8, 0.4, 0])
        #expect(abs(metrics.miou! - 0.4) < 1e-12 && abs(metrics.pixelAccuracy! - 12.0 / 18) < 1e-12)
        #expect(abs(metrics.smiou! - 0.6) < 1e-12 && metrics.umiou == 0 && metrics.hmiou == 0)
        let other = PixelMetrics(confusion: m, unseen: ["b"])
        // s = (0.8 + 0) / 2 = 0.4, u = 0.4 -> h = 2 * 0.16 / 0.8 = 0.4
        #expect(abs(other.hmiou! - 0.4) < 1e-12)
        #expect(metrics.unpredictedPixels == 2 && metrics.evaluatedPixels == 18)
    }

    @Test("no evaluated pixel gives no score (null), not 0")
    func empty() {
        let metrics = PixelMetrics(confusion: ConfusionMatrix(names: ["a", "b"]))
        #expect(metrics.miou == nil && metrics.pixelAccuracy == nil && metrics.evaluatedPixels == 0)
    }
}
