public import Foundation

/// The rules every output follows (docs/guarantees.md): an existing file is refused unless the
/// user asked to overwrite, the file is written under a temporary name beside the target, and
/// only a complete file is renamed into place.
///
/// Temporary names are `.<name>.<pid>-<tag>.partial.<ext>` (the "stem" `.<name>.<pid>-<tag>`
/// followed by what the writer adds: `.staging.tif`, `.aux.xml`, `-journal`, ...). Every file
/// that starts with the stem belongs to this output: `discard()` removes them all, the
/// interrupt handler removes them through `TemporaryFiles`, and a later run removes those of a
/// process that no longer runs (`TemporaryFiles.removeStale`).
public struct OutputFile: Sendable {
    /// The final path.
    public let url: URL
    /// Where the file is written until it is complete: hidden, beside the target, unique.
    public let temporaryURL: URL
    /// The prefix of every temporary file of this output (a full path).
    public let stem: String
    /// What the output is ("class map", "preview"), for messages; a command line words
    /// `OutputError`s with the option that named it.
    public let role: String

    /// Checks that `path` may be written: a file name (not empty, not a folder), its folder
    /// exists and is writable, and it does not exist unless `overwrite`. Throws `OutputError`.
    public init(path: String, overwrite: Bool, role: String = "output") throws {
        guard !path.isEmpty else { throw OutputError(.emptyName, output: role, path: path) }
        if path.hasSuffix("/") { throw OutputError(.folderName, output: role, path: path) }
        url = URL(fileURLWithPath: path)
        self.role = role
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw OutputError(.isFolder, output: role, path: path) }
            if !overwrite { throw OutputError(.exists, output: role, path: path) }
        }
        let folder = url.deletingLastPathComponent()
        guard fm.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw OutputError(.noFolder, output: role, path: path)
        }
        guard fm.isWritableFile(atPath: folder.path) else { throw OutputError(.folderNotWritable, output: role, path: path) }
        stem = TemporaryFiles.newStem(for: url)
        let ext = url.pathExtension
        temporaryURL = URL(fileURLWithPath: stem + ".partial" + (ext.isEmpty ? "" : "." + ext))
        TemporaryFiles.register(stem)
    }

    /// A scratch file of this run beside `folder`'s outputs: never committed, removed with
    /// everything else by `discard()`; it is written at `temporaryURL`.
    /// - Parameters:
    ///   - output: the output the scratch file serves, named in messages (a full disk while
    ///     writing it is reported against that output, not a hidden name); nil names the scratch.
    public init(scratchIn folder: URL, name: String, for output: OutputFile? = nil) {
        stem = TemporaryFiles.newStem(for: folder.appendingPathComponent(TemporaryFiles.scratchName))
        url = output?.url ?? URL(fileURLWithPath: stem + "." + name)
        role = output?.role ?? "scratch file"
        temporaryURL = URL(fileURLWithPath: stem + "." + name)
        TemporaryFiles.register(stem)
    }

    /// Renames the temporary file (and a side file with the given suffix, such as GDAL's
    /// ".aux.xml", when one was written) into place, then removes what else was left under the
    /// stem. For several outputs that must appear together, use `OutputSet.commit()`.
    public func commit(sideSuffixes: [String] = []) throws {
        try OutputSet.commit([self], sideSuffixes: [sideSuffixes], overwrite: true)
    }

    /// Removes every file written under the temporary stem; the final path is untouched.
    public func discard(sideSuffixes: [String] = []) {
        TemporaryFiles.removeFiles(withPrefix: stem)
        TemporaryFiles.unregister(stem)
    }
}

/// The temporary files of this process, so that an interrupt removes them (`removeAll`) and a
/// later run removes those a killed process left (`removeStale`).
public enum TemporaryFiles {
    private static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var stems: Set<String> = []
    nonisolated(unsafe) private static var counter = 0

    /// Longest part of an output's name kept in a temporary name, so that a long output name
    /// still leaves room for the suffixes under the 255-byte limit of a file name.
    static let nameLimit = 120
    /// The name part of scratch files' stems (`.landscribe-scratch.<pid>-<tag>.<name>`).
    static let scratchName = "landscribe-scratch"

    /// The part of `url`'s file name a hidden name beside it keeps: at most `nameLimit` bytes.
    public static func shortName(of url: URL) -> String {
        let name = url.lastPathComponent
        return name.utf8.count > nameLimit ? String(decoding: Array(name.utf8.prefix(nameLimit)), as: UTF8.self) : name
    }

    /// `<folder>/.<name>.<pid>-<tag>` for an output `url`.
    static func newStem(for url: URL) -> String {
        lock.lock(); counter += 1; let n = counter; lock.unlock()
        let name = shortName(of: url)
        let tag = String(format: "%08X", UInt32(truncatingIfNeeded: UInt64(Date().timeIntervalSince1970 * 1e6) &+ UInt64(n) &* 2654435761))
        return url.deletingLastPathComponent().appendingPathComponent(".\(name).\(getpid())-\(tag)").path
    }

    /// Adds a prefix whose files an interrupt removes (`removeAll`).
    public static func register(_ stem: String) { lock.lock(); stems.insert(stem); lock.unlock() }
    public static func unregister(_ stem: String) { lock.lock(); stems.remove(stem); lock.unlock() }

    /// Runs `body` while no interrupt can remove temporary files: the commit of an output set.
    static func critical<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }

    /// Removes every temporary file of this process (the interrupt handler calls this; it
    /// waits for a commit in progress to end).
    public static func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for stem in stems { removeFiles(withPrefix: stem) }
        stems.removeAll()
    }

    /// The number of stems registered (for tests).
    public static var count: Int { lock.lock(); defer { lock.unlock() }; return stems.count }

    /// Removes the files of `prefix`'s folder whose path starts with `prefix`.
    public static func removeFiles(withPrefix prefix: String) {
        let url = URL(fileURLWithPath: prefix)
        let folder = url.deletingLastPathComponent().path
        let start = url.lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(start) { unlink(folder + "/" + name) }
    }

    /// Removes temporary files that a process which no longer runs left for the output `url`
    /// (names `.<name>.<pid>-<tag>...` whose pid is gone). Returns the names removed.
    @discardableResult
    public static func removeStale(for url: URL) -> [String] {
        removeStale(named: shortName(of: url), in: url.deletingLastPathComponent().path)
    }

    @discardableResult
    static func removeStale(named name: String, in folder: String) -> [String] {
        let prefix = "." + name + "."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for file in names where file.hasPrefix(prefix) {
            let rest = file.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0, pid != getpid() else { continue }
            let tag = rest[rest.index(after: dash)...].prefix(8)
            guard tag.count == 8, tag.allSatisfy(\.isHexDigit) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(folder + "/" + file)
                removed.append(file)
            }
        }
        return removed
    }
}
