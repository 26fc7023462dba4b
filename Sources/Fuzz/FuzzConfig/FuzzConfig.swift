// libFuzzer target: a model's config.json (docs/fuzzing.md). Decoding and the range checks
// must accept or reject every input with an error; an accepted config's derived sizes must
// not trap.
import CLIP
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let config = try? CLIPConfig.decode(data: Data(FuzzDriver.bytes(data, size)), file: "config.json") else { return 0 }
    precondition(config.problem == nil)
    let v = config.visionConfig, t = config.textConfig
    precondition(v.gridSize >= 1 && v.hiddenSize % v.numAttentionHeads == 0 && t.hiddenSize % t.numAttentionHeads == 0)
    return 0
}

@main enum Main {
    static func main() { FuzzDriver.run(fuzzConfig) }
}
