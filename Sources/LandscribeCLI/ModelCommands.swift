import ArgumentParser
import CLIP
import ModelHub
import SAM3
import Foundation

/// `landscribe model ...`
struct Model: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download and inspect CLIP models.",
        discussion: """
        MODEL anywhere in landscribe is a folder in Hugging Face layout (config.json, \
        model.safetensors, vocab.json, merges.txt) or a model id resolved in the cache \
        ($LANDSCRIBE_CACHE, default ~/.cache/landscribe). See docs/model.md.
        """,
        subcommands: [Fetch.self, Inspect.self])
}

extension Model {
    /// `landscribe model fetch ID [--revision main]`
    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a model into the cache (resumable; the cache gets it whole or not at all).",
            discussion: """
            Downloads config.json, model.safetensors, vocab.json and merges.txt of ID from the \
            Hugging Face hub ($LANDSCRIBE_HUB_URL overrides the address). An interrupted \
            download resumes where it stopped when run again. On a machine without internet, \
            copy a model folder by other means and pass it as --model DIR. Gated models \
            (facebook/sam3) need an access token: accept the licence on the model's page, \
            create a token in the hub's settings and set HF_TOKEN (or pass --token); it is sent \
            to the hub only and never printed or written.
            """)

        @Argument(help: "A Hugging Face model id, e.g. openai/clip-vit-base-patch16.")
        var id: String

        @Option(help: "The revision (branch, tag or commit) to download.")
        var revision: String = "main"

        @Flag(help: "Print nothing but errors.")
        var quiet = false

        @Option(help: ArgumentHelp("An access token for a gated or private model (default: $HF_TOKEN, which keeps it out of the process list).", valueName: "token"))
        var token: String?

        func run() async throws {
            try await failing {
                let modelID = try ModelID(id)
                let store = ModelStore()
                let downloader = ModelDownloader(store: store, hubURL: try ModelDownloader.hubURL(),
                                                 token: token ?? ModelDownloader.token())
                let line = ProgressLine(enabled: !quiet)
                let folder = try await downloader.fetch(modelID, revision: revision) { p in line.update(p.description) }
                line.finish()
                if !quiet { print("\(modelID) (\(revision)) is in \(folder.path)") }
            }
        }
    }
}

extension Model {
    /// `landscribe model inspect MODEL [--json]`
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a model's architecture and parameter count.",
            discussion: """
            Reads config.json and the header of model.safetensors (the weights themselves are \
            not loaded): the vision and text towers, the projection, the weights' data types and \
            the number of parameters. JSON fields: model, path, vision {hidden_size, layers, \
            heads, patch_size, image_size, hidden_act}, text {hidden_size, layers, heads, \
            vocab_size, hidden_act}, projection_dim, parameters, dtypes. A SAM 3 folder \
            (model_type sam3): model, path, model_type, parameters, dtypes, parts {name: \
            parameters}, vision {hidden_size, layers, heads, patch_size, image_size, window_size, \
            global_layers, fpn_hidden_size}, text {hidden_size, layers, heads, vocab_size, \
            context}, detr {encoder_layers, decoder_layers, queries}.
            """)

        @Argument(help: "A model folder in Hugging Face layout, or a model id in the cache.")
        var model: String

        @Flag(help: "Print a JSON object instead of text.")
        var json = false

        func run() async throws {
            try await failing {
                let directory = try ModelStore().resolve(model)
                if try ModelKind.detect(directory: directory) == .sam3 { return try inspectSAM3(directory) }
                let config = try CLIPConfig.load(file: directory.appendingPathComponent("config.json").path)
                let weights = try SafetensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
                let parameters = weights.entries.filter { !$0.key.hasSuffix("position_ids") }.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
                let dtypes = Set(weights.entries.values.map(\.dtype.rawValue)).sorted()
                let v = config.visionConfig, t = config.textConfig
                if json {
                    try printJSON(["model": model, "path": directory.path, "parameters": parameters, "dtypes": dtypes,
                                   "projection_dim": config.projectionDim,
                                   "vision": ["hidden_size": v.hiddenSize, "layers": v.numHiddenLayers, "heads": v.numAttentionHeads,
                                              "patch_size": v.patchSize, "image_size": v.imageSize, "hidden_act": v.hiddenAct.rawValue],
                                   "text": ["hidden_size": t.hiddenSize, "layers": t.numHiddenLayers, "heads": t.numAttentionHeads,
                                            "vocab_size": t.vocabSize, "hidden_act": t.hiddenAct.rawValue]] as [String: Any])
                    return
                }
                print("""
                \(model) (\(directory.path))
                  vision   ViT, patch \(v.patchSize), image \(v.imageSize), \(v.numHiddenLayers) layers, width \(v.hiddenSize), \(v.numAttentionHeads) heads, \(v.hiddenAct.rawValue)
                  text     \(t.numHiddenLayers) layers, width \(t.hiddenSize), \(t.numAttentionHeads) heads, vocabulary \(t.vocabSize), \(t.hiddenAct.rawValue)
                  joint    projection to \(config.projectionDim)
                  weights  \(String(format: "%.1f", Double(parameters) / 1e6)) M parameters (\(dtypes.joined(separator: ", ")))
                """)
            }
        }

        /// A SAM 3 folder: the parts of the checkpoint and their parameters, from the header.
        func inspectSAM3(_ directory: URL) throws {
            let config = try SAM3Config.load(file: directory.appendingPathComponent("config.json").path)
            let weights = try SafetensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
            var parts = [String: Int]()
            for (key, entry) in weights.entries where !key.hasSuffix("position_ids") {
                let part = SAM3Checkpoint.Part.of(key).map { String($0.rawValue.dropLast()) } ?? "other"
                parts[part, default: 0] += entry.shape.reduce(1, *)
            }
            let parameters = parts.values.reduce(0, +)
            let dtypes = Set(weights.entries.values.map(\.dtype.rawValue)).sorted()
            let b = config.visionConfig.backboneConfig, t = config.textConfig
            if json {
                try printJSON(["model": model, "path": directory.path, "model_type": "sam3", "parameters": parameters, "dtypes": dtypes,
                               "parts": parts,
                               "vision": ["hidden_size": b.hiddenSize, "layers": b.numHiddenLayers, "heads": b.numAttentionHeads,
                                          "patch_size": b.patchSize, "image_size": b.imageSize, "window_size": b.windowSize,
                                          "global_layers": b.globalAttnIndexes, "fpn_hidden_size": config.visionConfig.fpnHiddenSize] as [String: Any],
                               "text": ["hidden_size": t.hiddenSize, "layers": t.numHiddenLayers, "heads": t.numAttentionHeads,
                                        "vocab_size": t.vocabSize, "context": t.maxPositionEmbeddings],
                               "detr": ["encoder_layers": config.detrEncoderConfig.numLayers, "decoder_layers": config.detrDecoderConfig.numLayers,
                                        "queries": config.detrDecoderConfig.numQueries]] as [String: Any])
                return
            }
            func millions(_ n: Int) -> String {
                n >= 1_000_000 ? String(format: "%.1f M", Double(n) / 1e6) : String(format: "%.1f k", Double(n) / 1e3)
            }
            print("""
            \(model) (\(directory.path))
              model    SAM 3 (model_type sam3)
              vision   ViT, patch \(b.patchSize), image \(b.imageSize), \(b.numHiddenLayers) layers, width \(b.hiddenSize), \(b.numAttentionHeads) heads, window \(b.windowSize), global layers \(b.globalAttnIndexes.map(String.init).joined(separator: ", ")); FPN \(config.visionConfig.fpnHiddenSize)
              text     CLIP text, \(t.numHiddenLayers) layers, width \(t.hiddenSize), \(t.numAttentionHeads) heads, vocabulary \(t.vocabSize), context \(t.maxPositionEmbeddings)
              detr     encoder \(config.detrEncoderConfig.numLayers) layers, decoder \(config.detrDecoderConfig.numLayers) layers, \(config.detrDecoderConfig.numQueries) queries
              parts    \(parts.sorted { $0.value > $1.value }.map { "\($0.key) \(millions($0.value))" }.joined(separator: ", "))
              weights  \(millions(parameters)) parameters (\(dtypes.joined(separator: ", ")))
            """)
        }
    }
}
