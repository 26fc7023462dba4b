public import Foundation

/// The rules every output follows (docs/CLI.md): an existing file is refused unless the user
/// asked to overwrite, the file is written under a temporary name beside the target, and only
/// a complete file is renamed into place.
public struct OutputFile: Sendable {
    /// The final path.
    public let url: URL
    /// Where the file is written until it is complete: hidden, beside the target, unique.
    public let temporaryURL: URL

    /// Checks that `path` may be written: its folder exists, it is not a directory, and it
    /// does not exist unless `overwrite`.
    /// - Parameter option: the option that named the file, for the error message ("-o").
    public init(path: String, overwrite: Bool, option: String) throws {
        url = URL(fileURLWithPath: path)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw GeoIOError("option \(option): '\(path)' is a directory") }
            if !overwrite { throw GeoIOError("option \(option): '\(path)' exists; pass --overwrite to replace it") }
        }
        let folder = url.deletingLastPathComponent()
        guard fm.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw GeoIOError("option \(option): the folder of '\(path)' does not exist")
        }
        guard fm.isWritableFile(atPath: folder.path) else {
            throw GeoIOError("option \(option): cannot write to the folder of '\(path)'")
        }
        let tag = UUID().uuidString.prefix(8)
        temporaryURL = folder.appendingPathComponent(".\(url.lastPathComponent).\(tag).partial.\(url.pathExtension)")
    }

    /// Renames the temporary file (and a side file with the given suffix, such as GDAL's
    /// ".aux.xml", when one was written) into place.
    public func commit(sideSuffixes: [String] = []) throws {
        let fm = FileManager.default
        for suffix in sideSuffixes {
            let tmp = URL(fileURLWithPath: temporaryURL.path + suffix)
            let final = URL(fileURLWithPath: url.path + suffix)
            if fm.fileExists(atPath: tmp.path) {
                _ = try? fm.removeItem(at: final)
                try fm.moveItem(at: tmp, to: final)
            }
        }
        if rename(temporaryURL.path, url.path) != 0 {
            throw GeoIOError("cannot move the finished output into place at '\(url.path)': \(String(cString: strerror(errno)))")
        }
    }

    /// Removes whatever was written under the temporary name.
    public func discard(sideSuffixes: [String] = []) {
        for suffix in [""] + sideSuffixes { unlink(temporaryURL.path + suffix) }
    }
}
