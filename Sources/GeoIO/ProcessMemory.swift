internal import CGDAL
import Foundation

/// The C library's allocator policy for the whole process (glibc only; a no-op elsewhere).
public enum ProcessMemory {
    /// The most resident memory this process has held so far, in bytes (`getrusage`'s
    /// `ru_maxrss`): what a run needed at its peak, model and GDAL's caches included.
    public static var peakResidentBytes: Int {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
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
