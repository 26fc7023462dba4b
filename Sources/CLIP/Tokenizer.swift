// CLIP's byte-level BPE tokenizer: vocab.json + merges.txt in, token ids out.
//
// Reference behaviour (checked on Tests/CLIPTests/Fixtures/tokenizer-corpus.txt by
// Tools/make_tokenizer_goldens.py, see TokenizerTests.swift):
//
// - `transformers.CLIPTokenizer` (5.x; in 4.x the same pipeline is `CLIPTokenizerFast`, the one
//   `AutoTokenizer` returns) is a `tokenizers` pipeline: special tokens written in the text are
//   taken out first, the rest is NFC-normalized, whitespace runs become one space, every scalar
//   is lower-cased on its own, then split with CLIP's pattern and byte-level BPE'd. It never
//   calls ftfy or unescapes HTML, whether or not ftfy is installed. (4.57's fast tokenizer
//   differs from 5.x on one corpus line: it also takes "<|ENDOFTEXT|>" as the special token.)
// - open_clip's `SimpleTokenizer` (and transformers 4.x's slow `CLIPTokenizer` when ftfy is
//   installed, which matches it except for HTML when the text contains "<" and special tokens)
//   runs `ftfy.fix_text`, `html.unescape` twice, collapses whitespace and lower-cases with
//   Python's `str.lower`. Without ftfy the 4.x slow tokenizer falls back to BERT's
//   BasicTokenizer, which puts each CJK ideograph in its own word and drops format characters
//   such as U+200B and U+200D: it agrees with neither reference on those lines.
//
// Both references agree on ordinary prompts, digits, punctuation, contractions, accented Latin,
// Greek, Cyrillic, Arabic, CJK, Devanagari, Hangul and emoji. They disagree on: HTML entities
// ("&amp;"), curly quotes, Latin ligatures, fullwidth forms, mojibake, control characters,
// upper-case final sigma (Python's `lower` gives "ς" at the end of a word, `tokenizers` gives
// "σ"), special-token text ("<|endoftext|>"), and "'ſ", which open_clip's case-insensitive
// pattern reads as the contraction "'s". `Normalization.transformers` (the default) follows
// transformers everywhere; `Normalization.openCLIP` follows open_clip with a documented subset
// of ftfy (see TokenizerText.swift).

public import Foundation

/// CLIP's tokenizer: `<|startoftext|>`, byte-level BPE ids of the text, `<|endoftext|>`.
///
/// ```swift
/// let tokenizer = try CLIPTokenizer(directory: modelFolder)
/// let row = tokenizer.encodePadded("a satellite image of a storage tank.")
/// // row.ids.count == 77, row.ids[row.endOfTextIndex] == tokenizer.endOfTextID
/// ```
///
/// By default the ids are those of `transformers.CLIPTokenizer` (the reference of the text
/// encoder's parity tests); with `normalization: .openCLIP` they are open_clip's where the
/// two differ (HTML entities, curly quotes, ligatures, fullwidth forms, ...).
/// Loading, encoding and the word cache are safe to use from many tasks at once.
public struct CLIPTokenizer: Sendable {
    /// How text is cleaned before it is split into words. The references differ only here.
    public enum Normalization: Sendable, Equatable {
        /// `transformers.CLIPTokenizer`: NFC, whitespace runs to one space, per-scalar
        /// lower-casing; special tokens written in the text become their ids.
        case transformers
        /// open_clip's `SimpleTokenizer`: a subset of `ftfy.fix_text`, `html.unescape` twice,
        /// whitespace cleaning, Python's `str.lower`. Not covered: ftfy's mojibake repair
        /// (`fix_encoding`) and C1-control repair, and the HTML entities outside a small table.
        case openCLIP
    }

    /// One text as a fixed-length row for the text encoder.
    public struct PaddedTokens: Sendable, Equatable {
        /// `length` ids: start, text, end, then the pad id.
        public var ids: [Int32]
        /// The index of the first end-of-text token, where CLIP pools the text embedding (both
        /// references pool at the first one: transformers and open_clip take the argmax of the
        /// ids). It is earlier than the last text token when the text itself contains
        /// `<|endoftext|>`.
        public var endOfTextIndex: Int
    }

    /// CLIP's context length: every released CLIP model uses 77 positions.
    public static let contextLength = 77

    /// The id of `<|startoftext|>` (49406 in OpenAI's vocabulary).
    public let startOfTextID: Int32
    /// The id of `<|endoftext|>` (49407 in OpenAI's vocabulary). transformers also pads with
    /// it (`pad_token` is `<|endoftext|>` for these files); open_clip pads with 0.
    public let endOfTextID: Int32
    /// The normalization this tokenizer applies.
    public let normalization: Normalization
    /// The number of entries in vocab.json.
    public var vocabularySize: Int { bpe.vocabularySize }

    let bpe: BytePairEncoder
    private let cache: WordCache

    /// Loads `vocab.json` (token string to id) and `merges.txt` (one merge per line, by rank).
    /// - Throws: `CLIPTokenizerError` naming the file and what is wrong with it.
    public init(vocabURL: URL, mergesURL: URL, normalization: Normalization = .transformers) throws {
        let vocabulary = try Self.readVocabulary(vocabURL)
        bpe = try BytePairEncoder(vocabulary: vocabulary, vocabFile: vocabURL.path,
                                  mergesData: Self.read(mergesURL), mergesFile: mergesURL.path)
        startOfTextID = try Self.specialID(SpecialToken.startOfText, in: vocabulary, file: vocabURL)
        endOfTextID = try Self.specialID(SpecialToken.endOfText, in: vocabulary, file: vocabURL)
        self.normalization = normalization
        cache = WordCache()
    }

    /// Loads `vocab.json` and `merges.txt` from a model folder in Hugging Face layout.
    public init(directory: URL, normalization: Normalization = .transformers) throws {
        try self.init(vocabURL: directory.appendingPathComponent("vocab.json"),
                      mergesURL: directory.appendingPathComponent("merges.txt"),
                      normalization: normalization)
    }

    /// The BPE ids of `text` without start/end tokens and without truncation.
    public func tokenIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for piece in preTokenize(text, normalization: normalization) {
            switch piece {
            case .special(let name):
                ids.append(name == SpecialToken.startOfText ? startOfTextID : endOfTextID)
            case .word(let word):
                ids.append(contentsOf: encodeWord(word))
            }
        }
        return ids
    }

    /// `<|startoftext|>`, the ids of `text`, `<|endoftext|>`, at most `contextLength` ids.
    /// A longer text keeps its first `contextLength - 2` ids and still ends with
    /// `<|endoftext|>`, as transformers (`truncation=True`) and open_clip both do.
    public func encode(_ text: String, contextLength: Int = CLIPTokenizer.contextLength) -> [Int32] {
        precondition(contextLength >= 2, "a CLIP context holds at least <|startoftext|> and <|endoftext|>")
        var ids = [startOfTextID]
        ids.append(contentsOf: tokenIDs(text).prefix(contextLength - 2))
        ids.append(endOfTextID)
        return ids
    }

    /// `encode(text)` padded to `length` ids.
    /// - Parameter padID: the id after the end-of-text token. `nil` (the default) pads with
    ///   `<|endoftext|>`, as `transformers.CLIPTokenizer(padding="max_length")` does with these
    ///   files; pass 0 for open_clip's rows. CLIP's text encoder is causal and pools at the first
    ///   end-of-text token, so both give the same embedding.
    public func encodePadded(_ text: String, length: Int = CLIPTokenizer.contextLength,
                             padID: Int32? = nil) -> PaddedTokens {
        var ids = encode(text, contextLength: length)
        let endOfTextIndex = ids.firstIndex(of: endOfTextID) ?? ids.count - 1
        ids.append(contentsOf: repeatElement(padID ?? endOfTextID, count: length - ids.count))
        return PaddedTokens(ids: ids, endOfTextIndex: endOfTextIndex)
    }

    /// `encodePadded` for many texts, in order.
    public func encodePadded(_ texts: [String], length: Int = CLIPTokenizer.contextLength,
                             padID: Int32? = nil) -> [PaddedTokens] {
        texts.map { encodePadded($0, length: length, padID: padID) }
    }

    /// The BPE ids of one pre-tokenized word (UTF-8 bytes), memoized.
    private func encodeWord(_ word: String) -> [Int32] {
        if let ids = cache[word] { return ids }
        let ids = bpe.encode(Array(word.utf8))
        cache[word] = ids
        return ids
    }
}

/// What is wrong with a tokenizer file; the description names the file.
public enum CLIPTokenizerError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case missingFile(path: String)
    /// The file exists but cannot be read.
    case unreadableFile(path: String, reason: String)
    /// vocab.json is not a JSON object of token strings to non-negative integer ids, or lacks a
    /// token CLIP needs.
    case badVocabulary(path: String, reason: String)
    /// A line of merges.txt is not two tokens separated by one space, or names a token that is
    /// not in the vocabulary. Lines count from 1.
    case malformedMerges(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            "CLIP tokenizer file '\(path)' does not exist"
        case .unreadableFile(let path, let reason):
            "cannot read CLIP tokenizer file '\(path)': \(reason)"
        case .badVocabulary(let path, let reason):
            "bad CLIP vocabulary '\(path)': \(reason)"
        case .malformedMerges(let path, let line, let reason):
            "malformed CLIP merges '\(path)' line \(line): \(reason)"
        }
    }
}

extension CLIPTokenizer {
    static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIPTokenizerError.missingFile(path: url.path)
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw CLIPTokenizerError.unreadableFile(path: url.path, reason: "\(error)")
        }
    }

    static func readVocabulary(_ url: URL) throws -> [String: Int32] {
        let data = try read(url)
        let vocabulary: [String: Int32]
        do {
            vocabulary = try JSONDecoder().decode([String: Int32].self, from: data)
        } catch {
            let context: DecodingError.Context? = switch error as? DecodingError {
            case .typeMismatch(_, let context)?, .dataCorrupted(let context)?: context
            default: nil
            }
            if let context, let token = context.codingPath.last?.stringValue {
                throw CLIPTokenizerError.badVocabulary(
                    path: url.path, reason: "the id of token '\(token)' is not an integer (\(context.debugDescription))")
            }
            throw CLIPTokenizerError.badVocabulary(
                path: url.path, reason: "expected a JSON object of token to integer id (\(error))")
        }
        if let (token, id) = vocabulary.first(where: { $0.value < 0 }) {
            throw CLIPTokenizerError.badVocabulary(path: url.path, reason: "the id of token '\(token)' is \(id)")
        }
        return vocabulary
    }

    static func specialID(_ token: String, in vocabulary: [String: Int32], file: URL) throws -> Int32 {
        guard let id = vocabulary[token] else {
            throw CLIPTokenizerError.badVocabulary(path: file.path, reason: "no entry for '\(token)'")
        }
        return id
    }
}

/// The memo of word to ids, shared by copies of a tokenizer. Bounded: cleared when full.
private final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: [Int32]] = [:]
    private let capacity = 50_000

    subscript(word: String) -> [Int32]? {
        get { lock.withLock { entries[word] } }
        set {
            lock.withLock {
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                entries[word] = newValue
            }
        }
    }
}
