// Fork-join parallelism over the machine's cores, at batch or channel granularity.
// Splitting per small op costs more than it gains (docs/design.md: Parallelism, ~1-30 us per fork), so callers
// split whole batches or many channels at once.
import Foundation
import Dispatch

/// A pointer that may cross into a `@Sendable` closure. The caller guarantees that concurrent
/// users touch disjoint elements (the usual contract of a parallel-for over a flat buffer).
public struct SendablePointer<Element>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    public init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
    @inline(__always) public subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    @inline(__always) public func advanced(by n: Int) -> UnsafeMutablePointer<Element> { base + n }
}

public struct SendableConstPointer<Element>: @unchecked Sendable {
    public let base: UnsafePointer<Element>
    public init(_ base: UnsafePointer<Element>) { self.base = base }
    @inline(__always) public subscript(i: Int) -> Element { base[i] }
    @inline(__always) public func advanced(by n: Int) -> UnsafePointer<Element> { base + n }
}

public enum Parallel {
    /// Worker count: the number of active cores unless the caller sets it once at start-up, before any
    /// work runs (the CLI maps $DYNASLIM_THREADS onto it; the library reads no environment).
    nonisolated(unsafe) public static var defaultThreadCount: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Splits 0..<count into `min(threads, count)` contiguous chunks and runs `body(chunkIndex, range)`
    /// for each, concurrently. Chunk i always gets the same range for the same (count, threads), so
    /// per-chunk workspaces can be indexed by chunkIndex. Runs inline when one chunk suffices.
    public static func forChunks(
        _ count: Int, threads: Int = Parallel.defaultThreadCount,
        _ body: @Sendable (_ chunk: Int, _ range: Range<Int>) -> Void
    ) {
        if count <= 0 { return }
        let chunks = max(1, min(threads, count))
        if chunks == 1 { body(0, 0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body(c, chunkRange(count: count, chunks: chunks, index: c))
        }
    }

    /// Elementwise work over 0..<count: split across threads only when large enough to pay for
    /// the fork (a few MB; docs/design.md: Parallelism), else run inline.
    @inline(__always)
    public static func forRanges(_ count: Int, minimumPerThread: Int = 1 << 17, _ body: @Sendable (Range<Int>) -> Void) {
        let threads = min(defaultThreadCount, max(1, count / minimumPerThread))
        if threads <= 1 { body(0..<count); return }
        forChunks(count, threads: threads) { _, r in body(r) }
    }

    @inline(__always)
    public static func chunkRange(count: Int, chunks: Int, index: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }
}
