// Tensor: plain row-major, contiguous Float32 arrays. See docs/ARCHITECTURE.md.

/// A row-major, contiguous Float32 tensor: a shape and its values, nothing else.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var storage: [Float]

    /// A tensor over `storage`, whose count must equal the product of `shape`.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of `shape` whose every value `initialize` writes into the uninitialized buffer it
    /// is given. No zero-fill first: the first touch of a large buffer's pages (the kernel's page
    /// faults) happens in `initialize`, where workers can share it, not in a serial fill.
    public init(shape: [Int], initializingWith initialize: (UnsafeMutablePointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, storage: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { initialize(buffer.baseAddress!) }
            initialized = count
        })
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Element access by full index (slow path, for tests and small code).
    public subscript(_ index: Int...) -> Float {
        get { storage[offset(index)] }
        set { storage[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// Rows `range` of the first axis.
    public func slice(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0])
        let inner = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + shape.dropFirst(),
                      storage: Array(storage[range.lowerBound * inner ..< range.upperBound * inner]))
    }

    /// The last two axes swapped, [..., R, C] -> [..., C, R] (channel planes <-> token rows), in
    /// 32 x 32 tiles shared among `workers`, into an uninitialized output. Pure copies: the same
    /// values on any number of workers.
    public func swappingLastAxes(workers: Int = 1) -> Tensor {
        precondition(rank >= 2, "swappingLastAxes needs two axes, got \(shape)")
        let (r, c) = (shape[rank - 2], shape[rank - 1])
        var swapped = shape
        swapped.swapAt(rank - 2, rank - 1)
        if count == 0 { return Tensor(shape: swapped) }
        let tile = 32, rowTiles = (r + tile - 1) / tile, matrices = count / (r * c)
        return storage.withUnsafeBufferPointer { source in
            Tensor(shape: swapped) { out in
                Parallel.forEach(tasks: matrices * rowTiles, workers: workers) { task, _ in
                    let a = source.baseAddress! + task / rowTiles * r * c, b = out + task / rowTiles * r * c
                    let rows = task % rowTiles * tile ..< min(r, (task % rowTiles + 1) * tile)
                    for c0 in stride(from: 0, to: c, by: tile) {
                        for i in rows { for j in c0 ..< min(c, c0 + tile) { b[j * r + i] = a[i * c + j] } }
                    }
                }
            }
        }
    }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float { storage.reduce(0) { max($0, abs($1)) } }
}
