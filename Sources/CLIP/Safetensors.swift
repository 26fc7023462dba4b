// safetensors reader over a memory-mapped file (F32, F16, BF16 -> Float32).
// Format: 8-byte little-endian header length N, N bytes of JSON, then the data region.
import Foundation
public import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One safetensors file, mapped read-only (or held in memory); every header field is checked
/// before any tensor is read.
public final class SafetensorsFile: @unchecked Sendable { // immutable after init; the mapping is read-only
    public enum DType: String, Sendable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, U16, U32, U64, F8_E4M3, F8_E5M2
        public var size: Int {
            switch self {
            case .F64, .I64, .U64: return 8
            case .F32, .I32, .U32: return 4
            case .F16, .BF16, .I16, .U16: return 2
            case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: return 1
            }
        }
    }

    public struct Entry: Sendable {
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data region.
        public let range: Range<Int>
    }

    /// Largest header accepted (the format itself caps it at 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    /// Mapped from a file (`init(path:)`) rather than allocated (`init(bytes:name:)`).
    private let mapped: Bool
    private let dataStart: Int

    public var keys: [String] { entries.keys.sorted() }

    /// Maps the file at `path`.
    public convenience init(path: String) throws {
        func fail(_ reason: String) -> CLIPError { .invalidSafetensors(file: path, reason: reason) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= 8 else { throw fail("file is \(size) bytes, shorter than the 8-byte header length") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw fail("cannot map file: \(String(cString: strerror(errno)))")
        }
        try self.init(path: path, base: map, size: size, mapped: true)
    }

    /// A safetensors file held in memory (a copy of `bytes`); `name` stands for the file in
    /// messages. The same checks as a mapped file; the fuzz target FuzzSafetensors enters here.
    public convenience init(bytes: some Collection<UInt8>, name: String) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        buffer.copyBytes(from: bytes)
        try self.init(path: name, base: buffer.baseAddress!, size: bytes.count, mapped: false)
    }

    /// Takes ownership of `size` bytes at `base` (unmapped or deallocated in `deinit`, or here
    /// when the header is rejected).
    private init(path: String, base: UnsafeMutableRawPointer, size: Int, mapped: Bool) throws {
        var ok = false
        defer { if !ok { Self.release(base, size, mapped: mapped) } }
        let header = try Self.parseHeader(UnsafeRawBufferPointer(start: base, count: size), file: path)
        ok = true
        self.path = path
        self.base = base
        self.mappedBytes = size
        self.mapped = mapped
        self.dataStart = header.dataStart
        self.entries = header.entries
        self.metadata = header.metadata
    }

    /// What the header says: the entries, the metadata and where the data region starts.
    struct Header {
        var entries: [String: Entry]
        var metadata: [String: String]
        var dataStart: Int
    }

    /// Parses and checks the header of a whole file's bytes: the length prefix, the JSON, each
    /// entry's dtype, shape and byte range inside the data region, and that no two overlap.
    static func parseHeader(_ file: UnsafeRawBufferPointer, file path: String) throws -> Header {
        func fail(_ reason: String) -> CLIPError { .invalidSafetensors(file: path, reason: reason) }
        let size = file.count
        guard size >= 8 else { throw fail("file is \(size) bytes, shorter than the 8-byte header length") }
        let headerLength = file.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maxHeaderBytes) else { throw fail("header length \(headerLength) is too large") }
        guard Int(headerLength) <= size - 8 else {
            throw fail("header length \(headerLength) runs past the end of the file (\(size) bytes); truncated?")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = size - dataStart
        let json = Data(UnsafeRawBufferPointer(rebasing: file[8..<dataStart]))
        guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var entries = [String: Entry]()
        var metadata = [String: String]()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in dict { metadata[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
                throw fail("entry '\(name)' has an unknown dtype \(info["dtype"] ?? "nil")")
            }
            guard let shape = Self.integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("entry '\(name)' has an invalid shape")
            }
            guard let offsets = Self.integers(info["data_offsets"]), offsets.count == 2 else {
                throw fail("entry '\(name)' has invalid data_offsets")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("entry '\(name)' has data_offsets [\(begin), \(end)] outside the data region of \(dataLength) bytes")
            }
            var bytes = dtype.size
            for n in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: n)
                guard !overflow else { throw fail("entry '\(name)' has a shape too large: \(shape)") }
                bytes = product
            }
            guard bytes == end - begin else {
                throw fail("entry '\(name)': shape \(shape) of \(dtypeName) needs \(bytes) bytes, data_offsets give \(end - begin)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: begin..<end)
        }
        let sorted = entries.sorted { ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.value.range.lowerBound < previous.value.range.upperBound {
            throw fail("entries '\(previous.key)' and '\(next.key)' overlap")
        }
        return Header(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    deinit {
        Self.release(base, mappedBytes, mapped: mapped)
    }

    private static func release(_ base: UnsafeMutableRawPointer, _ size: Int, mapped: Bool) {
        if mapped { munmap(base, size) } else { base.deallocate() }
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out = [Int]()
        for element in array {
            guard let number = element as? NSNumber, let value = Int(exactly: number.doubleValue),
                  number.doubleValue.magnitude < 0x1p53 else { return nil }
            out.append(value)
        }
        return out
    }

    /// The tensor `name` converted to Float32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw CLIPError.missingKey(name, file: path) }
        let count = entry.shape.reduce(1, *)
        let src = UnsafeRawPointer(base) + dataStart + entry.range.lowerBound
        let values: [Float]
        switch entry.dtype {
        case .F32:
            values = [Float](unsafeUninitializedCapacity: count) { buffer, n in
                if count > 0 { memcpy(buffer.baseAddress!, src, count * 4) }
                n = count
            }
        case .F16:
            values = [Float](unsafeUninitializedCapacity: count) { buffer, n in
                for i in 0..<count {
                    buffer[i] = Self.halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
                }
                n = count
            }
        case .BF16:
            values = [Float](unsafeUninitializedCapacity: count) { buffer, n in
                for i in 0..<count {
                    let bits = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian
                    buffer[i] = Float(bitPattern: UInt32(bits) << 16)
                }
                n = count
            }
        default:
            throw CLIPError.unsupportedDType(name, dtype: entry.dtype.rawValue, file: path)
        }
        if mapped { dropPages(entry.range) }
        return Tensor(shape: entry.shape, storage: values)
    }

    /// Gives back the mapped pages wholly inside a tensor's bytes once they are copied: the
    /// file's pages would otherwise stay in this process's resident memory until the file is
    /// closed, beside their copies (3.4 GB twice for the full SAM 3). The mapping is private and
    /// read-only, so a page asked for again is read back from the file.
    private func dropPages(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (dataStart + range.lowerBound + page - 1) / page * page, end = (dataStart + range.upperBound) / page * page
        if end > start { madvise(base + start, end - start, MADV_DONTNEED) }
    }

    /// Calls `body` with the raw little-endian bytes of a tensor (valid only during the call).
    public func withBytes<T>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard let entry = entries[name] else { throw CLIPError.missingKey(name, file: path) }
        return try body(UnsafeRawBufferPointer(start: UnsafeRawPointer(base) + dataStart + entry.range.lowerBound, count: entry.range.count))
    }

    /// IEEE half (binary16) bits to Float, subnormals, infinities and NaN included.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24 // subnormal (or zero)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
