internal import CGDAL
import Foundation

/// The process's memory: its peak, and the C library's allocator policy for the whole process
/// (glibc only; a no-op elsewhere).
public enum ProcessMemory {
    /// The most resident memory this process has held so far, in bytes: what a run needed at
    /// its peak, model and GDAL's caches included. On Linux the high-water mark of the process's
    /// own address space (`VmHWM` in /proc/self/status), not `getrusage`'s `ru_maxrss`: the
    /// kernel carries `ru_maxrss` over `exec`, so a process started by a large one (a test
    /// runner, a Python script with a model in memory) would report its parent's size whenever
    /// that was larger than its own peak. `ru_maxrss` where /proc is not there.
    public static var peakResidentBytes: Int {
        if let status = procFile("/proc/self/status"), let kilobytes = statusKilobytes(status, field: "VmHWM") {
            return kilobytes * 1024
        }
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
    }

    /// A /proc file's text, read until the read gives nothing (such files give their size as 0,
    /// so it is not asked); nil when it cannot be opened.
    static func procFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value in kB of a `Name:<tab>   1234 kB` line of /proc/<pid>/status.
    static func statusKilobytes(_ status: String, field: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let words = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2, words[1] == "kB" else { return nil }
            return Int(words[0])
        }
        return nil
    }

    /// glibc's own starting value for the size from which malloc gives a block its own mapping.
    static let mappedBlockThreshold: Int32 = 128 << 10

    /// Makes glibc return freed large blocks to the system at once: fixes the size from which
    /// an allocation gets its own mapping (unmapped when freed) at `mappedBlockThreshold`.
    /// Left alone, glibc raises that size to the largest mapped block freed so far (up to
    /// 32 MiB), and from then on MiB-sized buffers are carved out of its heaps, where a freed one
    /// stays resident for as long as anything above it is live. GDAL's COG copy allocates and
    /// frees such buffers by the hundred (blocks, codec states, overview buffers, one set per
    /// overview level), so `segment`'s peak RSS grew with the scene's height in `finish()`
    /// (docs/benchmarks.md, "segment: memory on tall scenes"). The cost is a fresh, zeroed
    /// mapping for each large allocation (more page faults, measured there too).
    ///
    /// Process-wide, so the tool calls it first thing, not the libraries (a heap that has already
    /// grown keeps serving large blocks from its free space). A threshold the user set
    /// (MALLOC_MMAP_THRESHOLD_, or glibc.malloc.mmap_threshold in GLIBC_TUNABLES) wins.
    /// - Returns: whether the threshold was set.
    @discardableResult
    public static func returnLargeBlocksOnFree() -> Bool {
        #if canImport(Glibc)
        let env = ProcessInfo.processInfo.environment
        if env["MALLOC_MMAP_THRESHOLD_"] != nil || env["GLIBC_TUNABLES"]?.contains("malloc.mmap_threshold") == true {
            return false
        }
        return mallopt(M_MMAP_THRESHOLD, mappedBlockThreshold) == 1
        #else
        return false
        #endif
    }
}
