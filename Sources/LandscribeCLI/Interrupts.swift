import Foundation
import GeoIO

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP: the run stops at once, every temporary file it wrote is
/// removed (`TemporaryFiles.removeAll`, which waits for a commit in progress to end), and the
/// process exits 128 + the signal number (130, 143, 129), as shells expect.
enum Interrupts {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func install() {
        guard sources.isEmpty else { return }
        let queue = DispatchQueue(label: "landscribe.interrupts")
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                TemporaryFiles.removeAll()
                let name = sig == SIGINT ? "interrupted" : sig == SIGTERM ? "terminated" : "hung up"
                FileHandle.standardError.write(Data("\nlandscribe: \(name); this run's temporary files were removed\n".utf8))
                _exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}
