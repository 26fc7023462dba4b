import Foundation
import GeoIO

/// The journal of a segmentation run (docs/guarantees.md, "Runs resume"): beside the run's first
/// output, hidden files `.<name>.landscribe-journal.*` hold the plan (everything the outputs'
/// bytes depend on), the staging GeoTIFFs the finished rows are written into, and the progress
/// (the first scene row not yet written, pixels per class so far), rewritten atomically after
/// every strip of rows once the staging files are flushed. A run killed outright (`kill -9`,
/// power cut, out of memory) leaves it; `--resume` continues from its progress and gives the
/// same bytes as a run that was never stopped. Every other ending removes it: success, an
/// error, Ctrl-C, and a new run without `--resume`.
final class RunJournal: @unchecked Sendable {  // `progress` is only written by the run's writer task
    /// What a run wrote before it stopped.
    struct Progress: Codable, Equatable {
        /// Scene rows [0, rows) are in the staging files.
        var rows: Int
        /// Pixels and square metres per output class in those rows.
        var tally: SegmentOutputs.Tally
    }

    /// `<folder>/.<name>.landscribe-journal`: every journal file starts with it.
    let stem: String
    let plan: [String: String]
    /// Where the run starts: nil for a fresh run.
    let resumed: Progress?

    static let marker = "landscribe-journal"

    var planPath: String { stem + ".plan.json" }
    var progressPath: String { stem + ".progress.json" }
    /// The staging GeoTIFF of one output of the stitched map ("classes", "probabilities").
    func stagingPath(_ name: String) -> String { stem + "." + name + ".staging.tif" }

    /// Opens the journal of the run whose first output is `output`, for `plan`.
    /// - Without `resume`, a journal left there is removed and the run starts afresh.
    /// - With `resume`, a journal for the same plan gives its progress; one for another plan is
    ///   refused (`JournalError.planDiffers`); none (or one without progress) starts afresh.
    init(for output: URL, plan: [String: String], resume: Bool) throws {
        stem = Self.stem(for: output)
        self.plan = plan
        var resumed: Progress? = nil
        if resume, let data = FileManager.default.contents(atPath: stem + ".plan.json") {
            guard let old = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw JournalError.unreadable(path: stem + ".plan.json")
            }
            if let key = Self.firstDifference(old, plan) {
                throw JournalError.planDiffers(path: stem + ".plan.json", key: key, was: old[key], now: plan[key])
            }
            if let data = FileManager.default.contents(atPath: stem + ".progress.json"),
               let progress = try? JSONDecoder().decode(Progress.self, from: data), progress.rows > 0 {
                resumed = progress
            }
        }
        self.resumed = resumed
        TemporaryFiles.register(stem)
        if resumed == nil {
            TemporaryFiles.removeFiles(withPrefix: stem)
            try Self.writeAtomically(try Self.encode(plan), to: planPath)
        }
    }

    /// `<folder>/.<name>.landscribe-journal` for the output `output`.
    static func stem(for output: URL) -> String {
        output.deletingLastPathComponent().appendingPathComponent(".\(TemporaryFiles.shortName(of: output)).\(marker)").path
    }

    /// Removes a journal left beside `output` (a run that does not journal).
    static func remove(for output: URL) {
        TemporaryFiles.removeFiles(withPrefix: stem(for: output))
    }

    /// The first key (in sorted order) whose value differs between two plans.
    static func firstDifference(_ a: [String: String], _ b: [String: String]) -> String? {
        Set(a.keys).union(b.keys).sorted().first { a[$0] != b[$0] }
    }

    /// Records that rows [0, rows) are durably in the staging files (the caller flushed them).
    func record(_ progress: Progress) throws {
        try Self.writeAtomically(try Self.encode(progress), to: progressPath)
    }

    /// Removes every journal file.
    func remove() {
        TemporaryFiles.removeFiles(withPrefix: stem)
        TemporaryFiles.unregister(stem)
    }

    /// JSON as the journal and a shard folder hold it: sorted keys, so the same value gives the
    /// same bytes.
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Writes `data` under a temporary name, flushes it to disk and renames it over `path`: a
    /// reader sees the old file or the new one, never a part.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw JournalError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw JournalError.cannotWrite(path: path, reason: reason)
        }
    }

    /// A scene's identity for a plan: its size, modification time and the SHA-256 of its first
    /// 64 KiB (the header of a GeoTIFF, all of a VRT): `ShardPlan.SceneIdentity` and the time.
    static func sceneIdentity(path: String) -> String {
        guard let (identity, modified) = ShardPlan.SceneIdentity.read(path: path) else { return "unreadable" }
        return "\(identity.bytes) bytes, modified \(modified), head sha256 \(identity.headerSHA256)"
    }
}

/// Why a run journal cannot be used.
public enum JournalError: Error, CustomStringConvertible, Equatable {
    case planDiffers(path: String, key: String, was: String?, now: String?)
    case unreadable(path: String)
    case damaged(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .planDiffers(let path, let key, let was, let now):
            return "the journal '\(path)' is of a different run (\(key): \(was ?? "absent") then, \(now ?? "absent") now); run without --resume to start over"
        case .unreadable(let path):
            return "the journal '\(path)' cannot be read; run without --resume to start over"
        case .damaged(let path, let reason):
            return "the journal '\(path)' cannot be resumed (\(reason)); run without --resume to start over"
        case .cannotWrite(let path, let reason):
            return "cannot write the journal '\(path)': \(reason)"
        }
    }
}
