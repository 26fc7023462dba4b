import ArgumentParser
import CLIP
import ModelHub
import SAM3
import Tensor
import Foundation

/// `landscribe bench ...`
struct Bench: AsyncParsableCommand {
    /// The largest image side `bench` and `embed` take: 16,384 tokens for a patch of 16, where
    /// one forward already takes minutes on two cores and a few GiB.
    static let maxSize = 2048

    /// The checks every timing subcommand makes of --runs and --threads.
    static func validate(runs: Int, threads: Int?) throws {
        guard (1...1000).contains(runs) else { throw ValidationError("--runs must be from 1 to 1000, got \(runs)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
    }

    static let configuration = CommandConfiguration(
        abstract: "Measure the model's speed on this machine.",
        subcommands: [Encoder.self, Prompt.self, Gemm.self, AttentionHeads.self])
}

extension Bench {
    /// `landscribe bench encoder --model MODEL --size 512 [--batch 1] [--runs 3] [--threads N] --json`
    struct Encoder: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the image encoder forward on random pixels, the way segment runs it.",
            discussion: """
            Runs the vision tower, post layer norm and projection on --batch random inputs of \
            --size x --size pixels: once to warm up, then --runs times. With a SAM 3 model: the \
            vision backbone and FPN neck at the model's input size (what predict runs once per \
            image); GFLOP/s count the backbone and neck. A batch of 4 is what \
            segment runs per tile with the rotation ensemble. Prints size, batch, runs, \
            median_seconds (whole batch), seconds_per_image, gflops_per_second and threads, \
            plus every run's seconds, the C kernels' instruction set (kernels: avx512, avx2+fma \
            or baseline; LANDSCRIBE_KERNELS pins it), the matrix-product library (backend, \
            e.g. "onednn 2.6.3 (avx512_core_amx)"; LANDSCRIBE_BACKEND=onednn|openblas pins it) \
            and the products' precision (precision: f32 or bf16, --precision). \
            See docs/benchmarks.md for the side-by-side comparison with PyTorch.
            """)

        @Option(help: "A model folder in Hugging Face layout, or a model id in the cache.")
        var model: String = "openai/clip-vit-base-patch16"

        @Option(help: "Input side in pixels, at most 2048 (default 512 for CLIP; a SAM 3 model runs at its own input size, 1008 for facebook/sam3).")
        var size: Int?

        @Option(help: "Images per forward.")
        var batch: Int = 1

        @Option(help: "Timed runs (after one warm-up).")
        var runs: Int = 3

        @Option(help: "Worker threads (default: the number of cores).")
        var threads: Int?

        @OptionGroup var precision: PrecisionOption

        @Flag(help: "Print JSON (the default output; accepted for the contract of docs/bench.md).")
        var json = false

        func validate() throws {
            if let size, !(1...Bench.maxSize).contains(size) { throw ValidationError("--size must be from 1 to \(Bench.maxSize) pixels, got \(size)") }
            guard (1...64).contains(batch) else { throw ValidationError("--batch must be from 1 to 64, got \(batch)") }
            try Bench.validate(runs: runs, threads: threads)
        }

        func run() async throws {
            try await failing {
                let directory = try ModelStore().resolve(model)
                let result: EncoderBenchmark
                switch try ModelKind.detect(directory: directory) {
                case .clip:
                    let clip = try CLIPModel.load(directory: directory.path, precision: precision.value ?? .f32)
                    result = try clip.benchmarkImageEncoder(size: size ?? 512, batch: batch, runs: runs, threads: threads)
                case .sam3:
                    let config = try SAM3Config.load(file: directory.appendingPathComponent("config.json").path)
                    let n = config.visionConfig.backboneConfig.imageSize
                    if let size, size != n {
                        throw UserError("option --size: the SAM 3 model '\(model)' runs at its input size \(n) x \(n); got \(size)")
                    }
                    let sam = try SAM3Model.load(directory: directory.path, precision: precision.value ?? .f32)
                    result = try sam.vision.benchmark(batch: batch, runs: runs, threads: threads)
                }
                try printJSON(result)
            }
        }
    }
}

extension Bench {
    /// `landscribe bench gemm --m 4100 --n 3072 --k 768 [--threads N] [--runs 5] --json`
    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time one matrix product (sgemm) on the backend the encoder uses.",
            discussion: """
            Multiplies a random --m x --k matrix by a random --n x --k weight, transposed (as a \
            linear layer does), on --threads threads: once to warm up, then --runs times. Prints \
            m, n, k, threads, runs, median_seconds, gflops_per_second (2 m n k / median), every \
            run's seconds, backend and precision. LANDSCRIBE_BACKEND=onednn|openblas pins the backend; \
            --precision bf16 times the bf16 product (inputs rounded to bfloat16, f32 accumulation).
            """)

        @Option(help: "Rows of the product.") var m: Int = 4100
        @Option(help: "Columns of the product.") var n: Int = 3072
        @Option(help: "Inner size.") var k: Int = 768
        @Option(help: "Threads (default: the number of cores).") var threads: Int?
        @Option(help: "Timed runs (after one warm-up).") var runs: Int = 5
        @OptionGroup var precision: PrecisionOption
        @Flag(help: "Print JSON (the default output).") var json = false

        func validate() throws {
            guard m > 0, n > 0, k > 0, runs > 0 else { throw ValidationError("--m, --n, --k and --runs must be positive") }
            if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
        }

        func run() throws {
            let result = BLAS.benchmark(m: m, n: n, k: k, threads: threads ?? defaultThreads(), runs: runs,
                                        precision: precision.value ?? .f32)
            try printJSON(result)
        }
    }
}

extension Bench {
    /// `landscribe bench prompt --model SAM3_DIR [--text T] [--runs 3] [--threads N] --json`
    struct Prompt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time one SAM 3 text prompt on cached image features, the way segment runs each class.",
            discussion: """
            Computes the vision features of one random image and the text features of --text \
            once (untimed), then runs the DETR encoder and decoder, the scoring and the mask \
            decoder on them: once to warm up, then --runs times. Prints text, tokens, image_size, \
            runs, median_seconds, threads, every run's seconds and cpu_seconds, kernels, backend \
            and precision. See docs/benchmarks.md for the side-by-side comparison with PyTorch \
            (Tools/bench_torch_sam3.py --prompt).
            """)

        @Option(help: "A SAM 3 model folder in Hugging Face layout, or a model id in the cache.")
        var model: String

        @Option(help: "The text prompt.")
        var text: String = "a building"

        @Option(help: "Timed runs (after one warm-up).")
        var runs: Int = 3

        @Option(help: "Worker threads (default: the number of cores).")
        var threads: Int?

        @OptionGroup var precision: PrecisionOption

        @Flag(help: "Print JSON (the default output).")
        var json = false

        func validate() throws {
            try Bench.validate(runs: runs, threads: threads)
        }

        func run() async throws {
            try await failing {
                let directory = try ModelStore().resolve(model)
                guard try ModelKind.detect(directory: directory) == .sam3 else {
                    throw UserError("option --model: '\(model)' is a CLIP model; bench prompt times a SAM 3 model's prompt path (bench encoder times CLIP)")
                }
                let tokenizer = try CLIPTokenizer(directory: directory)
                let sam = try SAM3Model.load(directory: directory.path, precision: precision.value ?? .f32)
                let prompt = SAM3Prompt(text, tokenizer: tokenizer, length: sam.config.textConfig.maxPositionEmbeddings)
                Predict.warnIfTruncated(prompt)
                try printJSON(try sam.benchmarkPrompt(prompt, runs: runs, threads: threads))
            }
        }
    }
}

extension Bench {
    /// `landscribe bench attention [--tokens 5184] [--head-dim 32] [--heads 8] [--runs 5] [--threads N] --json`
    struct AttentionHeads: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "attention",
            abstract: "Time one self-attention over every head on the C attention kernels.",
            discussion: """
            Runs softmax(q k^T / sqrt(head_dim)) v for every head of --tokens random queries, keys \
            and values, the way the encoders do (keys and values packed once per head, then blocks \
            of query rows shared among --threads workers): once to warm up, then --runs times. The \
            defaults are a SAM 3 DETR encoder layer (5184 tokens, 8 heads of 32); 16 heads of 64 \
            are a global layer of its ViT, 1025 tokens and 12 heads of 64 CLIP ViT-B/16 at 512. \
            Prints tokens, head_dim, heads, threads, runs, median_seconds, gflops_per_second (the \
            two products, 4 heads tokens^2 head_dim, over the median; the exponentials not \
            counted), every run's seconds and cpu_seconds, and kernels (avx512, avx2+fma or \
            baseline; LANDSCRIBE_KERNELS pins it).
            """)

        @Option(help: "Queries and keys, 1 to 16384.") var tokens: Int = 5184
        @Option(name: .customLong("head-dim"), help: "Values per head, 1 to 256.") var headDim: Int = 32
        @Option(help: "Heads, 1 to 64.") var heads: Int = 8
        @Option(help: "Threads (default: the number of cores).") var threads: Int?
        @Option(help: "Timed runs (after one warm-up).") var runs: Int = 5
        @Flag(help: "Print JSON (the default output).") var json = false

        func validate() throws {
            guard (1...16384).contains(tokens) else { throw ValidationError("--tokens must be from 1 to 16384, got \(tokens)") }
            guard (1...256).contains(headDim) else { throw ValidationError("--head-dim must be from 1 to 256, got \(headDim)") }
            guard (1...64).contains(heads) else { throw ValidationError("--heads must be from 1 to 64, got \(heads)") }
            try Bench.validate(runs: runs, threads: threads)
        }

        func run() throws {
            try printJSON(Attention.benchmark(tokens: tokens, headDim: headDim, heads: heads,
                                              workers: threads ?? defaultThreads(), runs: runs))
        }
    }
}
