// Reusable scratch memory: kernels grow these once for the largest shape they see and then
// reuse them, so the per-batch hot path performs no heap allocation.

/// A growable buffer of trivial elements: floats (ScratchBuffer), channel indices (IndexScratch),
/// kept counts. `reserve` is inlinable, so callers in other modules get it specialized.
public final class TypedScratch<Element>: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }
    deinit { pointer.deallocate() }

    /// A pointer to at least `count` elements (uninitialized after growth; Element must be trivial).
    @inlinable @inline(__always)
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity { grow(count) }
        return pointer
    }

    @usableFromInline func grow(_ count: Int) {
        pointer.deallocate()
        capacity = count
        pointer = .allocate(capacity: count)
    }
}

public typealias ScratchBuffer = TypedScratch<Float>
public typealias IndexScratch = TypedScratch<Int>

/// Per-thread scratch for a kernel: `slots[chunk]` belongs to parallel chunk `chunk` alone.
public final class Workspace: @unchecked Sendable {
    public let slots: [[ScratchBuffer]]  // [chunk][buffer index]
    public init(threads: Int = Parallel.defaultThreadCount, buffersPerThread: Int = 5) {
        slots = (0..<max(1, threads)).map { _ in (0..<buffersPerThread).map { _ in ScratchBuffer() } }
    }
    public var threads: Int { slots.count }
    @inline(__always)
    public func buffer(_ chunk: Int, _ index: Int, count: Int) -> UnsafeMutablePointer<Float> {
        slots[chunk][index].reserve(count)
    }
}
