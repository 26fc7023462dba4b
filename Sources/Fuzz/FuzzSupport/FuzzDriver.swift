// The shared `main` of the fuzz targets (docs/fuzzing.md).
//
// Built with `-sanitize=fuzzer,address` (make fuzz), the executable contains libFuzzer, and
// `run` hands over to its driver, `LLVMFuzzerRunDriver`, with the target's one-input function:
// every libFuzzer flag works as usual. Built plainly (swift build, make test), it is a replay
// tool: it runs the function once on each file named, or on each file in each folder named,
// so a crash file or a corpus can be checked without the sanitizers.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fuzz target's one-input function: libFuzzer's `LLVMFuzzerTestOneInput`.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

public enum FuzzDriver {
    private typealias RunDriver = @convention(c) (
        UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, FuzzTarget
    ) -> Int32

    /// Fuzzes `target` when libFuzzer is linked in, or replays the files named on the command line.
    public static func run(_ target: FuzzTarget) -> Never {
        // libFuzzer is linked in (and this symbol exported) only by the fuzz build; see the Makefile.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "LLVMFuzzerRunDriver") {
            let driver = unsafeBitCast(symbol, to: RunDriver.self)
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(driver(&argc, &argv, target))
        }
        exit(replay(Array(CommandLine.arguments.dropFirst()), target))
    }

    private static func replay(_ arguments: [String], _ target: FuzzTarget) -> Int32 {
        let program = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "fuzz"
        if arguments.isEmpty || arguments.contains(where: { $0.hasPrefix("-") }) {
            FileHandle.standardError.write(Data("""
                usage: \(program) FILE|FOLDER...   runs the target once on each input (no libFuzzer here)
                libFuzzer flags need the fuzz build: make fuzz (docs/fuzzing.md)\n
                """.utf8))
            return 2
        }
        var count = 0
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("\(program): no such file '\(argument)'\n".utf8))
                return 1
            }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 }
                : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                _ = data.withUnsafeBytes { target($0.bindMemory(to: UInt8.self).baseAddress, data.count) }
                count += 1
            }
        }
        print("\(program): \(count) input(s) ran without a crash")
        return 0
    }
}

extension FuzzDriver {
    /// The input as a buffer (libFuzzer may pass a null pointer for the empty input).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    }
}
