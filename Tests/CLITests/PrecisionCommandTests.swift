import CLIP
import Foundation
import GeoIO
import Tensor
import TestSupport
import Testing

private let bf16Runs = MatrixPrecision.bf16.unavailableReason() == nil
private let bf16Skip: Comment = "bf16 products do not run here: \(MatrixPrecision.bf16.unavailableReason() ?? "")"

/// `--precision f32|bf16` (docs/segment.md, docs/bench.md): every command that runs a model takes it; bf16 where it
/// cannot run is a one-line usage error (exit 64); the outputs record the precision.
@Suite("--precision")
struct PrecisionCommandTests {
    /// Every computing command with `--precision VALUE`, `$M` the tiny CLIP, `$P` the tiny SAM 3, `$S` a scene, `$D` the folder.
    static let commands: [[String]] = [
        ["segment", "$S", "-o", "$D/out.tif", "--classes", "water; land", "--model", "$M", "--tile", "128", "--overlap", "32"],
        ["detect", "$S", "-o", "$D/out.geojson", "--classes", "water; land", "--model", "$M", "--tile", "128", "--overlap", "32"],
        ["embed", "--model", "$M", "--text", "a river"],
        ["bench", "encoder", "--model", "$M", "--size", "64", "--runs", "1"],
        ["bench", "gemm", "--m", "8", "--n", "8", "--k", "8", "--runs", "1"],
        ["predict", "--model", "$P", "--image", "$S", "--text", "a car"],
    ]

    static func arguments(_ command: [String], in dir: URL, clip: String, sam: String, scene: String) -> [String] {
        command.map {
            $0.replacingOccurrences(of: "$M", with: clip).replacingOccurrences(of: "$P", with: sam)
                .replacingOccurrences(of: "$S", with: scene).replacingOccurrences(of: "$D", with: dir.path)
        }
    }

    /// Runs `command` with `--precision value` in the environment given; checks the usage error's first line.
    static func refused(_ command: [String], _ value: String, environment: [String: String], message: String) throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SegmentCommandTests.tinyModel(in: dir), sam = try PredictFixtures.model(in: dir), scene = SegmentCommandTests.scene(in: dir)
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
        let r = try CLI.run(arguments(command, in: dir, clip: clip, sam: sam, scene: scene) + ["--precision", value], environment: environment)
        #expect(r.status == 64, "\(command[0]): status \(r.status): \(r.stderr)")
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains(message), "\(command[0]): \(first)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == before, "\(command[0]) wrote something")
    }

    @Test("bf16 with LANDSCRIBE_BACKEND=openblas is a usage error naming the option and the backend (the CPU, where it has no bf16)",
          arguments: commands)
    func openblas(_ command: [String]) throws {
        // A CPU without bf16 products is the first reason given, whatever the backend.
        try Self.refused(command, "bf16", environment: ["LANDSCRIBE_BACKEND": "openblas"],
                         message: MatrixPrecision.cpuHasBF16 ? "--precision bf16: bf16 runs on the onednn backend only, not openblas"
                                                             : "--precision bf16: bf16 needs a CPU with AVX512_BF16 or AMX-BF16")
    }

    @Test("bf16 on a CPU without AVX512_BF16 (oneDNN held to avx512_core or below) is a usage error naming why")
    func noBF16() throws {
        try Self.refused(Self.commands[0], "bf16", environment: ["DNNL_MAX_CPU_ISA": "AVX512_CORE"],
                         message: "--precision bf16: bf16 needs a CPU with AVX512_BF16 or AMX-BF16")
    }

    @Test("a precision that is neither f32 nor bf16 is a usage error", arguments: [commands[0], commands[2]])
    func unknown(_ command: [String]) throws {
        try Self.refused(command, "f16", environment: [:], message: "--precision: 'f16' is not one of f32, bf16")
    }

    @Test("segment records LANDSCRIBE_PRECISION (f32 by default, bf16 when asked), and bf16 maps are the same bytes on 1 and 3 threads",
          .enabled(if: bf16Runs, bf16Skip))
    func segmentProvenanceAndThreads() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SegmentCommandTests.tinyModel(in: dir)
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 300, height: 220, bands: 3) { b, x, y in Double((x * (b + 3) + y * (7 - b) + x * y / 13) % 256) }
        var maps: [String: Data] = [:]
        for (name, extra) in [("f32", [String]()), ("bf16-1", ["--precision", "bf16", "--threads", "1"]), ("bf16-3", ["--precision", "bf16", "--threads", "3"])] {
            let map = dir.appendingPathComponent("\(name).tif").path, probabilities = dir.appendingPathComponent("\(name).p.tif").path
            let r = try CLI.run(["segment", scene, "-o", map, "--probabilities", probabilities, "--classes", "water; land; tree, forest",
                                 "--model", model, "--tile", "128", "--overlap", "32", "--quiet"] + extra,
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache").path])
            try #require(r.status == 0, "\(r.stderr)")
            #expect(try RasterDataset(path: map).metadata["LANDSCRIBE_PRECISION"] == (name == "f32" ? "f32" : "bf16"))
            maps[name] = try Data(contentsOf: URL(fileURLWithPath: map)) + Data(contentsOf: URL(fileURLWithPath: probabilities))
        }
        let same = maps["bf16-1"] == maps["bf16-3"], differs = maps["bf16-1"] != maps["f32"]
        #expect(same, "bf16 outputs on 3 threads differ from 1 thread's")
        #expect(differs, "bf16 gave the f32 outputs")
    }

    @Test("the SAM 3 engine with bf16: the same bytes on 1 and 3 threads, LANDSCRIBE_PRECISION bf16", .enabled(if: bf16Runs, bf16Skip))
    func sam3Threads() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try PredictFixtures.model(in: dir)
        let scene = dir.appendingPathComponent("scene.tif").path
        SyntheticRaster.write(path: scene, width: 300, height: 220, bands: 3) { b, x, y in Double((x * (b + 3) + y * (7 - b) + x * y / 13) % 256) }
        var outputs: [Data] = []
        for threads in [1, 3] {
            let map = dir.appendingPathComponent("lc\(threads).tif").path, probabilities = dir.appendingPathComponent("p\(threads).tif").path
            let r = try CLI.run(["segment", scene, "-o", map, "--probabilities", probabilities, "--classes", "car, vehicle; tree; water",
                                 "--model", model, "--tile", "128", "--overlap", "32", "--object-threshold", "0.2", "--threads", "\(threads)",
                                 "--precision", "bf16", "--quiet"],
                                environment: ["LANDSCRIBE_CACHE": dir.appendingPathComponent("cache\(threads)").path])
            try #require(r.status == 0, "\(r.stderr)")
            #expect(try RasterDataset(path: map).metadata["LANDSCRIBE_PRECISION"] == "bf16")
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: map)) + Data(contentsOf: URL(fileURLWithPath: probabilities)))
        }
        let same = outputs[0] == outputs[1]
        #expect(same, "SAM 3 bf16 outputs on 3 threads differ from 1 thread's")
    }

    @Test("bench and predict name the precision", .enabled(if: bf16Runs, bf16Skip))
    func benchAndPredict() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SegmentCommandTests.tinyModel(in: dir), sam = try PredictFixtures.model(in: dir)
        for (precision, extra) in [("f32", [String]()), ("bf16", ["--precision", "bf16"])] {
            for args in [["bench", "encoder", "--model", clip, "--size", "64", "--runs", "1"], ["bench", "gemm", "--m", "8", "--n", "8", "--k", "8", "--runs", "1"]] {
                let j = try BenchCommandTests.json(try CLI.run(args + extra))
                #expect(j["precision"] as? String == precision, "\(args[1]): \(j["precision"] ?? "none")")
            }
            let dump = dir.appendingPathComponent("\(precision).safetensors").path
            let r = try CLI.run(["predict", "--model", sam, "--image", PredictFixtures.image, "--text", "a car", "--dump", dump, "--json"] + extra)
            let j = try BenchCommandTests.json(r)
            #expect(j["precision"] as? String == precision)
            #expect(try SafetensorsFile(path: dump).metadata["LANDSCRIBE_PRECISION"] == precision)
        }
    }
}
