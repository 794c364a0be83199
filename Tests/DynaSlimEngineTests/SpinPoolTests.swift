import Testing
import Dispatch
import DynaSlimCore
@testable import DynaSlimEngine

/// The fork-join pool: every unit of every fork runs exactly once, in the chunk the split assigns,
/// across closure, raw and two-way forks interleaved, and when two callers contend.
@Suite("Spin pool", .serialized)
struct SpinPoolTests {
    /// counts[u] += 1 for each unit u of [lower, upper), and owner[u] = chunk.
    struct Probe { var counts: UnsafeMutablePointer<Int>; var owner: UnsafeMutablePointer<Int> }
    static let rawMark: SpinPool.RawJob = { context, chunk, lower, upper in
        let p = context!.assumingMemoryBound(to: Probe.self).pointee
        for u in lower..<upper { p.counts[u] += 1; p.owner[u] = chunk }
    }

    @Test("closure, raw and two-way forks cover each unit once, 3000 forks interleaved")
    func coverage() {
        let pool = SpinPool(threads: 2)
        let n = 37
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: n), owner = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { counts.deallocate(); owner.deallocate() }
        counts.initialize(repeating: 0, count: n); owner.initialize(repeating: -1, count: n)
        let c = SendablePointer(counts), o = SendablePointer(owner)
        var probe = Probe(counts: counts, owner: owner)
        for i in 0..<1000 {
            pool.forChunks(n) { chunk, r in for u in r { c.base[u] += 1; o.base[u] = chunk } }
            withUnsafePointer(to: &probe) { pool.forChunks(n, raw: Self.rawMark, context: UnsafeRawPointer($0)) }
            let first = i % (n + 1)
            pool.forTwo(n, first: first) { chunk, r in for u in r { c.base[u] += 1; o.base[u] = chunk } }
            #expect((0..<n).allSatisfy { owner[$0] == ($0 < first ? 0 : 1) }, "fork \(i)")
        }
        #expect((0..<n).allSatisfy { counts[$0] == 3000 })
        // Even chunks: the caller takes the first half.
        withUnsafePointer(to: &probe) { pool.forChunks(n, raw: Self.rawMark, context: UnsafeRawPointer($0)) }
        #expect((0..<n).map { owner[$0] } == (0..<n).map { $0 < Parallel.chunkRange(count: n, chunks: 2, index: 0).upperBound ? 0 : 1 })
    }

    @Test("bench fork's trace: each chunk timed on its own core, inside the fork")
    func forkTrace() {
        let r = ForkBenchmark.run(pool: SpinPool(threads: 2), units: 4, iterationsPerUnit: 200, repeats: 30)
        // Both chunks ran work (units split 2 / 2), the helper after the fork began, and the
        // caller's chunk plus its wait at the join fit inside the fork's wall time (per fork, so
        // for the medians too).
        #expect(r.callerChunkNs > 0 && r.helperChunkNs > 0)
        #expect(r.helperStartNs >= 0 && r.helperStartNs <= r.splitNs)
        #expect(r.callerChunkNs <= r.splitNs && r.joinWaitNs >= 0 && r.joinWaitNs <= r.splitNs)
        #expect(r.serialNs > 0 && r.emptyForkNs > 0 && r.units == 4)
    }

    @Test("two callers at once: one forks, the other falls back, nothing is lost")
    func contention() {
        let pool = SpinPool(threads: 2)
        let n = 64, rounds = 300
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 2 * n)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 2 * n)
        let c = SendablePointer(counts)
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for _ in 0..<rounds { pool.forChunks(n) { _, r in for u in r { c.base[caller * n + u] += 1 } } }
        }
        #expect((0..<(2 * n)).allSatisfy { counts[$0] == rounds })
    }
}

@Suite("Thread choice")
struct ThreadChoiceTests {
    /// Runs `calls` calls where a split call costs `threaded` ns and a serial one `serial` ns per
    /// 1000 MACs (optionally one outlier at call `outlierAt`); returns how many ran split in the
    /// last half.
    func simulate(serial: UInt64, threaded: UInt64, calls: Int = 2000, outlierAt: Int? = nil) -> (split: Int, of: Int) {
        var choice = ThreadChoice(), split = 0
        for i in 0..<calls {
            let t = choice.useThreads()
            var ns = t ? threaded : serial
            if i == outlierAt { ns *= 50 }
            choice.record(threaded: t, nanoseconds: ns, macs: 1000)
            if i >= calls / 2 && t { split += 1 }
        }
        return (split, calls - calls / 2)
    }

    @Test("keeps the faster arm, re-trying the slower one rarely")
    func convergence() {
        let fast = simulate(serial: 2000, threaded: 1100)  // splitting pays 1.8x
        #expect(fast.split >= fast.of - fast.of / 16 - 1 && fast.split < fast.of)
        let slow = simulate(serial: 2000, threaded: 9000)  // the other core barely runs
        #expect(slow.split <= slow.of / 256 + 1)
        let close = simulate(serial: 1000, threaded: 1100)  // within 1.5x: re-tried once in 16
        #expect(close.split >= 1 && close.split <= close.of / 16 + 1)
    }

    @Test("one preempted call does not flip the choice")
    func outlier() {
        let r = simulate(serial: 2000, threaded: 1100, outlierAt: 1500)
        #expect(r.split >= r.of - r.of / 16 - 5)
    }
}
