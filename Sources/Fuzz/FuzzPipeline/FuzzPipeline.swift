// libFuzzer target: the text of a pipeline file (docs/fuzzing.md). Parsing must accept or
// reject every input with a SettingsError; accepted settings must pass `validate`.
import Foundation
import FuzzSupport
import Pipeline

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    do {
        let settings = try SegmentSettings.parse(yaml: text, path: "fuzz.yaml")
        try settings.validate(source: "fuzz")
        _ = settings.vocabulary
    } catch is SettingsError {
    } catch {
        preconditionFailure("not a SettingsError: \(error)")
    }
    return 0
}

@main enum Main {
    static func main() { FuzzDriver.run(fuzzPipeline) }
}
