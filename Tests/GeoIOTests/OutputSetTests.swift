import Foundation
import GeoIO
import TestSupport
import Testing

/// `OutputSet`: the outputs of one run appear together or not at all, a second run on the same
/// outputs is refused while the first holds them, and what a killed run left is cleaned up.
@Suite("Output sets: all or nothing, locked, cleaned")
struct OutputSetTests {
    static func contents(_ path: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
    }

    static func hidden(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.sorted()
    }

    @Test("commit moves every output and side file into place; nothing hidden is left")
    func commit() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.tif").path, b = dir.appendingPathComponent("b.png").path
        let set = try OutputSet([.init(path: a, role: "class map", sideSuffixes: [".aux.xml"]), .init(path: b, role: "preview")], inputs: [], overwrite: false)
        #expect(try Self.hidden(dir).count == 2, "one lock file per output while the set is open")
        try Data("A".utf8).write(to: set.files[0].temporaryURL)
        try Data("AUX".utf8).write(to: URL(fileURLWithPath: set.files[0].temporaryURL.path + ".aux.xml"))
        try Data("B".utf8).write(to: set.files[1].temporaryURL)
        let scratch = set.scratch("map.tif")
        #expect(scratch.url.path == a && scratch.role == "class map", "a full disk on a scratch file is reported against the output it serves")
        try Data("S".utf8).write(to: scratch.temporaryURL)
        #expect(!FileManager.default.fileExists(atPath: a) && !FileManager.default.fileExists(atPath: b))
        try set.commit()
        #expect(Self.contents(a) == "A" && Self.contents(a + ".aux.xml") == "AUX" && Self.contents(b) == "B")
        #expect(try Self.hidden(dir).isEmpty)
    }

    @Test("a failed rename puts every previous file back and removes the new ones")
    func rollback() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.tif").path, b = dir.appendingPathComponent("sub/b.tif").path
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("old A".utf8).write(to: URL(fileURLWithPath: a))
        try Data("old A aux".utf8).write(to: URL(fileURLWithPath: a + ".aux.xml"))
        let set = try OutputSet([.init(path: a, role: "class map", sideSuffixes: [".aux.xml"]), .init(path: b, role: "probabilities")], inputs: [], overwrite: true)
        try Data("new A".utf8).write(to: set.files[0].temporaryURL)
        try Data("new B".utf8).write(to: set.files[1].temporaryURL)
        // b's folder is removed during the run (with b's finished file): b cannot be put in place.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("sub"))
        let error = #expect(throws: OutputError.self) { try set.commit() }
        #expect(error?.kind == .gone && error?.output == "probabilities")
        #expect(Self.contents(a) == "old A" && Self.contents(a + ".aux.xml") == "old A aux")
        let left = try Self.hidden(dir)
        #expect(left.isEmpty, "\(left)")
    }

    @Test("without --overwrite, a file that appears at the final name during the run is kept")
    func appeared() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.tif").path, b = dir.appendingPathComponent("b.tif").path
        let set = try OutputSet([.init(path: a, role: "class map"), .init(path: b, role: "probabilities")], inputs: [], overwrite: false)
        try Data("new A".utf8).write(to: set.files[0].temporaryURL)
        try Data("new B".utf8).write(to: set.files[1].temporaryURL)
        try Data("someone else's".utf8).write(to: URL(fileURLWithPath: b))
        let error = #expect(throws: OutputError.self) { try set.commit() }
        #expect(error?.kind == .appeared && error?.path == b)
        #expect(!FileManager.default.fileExists(atPath: a), "the first output is undone")
        #expect(Self.contents(b) == "someone else's")
        #expect(try Self.hidden(dir).isEmpty)
    }

    @Test("a second set on the same output is refused while the first is open, and allowed after")
    func lock() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.tif").path
        let first = try OutputSet([.init(path: a, role: "class map")], inputs: [], overwrite: true)
        let error = #expect(throws: OutputError.self) { _ = try OutputSet([.init(path: a, role: "class map")], inputs: [], overwrite: true) }
        #expect(error?.kind == .busy(holder: "\(getpid())"), "\(String(describing: error))")
        #expect(error?.description.contains("another landscribe run (process \(getpid()))") == true)
        first.discard()
        let second = try OutputSet([.init(path: a, role: "class map")], inputs: [], overwrite: true)
        second.discard()
        #expect(try Self.hidden(dir).isEmpty)
    }

    @Test("temporaries of a process that no longer runs are removed; a live process's are kept")
    func stale() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A process id that is not running: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let parent = getppid()
        let names = [".a.tif.\(dead)-0123ABCD.partial.tif", ".a.tif.\(dead)-0123ABCD.partial.tif.staging.tif",
                     ".landscribe-scratch.\(dead)-89ABCDEF.map.tif", ".a.tif.\(parent)-0123ABCD.partial.tif", ".a.tif.keep"]
        for n in names { try Data().write(to: dir.appendingPathComponent(n)) }
        let set = try OutputSet([.init(path: dir.appendingPathComponent("a.tif").path, role: "class map")], inputs: [], overwrite: false)
        set.discard()
        #expect(try Self.hidden(dir) == [".a.tif.\(parent)-0123ABCD.partial.tif", ".a.tif.keep"])
    }

    @Test("an output on another output's side file, or with the wrong extension, is refused before anything is written")
    func sideFileAndFormat() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.tif").path
        let side = #expect(throws: OutputError.self) {
            _ = try OutputSet([.init(path: a, role: "class map", sideSuffixes: [".aux.xml"]), .init(path: a + ".aux.xml", role: "notes")], inputs: [], overwrite: false)
        }
        #expect(side?.kind == .sameFile(otherOutput: "class map", side: a + ".aux.xml"), "\(String(describing: side))")
        let format = #expect(throws: OutputError.self) {
            _ = try OutputSet([.init(path: dir.appendingPathComponent("map.png").path, role: "class map", extensions: ["tif", "tiff"])], inputs: [], overwrite: false)
        }
        #expect(format?.kind == .format(accepted: ["tif", "tiff"]))
        #expect(try Self.hidden(dir).isEmpty && FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a 240-character output name still gets a temporary name under the file-name limit")
    func longName() throws {
        let dir = SyntheticRaster.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = String(repeating: "n", count: 236) + ".tif"
        let set = try OutputSet([.init(path: dir.appendingPathComponent(name).path, role: "class map", sideSuffixes: [".aux.xml"])], inputs: [], overwrite: false)
        try Data("x".utf8).write(to: URL(fileURLWithPath: set.files[0].temporaryURL.path + ".staging.tif.aux.xml"))
        try Data("x".utf8).write(to: set.files[0].temporaryURL)
        try set.commit()
        #expect(Self.contents(dir.appendingPathComponent(name).path) == "x")
        #expect(try Self.hidden(dir).isEmpty)
    }
}

/// `ExclusiveUse`: the run-time check behind the GDAL handle classes' `Sendable`.
@Suite("One thread at a time on a C handle")
struct ExclusiveUseTests {
    @Test("nested use on one thread is fine, and one thread after another is fine")
    func sameThread() async {
        let use = ExclusiveUse("the raster 'x.tif'")
        #expect(use.run { use.run { 42 } } == 42)
        await Task.detached { #expect(use.run { 7 } == 7) }.value
    }

    @Test("a second thread entering while the first is inside stops the process")
    func twoThreads() async {
        await #expect(processExitsWith: .failure) {
            let use = ExclusiveUse("the raster 'x.tif'")
            let inside = DispatchSemaphore(value: 0)
            Thread.detachNewThread { use.run { inside.signal(); sleep(10) } }
            inside.wait()
            use.run {}
        }
    }
}
