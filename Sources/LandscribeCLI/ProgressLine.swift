import Foundation
import Pipeline

/// One status line on stderr: redrawn in place on a terminal (at most 10 times a second),
/// printed as plain lines at most every 5 seconds when stderr is a file or pipe.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let terminal = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var last = Date.distantPast
    private var pending: String?

    init(enabled: Bool) { self.enabled = enabled }

    /// Shows `text`; with `now`, at once (a new step), else at most every 0.1 s (terminal) or 5 s.
    func update(_ text: String, now force: Bool = false) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        pending = text
        guard force || now.timeIntervalSince(last) >= (terminal ? 0.1 : 5) else { return }
        last = now
        emit(text)
        pending = nil
    }

    func finish() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        if let pending { emit(pending) }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func emit(_ text: String) {
        let s = terminal ? "\r\u{1B}[K" + text : text + "\n"
        FileHandle.standardError.write(Data(s.utf8))
    }

    /// A progress callback for `SceneMapper`: tiles done (and the steps of the running tile when
    /// its engine reports them: "tile 3: step 12/24" for SAM 3's queries), rate and time left
    /// counting those steps; after the tiles,
    /// each finishing step as it starts ("tiles 224/224  writing class map: COG copy and overviews").
    var tiles: @Sendable (RunProgress) -> Void {
        { [self] p in
            if let step = p.step {
                update("tiles \(p.tilesDone)/\(p.tilesTotal)  writing \(step)", now: true)
                return
            }
            // Tiles done, with the part of the running tile its engine reports (SAM 3's queries).
            let done = Double(p.tilesDone) + (p.tileSteps > 0 ? Double(p.tileStepsDone) / Double(p.tileSteps) : 0)
            let rate = p.elapsedSeconds > 0 ? done / p.elapsedSeconds : 0
            let eta = rate > 0 ? (Double(p.tilesTotal) - done) / rate : 0
            let speed = rate >= 0.1 || rate == 0 ? String(format: "%.2f tiles/s", rate) : String(format: "%.0f s/tile", 1 / rate)
            let inside = p.tileSteps > 0 ? "  tile \(p.tilesDone + 1): step \(p.tileStepsDone)/\(p.tileSteps)" : ""
            update(String(format: "tiles %d/%d%@  %@  ETA %@", p.tilesDone, p.tilesTotal, inside, speed, Self.duration(eta)))
        }
    }

    /// "840 MB", "3.9 GB" (decimal units, as `free -h` and most monitors show them).
    static func bytes(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.1f GB", Double(n) / 1e9) : "\(n / 1_000_000) MB"
    }

    /// "45s", "3m05s", "2h07m".
    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
