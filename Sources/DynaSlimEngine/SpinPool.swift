// A persistent fork-join pool for fine-grained parallelism (batch-1 inference splits every conv
// across the cores). Dispatch's concurrentPerform costs ~30 us when the other core has gone idle
// (docs/design.md: Parallelism), which at ~40 forks per ResNet-20 image is as much as the convs themselves; here
// helper threads spin on an atomic generation counter between forks (then poll with short sleeps
// once idle for a while), so a fork costs a fraction of a microsecond.
//
// Cache lines (128 bytes each: adjacent-line prefetchers pull pairs of 64-byte lines) are split by
// writer, so a fork moves as few lines between cores as possible: the caller writes the job and
// bumps the generation in one line (line 0), each helper counts its finished chunks in its own
// line, and the caller's private state has a line of its own. A raw fork (forChunks(_:raw:context:))
// then costs two round trips: line 0 to the helper, its done-line back. Spins issue a PAUSE.
// (Measured while doing this: batch-1 latency on this 2-vCPU VM is bimodal from one process to the
// next, e.g. 0.33 or 0.63 ms for the same model. Per-fork timing showed both threads' chunks
// taking ~1.8x longer in the slow runs, with the helper starting ~0.2-0.4 us after the fork in
// both, so the slow mode is the host's, not the pool's; single-threaded runs drift too.)
import Atomics
import Foundation
import Dispatch
import DynaSlimCore
import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class SpinPool: @unchecked Sendable {
    public let threads: Int
    private static let line = 128

    /// A job as a C-convention function and a pointer to its arguments: fn(context, chunk, lower,
    /// upper) for the units [lower, upper) of chunk `chunk`. The arguments are plain values (the
    /// caller's stack), so such a fork allocates nothing and touches no reference count: a closure
    /// job costs a heap context per fork and retains the helper shares with the caller, which
    /// made an empty fork-join ~0.6 us here, against ~0.12 us for the bare handshake.
    public typealias RawJob = @convention(c) (UnsafeRawPointer?, Int, Int, Int) -> Void

    /// Line 0, written by the caller only: the fork's description, then `generation`'s bump
    /// (release) publishes it; helpers read it after seeing the bump (acquire).
    private struct ForkSlot {
        var fn: RawJob? = nil
        var context: UnsafeRawPointer? = nil
        var count = 0
        /// Chunks of this fork; helper `w` runs chunk `w` when w < chunks.
        var chunks = 0
        /// Two-way forks (forTwo): where chunk 1 starts; -1 for even chunks.
        var first = -1
    }
    private let storage: UnsafeMutableRawPointer
    private let slot: UnsafeMutablePointer<ForkSlot>
    private let generation: UnsafeAtomic<Int>
    /// Per helper (lines 1...threads-1): forks it has finished, ever.
    private let done: [UnsafeAtomic<Int>]
    /// Caller-side line: the pool is in use (one caller at a time), and the forks started so far.
    private let busy: UnsafeAtomic<Bool>
    private let expected: UnsafeMutablePointer<Int>
    /// Set once, at deinit.
    private let stop: UnsafeAtomic<Bool>
    /// A closure job (forChunks(_:_:), forTwo): read by helpers when slot.fn is nil.
    private var job: ((Int, Range<Int>) -> Void)?

    /// One pool per process, shared by all engines (two pools would spin against each other).
    public static let shared = SpinPool(threads: Parallel.defaultThreadCount)

    public init(threads: Int) {
        self.threads = max(1, threads)
        let lines = self.threads + 3  // 0: fork slot; 1..<threads: done counters; then caller; then stop
        let raw = UnsafeMutableRawPointer.allocate(byteCount: lines * Self.line, alignment: Self.line)
        storage = raw
        func line<T>(_ i: Int, _ type: T.Type) -> UnsafeMutablePointer<T> { (raw + i * Self.line).bindMemory(to: type, capacity: 1) }
        slot = line(0, ForkSlot.self)
        slot.initialize(to: ForkSlot())
        // The generation counter shares line 0 with the slot, after it.
        let genStorage = (raw + MemoryLayout<ForkSlot>.stride).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        precondition(MemoryLayout<ForkSlot>.stride + MemoryLayout<Int>.stride <= Self.line)
        genStorage.initialize(to: .init(0))
        generation = UnsafeAtomic(at: genStorage)
        done = (1..<max(2, self.threads)).map { w in
            let p = line(w, UnsafeAtomic<Int>.Storage.self)
            p.initialize(to: .init(0))
            return UnsafeAtomic(at: p)
        }
        let callerLine = max(2, self.threads)
        let b = line(callerLine, UnsafeAtomic<Bool>.Storage.self)
        b.initialize(to: .init(false))
        busy = UnsafeAtomic(at: b)
        expected = (raw + callerLine * Self.line + 64).bindMemory(to: Int.self, capacity: 1)
        expected.initialize(to: 0)
        let s = line(callerLine + 1, UnsafeAtomic<Bool>.Storage.self)
        s.initialize(to: .init(false))
        stop = UnsafeAtomic(at: s)
        for worker in 1..<self.threads {
            let t = Thread { [unowned self] in self.workerLoop(worker) }
            t.start()
        }
    }

    // The pool lives as long as the process (`shared`); a pool made by hand leaks its helpers'
    // spin state rather than free memory a helper may still read.
    deinit { stop.store(true, ordering: .releasing) }

    private func workerLoop(_ worker: Int) {
        var seen = 0
        let finished = done[worker - 1]
        while !stop.load(ordering: .acquiring) {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                if stop.load(ordering: .relaxed) { return }
                spins += 1
                ds_cpu_relax()
                if spins > 100_000 { usleep(100) }  // idle for a while: stop burning the core
                else if spins % 4096 == 0 { sched_yield() }  // oversubscribed machine: let the peer run
            }
            seen = generation.load(ordering: .acquiring)
            let fork = slot.pointee
            if worker < fork.chunks {
                let r = Self.range(count: fork.count, chunks: fork.chunks, first: fork.first, index: worker)
                if let fn = fork.fn { fn(fork.context, worker, r.lowerBound, r.upperBound) } else if let job { job(worker, r) }
            }
            finished.wrappingIncrement(ordering: .releasing)
        }
    }

    @inline(__always)
    private static func range(count: Int, chunks: Int, first: Int, index: Int) -> Range<Int> {
        first < 0 ? Parallel.chunkRange(count: count, chunks: chunks, index: index) : (index == 0 ? 0..<first : first..<count)
    }

    /// Splits 0..<count into `threads` contiguous chunks and runs body(chunk, range) for each, the
    /// caller taking chunk 0. If another caller holds the pool, falls back to Dispatch.
    public func forChunks(_ count: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let n = min(threads, count)
        if n <= 1 { if count > 0 { body(0, 0..<count) }; return }
        fork(ForkSlot(count: count, chunks: n), body)
    }

    /// forChunks for a RawJob: fn(context, chunk, lower, upper) over even chunks of 0..<count,
    /// the caller taking chunk 0. `context` must stay valid until this returns.
    public func forChunks(_ count: Int, raw fn: RawJob, context: UnsafeRawPointer) {
        let n = min(threads, count)
        if n <= 1 { if count > 0 { fn(context, 0, 0, count) }; return }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            // Another caller holds the pool: this fork runs its chunks in turn.
            for c in 0..<n { let r = Parallel.chunkRange(count: count, chunks: n, index: c); fn(context, c, r.lowerBound, r.upperBound) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        start(ForkSlot(fn: fn, context: context, count: count, chunks: n))
        let r = Parallel.chunkRange(count: count, chunks: n, index: 0)
        fn(context, 0, r.lowerBound, r.upperBound)
        join()
    }

    /// Two chunks, [0, first) for the caller (chunk 0) and [first, count) for a helper (chunk 1),
    /// both run even when empty (a chunk may have other work to do first). One thread: both in turn.
    public func forTwo(_ count: Int, first: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let first = min(max(first, 0), count)
        guard threads >= 2 else { body(0, 0..<first); body(1, first..<count); return }
        fork(ForkSlot(count: count, chunks: 2, first: first), body)
    }

    /// forTwo for a RawJob (no allocation): fn(context, 0, 0, first) on the caller and
    /// fn(context, 1, first, count) on a helper, both run even when empty.
    public func forTwo(_ count: Int, first: Int, raw fn: RawJob, context: UnsafeRawPointer) {
        let first = min(max(first, 0), count)
        guard threads >= 2, busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            fn(context, 0, 0, first); fn(context, 1, first, count); return
        }
        defer { busy.store(false, ordering: .releasing) }
        start(ForkSlot(fn: fn, context: context, count: count, chunks: 2, first: first))
        fn(context, 0, 0, first)
        join()
    }

    /// Runs body(c, range(c)) for the fork's chunks, the caller taking chunk 0.
    private func fork(_ description: ForkSlot, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let d = description
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            // Another caller holds the pool: Dispatch.
            withoutActuallyEscaping(body) { b in
                let box = UnsafeSendableBox(b), count = d.count, chunks = d.chunks, first = d.first
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    box.value(c, Self.range(count: count, chunks: chunks, first: first, index: c))
                }
            }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { b in
            job = b
            start(d)
            b(0, Self.range(count: d.count, chunks: d.chunks, first: d.first, index: 0))
            join()
            job = nil
        }
    }

    /// Publishes a fork (the caller holds `busy`).
    @inline(__always)
    private func start(_ description: ForkSlot) {
        slot.pointee = description
        expected.pointee &+= 1  // each helper counts every fork it sees, running a chunk or not
        generation.wrappingIncrement(ordering: .releasing)
    }

    /// Waits until every helper has finished the current fork.
    @inline(__always)
    private func join() {
        let target = expected.pointee
        for finished in done {
            var spins = 0
            while finished.load(ordering: .acquiring) != target {
                spins += 1
                ds_cpu_relax()
                if spins % 4096 == 0 { sched_yield() }
            }
        }
    }
}

/// A non-Sendable closure handed to Dispatch for the duration of one call (the fallback path).
private struct UnsafeSendableBox<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }
