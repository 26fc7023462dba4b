public import Foundation

/// Every output of one run, checked together before any work starts and committed together
/// after it (docs/guarantees.md):
/// - each path is a file name in a writable folder, absent unless `overwrite`;
/// - no output (or one of its side files) is an input or another output, compared by real
///   path (symbolic links, `./`, relative and absolute) and by file identity (hard links);
/// - an advisory lock (`flock`) beside each output makes a second run on the same outputs fail
///   at once instead of mixing files;
/// - temporary files that a killed run left for these outputs are removed;
/// - `commit()` renames every finished temporary into place, or none: when a rename fails,
///   those already made are undone and the previous files put back.
public final class OutputSet: @unchecked Sendable {  // its state is only touched inside `use.run`
    /// One output: its path, what named it (for messages) and the side files that travel with
    /// it (".aux.xml" for GDAL's PAM metadata).
    public struct Request: Sendable {
        public let path: String
        /// What the output is ("class map", "probabilities"): unique within a set; errors
        /// (`OutputError`) name it.
        public let role: String
        public let sideSuffixes: [String]
        /// File name extensions of the format written (lower case, without the dot); empty: any.
        public let extensions: [String]
        /// Files that are part of the output, named as it with these extensions instead of its
        /// own (a shapefile's "shx", "dbf", "prj", "cpg"): refused when one exists unless
        /// overwriting, checked against the inputs, renamed with it.
        public let siblingExtensions: [String]
        public init(path: String, role: String, sideSuffixes: [String] = [], extensions: [String] = [], siblingExtensions: [String] = []) {
            self.path = path; self.role = role; self.sideSuffixes = sideSuffixes; self.extensions = extensions
            self.siblingExtensions = siblingExtensions
        }

        /// The paths of the side files (suffixes) and siblings (extensions) of the file `path`.
        func sidePaths(of path: String) -> [String] {
            sideSuffixes.map { path + $0 } + Self.siblings(of: path, extensions: siblingExtensions)
        }

        static func siblings(of path: String, extensions: [String]) -> [String] {
            let base = URL(fileURLWithPath: path).deletingPathExtension().path
            return extensions.map { base + "." + $0 }
        }
    }

    /// A file the run reads, which no output may replace.
    public struct Input: Sendable {
        public let path: String
        /// What it is, for messages: "the scene", "the pipeline file".
        public let role: String
        public init(path: String, role: String) { self.path = path; self.role = role }
    }

    public let requests: [Request]
    public let files: [OutputFile]
    private let overwrite: Bool
    private var locks: [OutputLock] = []
    private var scratches: [OutputFile] = []
    private var closed = false
    private let use = ExclusiveUse("an output set")

    public init(_ requests: [Request], inputs: [Input], overwrite: Bool) throws {
        self.requests = requests
        self.overwrite = overwrite
        var files: [OutputFile] = []
        do {
            for r in requests {
                if !r.extensions.isEmpty, !r.extensions.contains(URL(fileURLWithPath: r.path).pathExtension.lowercased()), !r.path.hasSuffix("/"), !r.path.isEmpty {
                    throw OutputError(.format(accepted: r.extensions), output: r.role, path: r.path)
                }
                files.append(try OutputFile(path: r.path, overwrite: overwrite, role: r.role))
                for sibling in Request.siblings(of: r.path, extensions: r.siblingExtensions) where !overwrite && Self.exists(sibling) {
                    throw OutputError(.exists, output: r.role, path: sibling)
                }
            }
            try Self.checkDistinct(requests, inputs: inputs)
            for (r, f) in zip(requests, files) { locks.append(try OutputLock(for: f.url, role: r.role)) }
        } catch {
            for f in files { f.discard() }
            for l in locks { l.release() }
            throw error
        }
        self.files = files
        var folders: Set<String> = []
        for f in files {
            TemporaryFiles.removeStale(for: f.url)
            folders.insert(f.url.deletingLastPathComponent().path)
        }
        for folder in folders { TemporaryFiles.removeStale(named: TemporaryFiles.scratchName, in: folder) }
    }

    deinit { if !closed { discard() } }

    /// The output of the request with this role.
    public func file(role: String) -> OutputFile? {
        requests.firstIndex(where: { $0.role == role }).map { files[$0] }
    }

    /// A scratch file beside the first output (or in `folder`), removed when the set is
    /// committed or discarded.
    public func scratch(_ name: String, in folder: URL? = nil) -> OutputFile {
        use.run {
            let f = OutputFile(scratchIn: folder ?? files.first?.url.deletingLastPathComponent() ?? FileManager.default.temporaryDirectory,
                               name: name, for: files.first)
            scratches.append(f)
            return f
        }
    }

    /// Moves every output's finished temporary file (and side files) into place, all or none;
    /// removes scratch files and releases the locks.
    public func commit() throws {
        try use.run {
            precondition(!closed, "an output set is committed or discarded once")
            defer { close() }
            do {
                try Self.commit(files, sideSuffixes: requests.map(\.sideSuffixes), siblingExtensions: requests.map(\.siblingExtensions), overwrite: overwrite)
            } catch {
                for f in files { f.discard() }
                throw error
            }
        }
    }

    /// Removes every temporary and scratch file; the final paths are untouched.
    public func discard() {
        use.run {
            guard !closed else { return }
            for f in files { f.discard() }
            close()
        }
    }

    private func close() {
        closed = true
        for s in scratches { s.discard() }
        for f in files { TemporaryFiles.removeFiles(withPrefix: f.stem); TemporaryFiles.unregister(f.stem) }
        for l in locks { l.release() }
        locks = []
    }

    /// The rename step: for each output, the main file and its side files; an existing final
    /// file is first moved to a backup name and put back if a later rename fails. Without
    /// `overwrite` the main file is linked into place (`link` fails on an existing name), so a
    /// file that appeared at the final path during the run is never replaced.
    static func commit(_ files: [OutputFile], sideSuffixes: [[String]], siblingExtensions: [[String]] = [], overwrite: Bool) throws {
        try TemporaryFiles.critical {
            struct Step { let final: String; var backup: String?; var placed = false }
            var steps: [Step] = []
            do {
                for (i, (f, suffixes)) in zip(files, sideSuffixes).enumerated() {
                    let siblings = i < siblingExtensions.count ? siblingExtensions[i] : []
                    // (temporary, final, backup tag) of the side files, then of the main file.
                    let sides = suffixes.map { (f.temporaryURL.path + $0, f.url.path + $0, $0) }
                        + zip(Request.siblings(of: f.temporaryURL.path, extensions: siblings), Request.siblings(of: f.url.path, extensions: siblings))
                            .map { ($0, $1, "." + URL(fileURLWithPath: $1).pathExtension) }
                    // Side files first: the main file appears last, complete with its side files.
                    for (tmp, final, tag) in sides + [(f.temporaryURL.path, f.url.path, "")] {
                        let isMain = final == f.url.path
                        var step = Step(final: final)
                        if exists(final) {
                            if isMain && !overwrite {
                                throw OutputError(.appeared, output: f.role, path: f.url.path)
                            }
                            let backup = f.stem + ".backup" + tag
                            guard rename(final, backup) == 0 else {
                                throw OutputError(.cannotMove(detail: "cannot move the previous '\(final)' aside: " + String(cString: strerror(errno))), output: f.role, path: f.url.path)
                            }
                            step.backup = backup
                        }
                        steps.append(step)
                        guard exists(tmp) else {
                            if isMain { throw OutputError(.gone, output: f.role, path: f.url.path) }
                            continue
                        }
                        if isMain && !overwrite {
                            if link(tmp, final) == 0 {
                                unlink(tmp)
                            } else if errno == EEXIST {
                                throw OutputError(.appeared, output: f.role, path: f.url.path)
                            } else if rename(tmp, final) != 0 {  // a file system without hard links
                                throw OutputError(.cannotMove(detail: String(cString: strerror(errno))), output: f.role, path: final)
                            }
                        } else if rename(tmp, final) != 0 {
                            throw OutputError(.cannotMove(detail: String(cString: strerror(errno))), output: f.role, path: final)
                        }
                        steps[steps.count - 1].placed = true
                    }
                }
            } catch {
                for s in steps.reversed() {
                    if s.placed { unlink(s.final) }
                    if let b = s.backup { rename(b, s.final) }
                }
                throw error
            }
            for s in steps { if let b = s.backup { unlink(b) } }
            for f in files { TemporaryFiles.removeFiles(withPrefix: f.stem); TemporaryFiles.unregister(f.stem) }
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Refuses an output that is an input, or two outputs (side files included) on one file.
    static func checkDistinct(_ requests: [Request], inputs: [Input]) throws {
        let inputIDs = inputs.map { (FileIdentity($0.path), $0) }
        var seen: [(FileIdentity, Request)] = []
        for r in requests {
            for path in [r.path] + r.sidePaths(of: r.path) {
                let id = FileIdentity(path)
                if let (_, input) = inputIDs.first(where: { $0.0 == id }) {
                    throw OutputError(.isInput(role: input.role, input: input.path), output: r.role, path: path)
                }
                if let (_, other) = seen.first(where: { $0.0 == id }) {
                    throw OutputError(.sameFile(otherOutput: other.role, side: id.path), output: r.role, path: r.path)
                }
                seen.append((id, r))
            }
        }
    }
}

/// Where a path leads: its real path (links, `.` and `..` resolved, the folder when the file
/// does not exist yet), and for an existing file its device and inode.
struct FileIdentity: Equatable {
    let path: String
    let inode: [UInt64]?

    init(_ raw: String) {
        let url = URL(fileURLWithPath: raw)
        if let r = realpath(url.path, nil) {
            path = String(cString: r)
            free(r)
        } else if let r = realpath(url.deletingLastPathComponent().path, nil) {
            path = String(cString: r) + "/" + url.lastPathComponent
            free(r)
        } else {
            path = url.standardizedFileURL.path
        }
        var st = stat()
        inode = stat(path, &st) == 0 ? [UInt64(st.st_dev), UInt64(st.st_ino)] : nil
    }

    static func == (a: FileIdentity, b: FileIdentity) -> Bool {
        a.path == b.path || (a.inode != nil && a.inode == b.inode)
    }
}

/// An advisory lock (`flock`) on a hidden file beside an output, `.<name>.landscribe-lock`,
/// held for the run; it holds the process id of its holder for the message a second run gives.
final class OutputLock {
    private let fd: Int32
    let path: String

    init(for url: URL, role: String) throws {
        var name = url.lastPathComponent
        if name.utf8.count > TemporaryFiles.nameLimit { name = String(decoding: Array(name.utf8.prefix(TemporaryFiles.nameLimit)), as: UTF8.self) }
        path = url.deletingLastPathComponent().appendingPathComponent(".\(name).landscribe-lock").path
        for _ in 0..<8 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OutputError(.cannotLock(detail: "cannot create '\(path)': " + String(cString: strerror(errno))), output: role, path: url.path) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                var buffer = [UInt8](repeating: 0, count: 32)
                let n = read(fd, &buffer, 31)
                close(fd)
                let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                throw OutputError(.busy(holder: holder.isEmpty ? nil : holder), output: role, path: url.path)
            }
            // The holder before us may have removed the file between our open and lock: lock
            // the file that is at the path now.
            var held = stat(), current = stat()
            if fstat(fd, &held) == 0, stat(path, &current) == 0, held.st_ino == current.st_ino, held.st_dev == current.st_dev {
                ftruncate(fd, 0)
                let pid = Array("\(getpid())\n".utf8)
                _ = pwrite(fd, pid, pid.count, 0)
                self.fd = fd
                TemporaryFiles.register(path)  // an interrupt removes it too
                return
            }
            close(fd)
        }
        throw OutputError(.cannotLock(detail: "the lock file '\(path)' keeps changing"), output: role, path: url.path)
    }

    /// Removes the lock file, then gives the lock up.
    func release() {
        unlink(path)
        TemporaryFiles.unregister(path)
        close(fd)
    }
}
