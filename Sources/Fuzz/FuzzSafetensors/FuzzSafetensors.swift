// libFuzzer target: a whole safetensors file (docs/fuzzing.md). The header parser must accept
// or reject every input with an error, and every tensor of an accepted header must read
// inside the data (address sanitizer) with as many values as its shape says.
import CLIP
import FuzzSupport
import Tensor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let file = try? SafetensorsFile(bytes: FuzzDriver.bytes(data, size), name: "fuzz.safetensors") else { return 0 }
    for key in file.keys {
        guard let tensor = try? file.tensor(key) else { continue } // a dtype read as Float32 only from F32/F16/BF16
        let shape = file.entries[key]!.shape
        precondition(tensor.shape == shape && tensor.storage.count == shape.reduce(1, *), "tensor '\(key)' does not match its entry")
    }
    return 0
}

@main enum Main {
    static func main() { FuzzDriver.run(fuzzSafetensors) }
}
