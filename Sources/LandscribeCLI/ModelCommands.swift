import ArgumentParser
import CLIP
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
        subcommands: [Fetch.self])
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
            copy a model folder by other means and pass it as --model DIR.
            """)

        @Argument(help: "A Hugging Face model id, e.g. openai/clip-vit-base-patch16.")
        var id: String

        @Option(help: "The revision (branch, tag or commit) to download.")
        var revision: String = "main"

        @Flag(help: "Print nothing but errors.")
        var quiet = false

        func run() async throws {
            try await failing {
                let modelID = try ModelID(id)
                let store = ModelStore()
                let downloader = ModelDownloader(store: store, hubURL: ModelDownloader.hubURL())
                let line = ProgressLine(enabled: !quiet)
                let folder = try await downloader.fetch(modelID, revision: revision) { p in line.update(p.description) }
                line.finish()
                if !quiet { print("\(modelID) (\(revision)) is in \(folder.path)") }
            }
        }
    }
}
