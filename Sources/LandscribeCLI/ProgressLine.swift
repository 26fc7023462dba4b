import Foundation

/// One status line on stderr: redrawn in place on a terminal (at most 10 times a second),
/// printed as plain lines at most every 5 seconds when stderr is a file or pipe.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let terminal = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var last = Date.distantPast
    private var pending: String?

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ text: String) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        pending = text
        guard now.timeIntervalSince(last) >= (terminal ? 0.1 : 5) else { return }
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
}
