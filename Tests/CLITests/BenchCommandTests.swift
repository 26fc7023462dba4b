import Foundation
import TestSupport
import Testing

/// `bench gemm`, `bench encoder` and `bench attention`: the JSON fields, and the backend and kernels they name as
/// LANDSCRIBE_BACKEND / LANDSCRIBE_KERNELS pin them (the child process's environment only).
@Suite("landscribe bench")
struct BenchCommandTests {
    static func json(_ r: CLI.Result) throws -> [String: Any] {
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test("bench gemm prints its fields and names the pinned backend",
          arguments: ["openblas", "onednn"])
    func gemm(_ backend: String) throws {
        let r = try CLI.run(["bench", "gemm", "--m", "37", "--n", "29", "--k", "13", "--threads", "1", "--runs", "2", "--json"],
                            environment: ["LANDSCRIBE_BACKEND": backend])
        let j = try Self.json(r)
        #expect(j["m"] as? Int == 37 && j["n"] as? Int == 29 && j["k"] as? Int == 13 && j["threads"] as? Int == 1 && j["runs"] as? Int == 2)
        #expect((j["seconds"] as? [Double])?.count == 2 && (j["median_seconds"] as? Double ?? 0) > 0 && (j["gflops_per_second"] as? Double ?? 0) > 0)
        #expect((j["backend"] as? String)?.hasPrefix(backend + " ") == true, "\(j["backend"] ?? "none")")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
    }

    @Test("bench attention prints its fields and names the pinned kernels; a bad size is one line, exit 1",
          arguments: ["baseline", "avx2"])
    func attention(_ kernels: String) throws {
        let r = try CLI.run(["bench", "attention", "--tokens", "300", "--head-dim", "32", "--heads", "3", "--threads", "2", "--runs", "3", "--json"],
                            environment: ["LANDSCRIBE_KERNELS": kernels])
        let j = try Self.json(r)
        #expect(j["tokens"] as? Int == 300 && j["head_dim"] as? Int == 32 && j["heads"] as? Int == 3 && j["threads"] as? Int == 2 && j["runs"] as? Int == 3)
        #expect((j["seconds"] as? [Double])?.count == 3 && (j["cpu_seconds"] as? [Double])?.count == 3)
        let median = try #require(j["median_seconds"] as? Double), gflops = try #require(j["gflops_per_second"] as? Double)
        #expect(median > 0 && abs(gflops - 4 * 3 * 300 * 300 * 32 / median / 1e9) < 1e-6 * gflops)
        #expect(j["kernels"] as? String == (kernels == "avx2" ? "avx2+fma" : "baseline"))
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let bad = try CLI.run(["bench", "attention", "--tokens", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--tokens must be from 1 to 16384, got 0"), "\(bad.stderr)")
    }

    @Test("an unknown LANDSCRIBE_BACKEND is one warning line on stderr, then the automatic backend")
    func unknownBackend() throws {
        let r = try CLI.run(["bench", "gemm", "--m", "8", "--n", "8", "--k", "8", "--runs", "1"], environment: ["LANDSCRIBE_BACKEND": "mkl"])
        let j = try Self.json(r)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("landscribe: warning: LANDSCRIBE_BACKEND='mkl' is not one of onednn, openblas, auto; using ") == true, "\(r.stderr)")
        #expect(j["backend"] is String)
    }

    @Test("bench encoder keeps its fields and adds backend and kernels", arguments: ["baseline", "avx2"])
    func encoder(_ kernels: String) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let r = try CLI.run(["bench", "encoder", "--model", model, "--size", "64", "--batch", "2", "--runs", "1", "--threads", "2", "--json"],
                            environment: ["LANDSCRIBE_BACKEND": "openblas", "LANDSCRIBE_KERNELS": kernels])
        let j = try Self.json(r)
        for key in ["size", "batch", "runs", "median_seconds", "seconds_per_image", "gflops_per_second", "threads", "backend", "kernels"] {
            #expect(j[key] != nil, "\(key) missing")
        }
        #expect(j["size"] as? Int == 64 && j["batch"] as? Int == 2 && j["threads"] as? Int == 2)
        #expect((j["backend"] as? String)?.hasPrefix("openblas ") == true)
        #expect(j["kernels"] as? String == (kernels == "avx2" ? "avx2+fma" : "baseline"))
    }

    @Test("bench prompt times the tiny SAM 3's prompt path and names the prompt's tokens; a CLIP model is one line, exit 1")
    func prompt() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let r = try CLI.run(["bench", "prompt", "--model", model, "--text", "a red car", "--runs", "2", "--threads", "2", "--json"])
        let j = try Self.json(r)
        #expect(j["text"] as? String == "a red car" && j["runs"] as? Int == 2 && j["threads"] as? Int == 2)
        #expect(j["tokens"] as? Int == PredictFixtures.golden.prompts.first { $0.text == "a red car" }.map { $0.attention_mask.reduce(0, +) })
        #expect(j["image_size"] as? Int == 224)
        #expect((j["seconds"] as? [Double])?.count == 2 && (j["cpu_seconds"] as? [Double])?.count == 2 && (j["median_seconds"] as? Double ?? 0) > 0)
        for key in ["kernels", "backend", "precision"] { #expect(j[key] is String, "\(key) missing") }

        let clip = try SegmentCommandTests.tinyModel(in: dir)
        let refused = try CLI.run(["bench", "prompt", "--model", clip, "--runs", "1"])
        #expect(refused.status == 1 && refused.stdout.isEmpty)
        #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.contains("is a CLIP model"), "\(refused.stderr)")
    }
}
