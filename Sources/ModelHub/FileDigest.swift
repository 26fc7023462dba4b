import Crypto
public import Foundation

/// SHA-256 digests (swift-crypto) as lowercase hex: to check downloads against the hub's
/// checksums and to key caches by a model's weights.
public enum FileDigest {
    /// The SHA-256 of a file, read in 1 MiB pieces.
    public static func sha256Hex(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return hex(hash.finalize())
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    /// The SHA-256 of a model folder's `model.safetensors`, remembered in `cacheRoot` by the
    /// file's path, size and modification time so that a 600 MB file is hashed once.
    /// What cached text embeddings depend on besides the templates: the weights, the files
    /// that shape the text side (config, vocabulary, merges) and the method's version (which
    /// changes when the code computes the embeddings differently). Files are hashed whole
    /// (a few megabytes, milliseconds).
    public static func textQueryKey(modelDirectory: URL, weightsHash: String, methodVersion: String) -> String {
        var parts = ["weights:" + weightsHash, "method:" + methodVersion]
        for name in ["config.json", "vocab.json", "merges.txt", "tokenizer.json", "special_tokens_map.json"] {
            let url = modelDirectory.appendingPathComponent(name)
            parts.append(name + ":" + ((try? sha256Hex(ofFile: url)) ?? "absent"))
        }
        return sha256Hex(Array(parts.joined(separator: "|").utf8))
    }

    public static func weightsHash(modelDirectory: URL, cacheRoot: URL) throws -> String {
        let file = modelDirectory.appendingPathComponent("model.safetensors").standardizedFileURL
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = sha256Hex(Array("\(file.path)|\(size)|\(mtime)".utf8))
        let memo = cacheRoot.appendingPathComponent("hashes").appendingPathComponent(key)
        if let known = try? String(contentsOf: memo, encoding: .utf8), known.count == 64 { return known }
        let digest = try sha256Hex(ofFile: file)
        try? FileManager.default.createDirectory(at: memo.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? digest.write(to: memo, atomically: true, encoding: .utf8)
        return digest
    }
}
