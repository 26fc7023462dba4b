// libFuzzer target: any text through CLIP's tokenizer, both normalizations (docs/fuzzing.md),
// with the vocabulary and merges of Tests/CLIPTests/Fixtures/clip-tokenizer (OpenAI's files),
// loaded once. Every row must hold `contextLength` ids, all in the vocabulary, start with
// <|startoftext|> and have <|endoftext|> where it says.
import CLIP
import Foundation
import FuzzSupport

let fixtures = URL(fileURLWithPath: #filePath) // Sources/Fuzz/FuzzTokenizer/FuzzTokenizer.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tests/CLIPTests/Fixtures/clip-tokenizer")
let tokenizers = [CLIPTokenizer.Normalization.transformers, .openCLIP].map { normalization in
    do { return try CLIPTokenizer(directory: fixtures, normalization: normalization) } catch {
        fatalError("cannot load the tokenizer fixture: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    for tokenizer in tokenizers {
        let row = tokenizer.encodePadded(text)
        precondition(row.ids.count == CLIPTokenizer.contextLength, "row of \(row.ids.count) ids")
        precondition(row.ids[0] == tokenizer.startOfTextID && row.ids[row.endOfTextIndex] == tokenizer.endOfTextID)
        precondition(row.ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize }, "id outside the vocabulary")
    }
    return 0
}

@main enum Main {
    static func main() { FuzzDriver.run(fuzzTokenizer) }
}
