// A persistent fork-join pool for fine-grained parallelism (batch-1 inference splits every conv
// across the cores). Dispatch's concurrentPerform costs ~30 us when the other core has gone idle
// (DESIGN.md), which at ~40 forks per ResNet-20 image is as much as the convs themselves; here
// helper threads spin on an atomic generation counter between forks (then poll with short sleeps
// once idle for a while), so a fork costs about a microsecond.
import Atomics
import Foundation
import Dispatch
import DynaSlimCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class SpinPool: @unchecked Sendable {
    public let threads: Int
    private let generation = ManagedAtomic<Int>(0)
    private let pending = ManagedAtomic<Int>(0)
    private let stop = ManagedAtomic<Bool>(false)
    private let busy = ManagedAtomic<Bool>(false)

    /// One pool per process, shared by all engines (two pools would spin against each other).
    public static let shared = SpinPool(threads: Parallel.defaultThreadCount)
    private var job: ((Int) -> Void)?
    private var chunks = 0

    public init(threads: Int) {
        self.threads = max(1, threads)
        for worker in 1..<self.threads {
            let t = Thread { [unowned self] in self.workerLoop(worker) }
            t.start()
        }
    }

    deinit { stop.store(true, ordering: .releasing) }

    private func workerLoop(_ worker: Int) {
        var seen = 0
        while !stop.load(ordering: .acquiring) {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                if stop.load(ordering: .relaxed) { return }
                spins += 1
                if spins > 200_000 { usleep(100) }  // idle for a while: stop burning the core
                else if spins % 4096 == 0 { sched_yield() }  // oversubscribed machine: let the peer run
            }
            seen = generation.load(ordering: .acquiring)
            if worker < chunks, let job { job(worker) }
            pending.wrappingDecrement(ordering: .acquiringAndReleasing)
        }
    }

    /// Splits 0..<count into `threads` contiguous chunks and runs body(chunk, range) for each, the
    /// caller taking chunk 0. If another caller holds the pool, falls back to Dispatch.
    public func forChunks(_ count: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let n = min(threads, count)
        if n <= 1 { if count > 0 { body(0, 0..<count) }; return }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            Parallel.forChunks(count, threads: threads, body)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { b in
            chunks = n
            job = { c in b(c, Parallel.chunkRange(count: count, chunks: n, index: c)) }
            pending.store(threads - 1, ordering: .releasing)
            generation.wrappingIncrement(ordering: .acquiringAndReleasing)
            b(0, Parallel.chunkRange(count: count, chunks: n, index: 0))
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins % 4096 == 0 { sched_yield() }
            }
            job = nil
        }
    }
}
