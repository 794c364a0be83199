// A persistent fork-join pool for fine-grained parallelism (batch-1 inference splits every conv
// across the cores). Dispatch's concurrentPerform costs ~30 us when the other core has gone idle
// (DESIGN.md), which at ~40 forks per ResNet-20 image is as much as the convs themselves; here
// helper threads spin on an atomic generation counter between forks (then poll with short sleeps
// once idle for a while), so a fork costs about a microsecond.
//
// Each shared atomic lives on its own 128-byte line (adjacent-line prefetchers pull pairs of
// 64-byte lines), so a write by one core to one of them, or to unrelated heap data that happened
// to share the line, does not stall the other core's spin loop; spins issue a PAUSE.
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
    private let storage: UnsafeMutableRawPointer
    /// Line 0: bumped by the caller to start a fork; line 1: helpers still running; line 2: the
    /// pool is in use; line 3: shut down; line 4: the current raw job (forChunks(_:raw:context:)).
    private let generation: UnsafeAtomic<Int>
    private let pending: UnsafeAtomic<Int>
    private let busy: UnsafeAtomic<Bool>
    private let stop: UnsafeAtomic<Bool>

    /// One pool per process, shared by all engines (two pools would spin against each other).
    public static let shared = SpinPool(threads: Parallel.defaultThreadCount)
    /// The current fork's work and chunk count: written by the caller before it bumps
    /// `generation` (release), read by helpers after they see the bump (acquire).
    private var job: ((Int) -> Void)?
    private var chunks = 0

    /// A job as a C-convention function and a pointer to its arguments: fn(context, chunk, lower,
    /// upper) for the units [lower, upper) of chunk `chunk`. The arguments are plain values (the
    /// caller's stack), so such a fork allocates nothing and touches no reference count: a closure
    /// job costs a heap context per fork and retains the helper shares with the caller, which
    /// made an empty fork-join ~0.6 us here, against ~0.12 us for the bare handshake.
    public typealias RawJob = @convention(c) (UnsafeRawPointer?, Int, Int, Int) -> Void
    private struct RawJobSlot {
        var fn: RawJob? = nil
        var context: UnsafeRawPointer? = nil
        var count = 0
    }
    private let rawJob: UnsafeMutablePointer<RawJobSlot>

    public init(threads: Int) {
        self.threads = max(1, threads)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 5 * Self.line, alignment: Self.line)
        storage = raw
        func slot<T>(_ i: Int, _ type: T.Type) -> UnsafeMutablePointer<T> {
            (raw + i * 128).bindMemory(to: type, capacity: 1)
        }
        let g = slot(0, UnsafeAtomic<Int>.Storage.self), p = slot(1, UnsafeAtomic<Int>.Storage.self)
        let b = slot(2, UnsafeAtomic<Bool>.Storage.self), s = slot(3, UnsafeAtomic<Bool>.Storage.self)
        g.initialize(to: UnsafeAtomic<Int>.Storage(0))
        p.initialize(to: UnsafeAtomic<Int>.Storage(0))
        b.initialize(to: UnsafeAtomic<Bool>.Storage(false))
        s.initialize(to: UnsafeAtomic<Bool>.Storage(false))
        generation = UnsafeAtomic(at: g)
        pending = UnsafeAtomic(at: p)
        busy = UnsafeAtomic(at: b)
        stop = UnsafeAtomic(at: s)
        rawJob = (raw + 4 * Self.line).bindMemory(to: RawJobSlot.self, capacity: 1)
        rawJob.initialize(to: RawJobSlot())
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
            if worker < chunks {
                let raw = rawJob.pointee
                if let fn = raw.fn {
                    let r = Parallel.chunkRange(count: raw.count, chunks: chunks, index: worker)
                    fn(raw.context, worker, r.lowerBound, r.upperBound)
                } else if let job {
                    job(worker)
                }
            }
            pending.wrappingDecrement(ordering: .acquiringAndReleasing)
        }
    }

    /// Splits 0..<count into `threads` contiguous chunks and runs body(chunk, range) for each, the
    /// caller taking chunk 0. If another caller holds the pool, falls back to Dispatch.
    public func forChunks(_ count: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let n = min(threads, count)
        if n <= 1 { if count > 0 { body(0, 0..<count) }; return }
        fork(chunks: n, body) { c in Parallel.chunkRange(count: count, chunks: n, index: c) }
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
        chunks = n
        rawJob.pointee = RawJobSlot(fn: fn, context: context, count: count)
        pending.store(threads - 1, ordering: .releasing)
        generation.wrappingIncrement(ordering: .acquiringAndReleasing)
        let r = Parallel.chunkRange(count: count, chunks: n, index: 0)
        fn(context, 0, r.lowerBound, r.upperBound)
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            ds_cpu_relax()
            if spins % 4096 == 0 { sched_yield() }
        }
        rawJob.pointee.fn = nil
    }

    /// Two chunks, [0, first) for the caller (chunk 0) and [first, count) for a helper (chunk 1),
    /// both run even when empty (a chunk may have other work to do first). One thread: both in turn.
    public func forTwo(_ count: Int, first: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let first = min(max(first, 0), count)
        guard threads >= 2 else { body(0, 0..<first); body(1, first..<count); return }
        fork(chunks: 2, body) { c in c == 0 ? 0..<first : first..<count }
    }

    /// Runs body(c, range(c)) for c in 0..<n, the caller taking chunk 0.
    private func fork(chunks n: Int, _ body: @Sendable (Int, Range<Int>) -> Void, range: @escaping @Sendable (Int) -> Range<Int>) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            // Another caller holds the pool: Dispatch.
            withoutActuallyEscaping(body) { b in
                let box = UnsafeSendableBox(b)
                DispatchQueue.concurrentPerform(iterations: n) { c in box.value(c, range(c)) }
            }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { b in
            chunks = n
            job = { c in b(c, range(c)) }
            pending.store(threads - 1, ordering: .releasing)
            generation.wrappingIncrement(ordering: .acquiringAndReleasing)
            b(0, range(0))
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                ds_cpu_relax()
                if spins % 4096 == 0 { sched_yield() }
            }
            job = nil
        }
    }
}

/// A non-Sendable closure handed to Dispatch for the duration of one call (the fallback path).
private struct UnsafeSendableBox<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }
