import ArgumentParser
import Foundation

/// Turns any error a command's `run()` meets into the one-line message and exit status 1 of
/// docs/guarantees.md. (Bad options never get here: the argument parser reports them itself.)
func failing<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("landscribe: \(Messages.line(for: error))\n".utf8))
        throw ExitCode(1)
    }
}

/// Prints a summary as JSON with stable key order (the `--json` output of a command).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// A warning on stderr, one line: the run goes on.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("landscribe: warning: \(message)\n".utf8))
}

/// Prints JSON with stable key order.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
