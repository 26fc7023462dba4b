public import CLIP
public import Foundation
public import Tensor

/// docs/METHOD.md section 2: one unit vector per prompt. For prompt p and templates t_1..t_T:
/// the projected text embedding of each t_j(p), each normalised, averaged, normalised again.
public enum TextQueries {
    /// Changes whenever the code computes query vectors differently, so that cached vectors
    /// of older code are not reused (part of the cache key).
    public static let methodVersion = "text-queries-1"

    /// Unit query vectors [K, projection_dim], rows in `vocabulary.queries` order.
    public static func compute(model: CLIPModel, tokenizer: CLIPTokenizer, vocabulary: Vocabulary,
                               cache: QueryCache? = nil) throws -> Tensor {
        let prompts = vocabulary.queries
        let dim = model.config.projectionDim
        var rows = [Float]()
        rows.reserveCapacity(prompts.count * dim)
        for prompt in prompts {
            if let cached = cache?.vector(prompt: prompt, templates: vocabulary.templates), cached.count == dim {
                rows += cached
                continue
            }
            let ids = vocabulary.templates.map { t in
                tokenizer.encodePadded(Templates.fill(t, with: prompt)).ids.map(Int.init)
            }
            let features = try model.textFeatures(ids: ids)
            var mean = [Float](repeating: 0, count: dim)
            for j in 0..<ids.count {
                let e = Array(features.storage[(j * dim)..<((j + 1) * dim)])
                for (i, v) in normalized(e).enumerated() { mean[i] += v }
            }
            let q = normalized(mean)
            cache?.store(q, prompt: prompt, templates: vocabulary.templates)
            rows += q
        }
        return Tensor(shape: [prompts.count, dim], storage: rows)
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }
}

/// Text queries kept on disk between runs, keyed by everything they depend on
/// (`FileDigest.textQueryKey`: weights, config, tokenizer files, `TextQueries.methodVersion`)
/// and the templates: `<root>/queries/<key>/<templates hash>.json`, a map from prompt to vector.
public final class QueryCache: @unchecked Sendable {
    private let folder: URL
    private let lock = NSLock()
    private var entries: [String: [String: [Float]]] = [:]

    public init(root: URL, key: String) {
        folder = root.appendingPathComponent("queries").appendingPathComponent(key)
    }

    private func file(_ templates: [String]) -> URL {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the templates, a stable file name
        for b in templates.joined(separator: "\n").utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return folder.appendingPathComponent(String(h, radix: 16) + ".json")
    }

    private func load(_ templates: [String]) -> [String: [Float]] {
        let url = file(templates)
        if let e = entries[url.path] { return e }
        let e = (try? JSONDecoder().decode([String: [Float]].self, from: Data(contentsOf: url))) ?? [:]
        entries[url.path] = e
        return e
    }

    func vector(prompt: String, templates: [String]) -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        return load(templates)[prompt]
    }

    func store(_ v: [Float], prompt: String, templates: [String]) {
        lock.lock(); defer { lock.unlock() }
        var e = load(templates)
        e[prompt] = v
        let url = file(templates)
        entries[url.path] = e
        // Best effort: a cache that cannot be written only costs the recomputation next time.
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(e) { try? data.write(to: url, options: .atomic) }
    }
}
