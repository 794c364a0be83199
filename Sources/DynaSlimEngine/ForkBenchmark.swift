// What a batch-1 fork costs on this machine (`dynaslim bench fork`): SpinPool's fork-join with no
// work, and a fixed amount of compute-only work run whole on the caller against split over two
// cores, with each fork traced (when the helper started, how long each chunk took, how long the
// caller waited at the join). A conv split across the cores pays these costs once per call, so
// they bound what the second core can give a thinned model's 10-30 us convs.
import Dispatch

public struct ForkBenchmarkResult: Sendable {
    /// Median nanoseconds of an empty fork-join (both chunks empty).
    public let emptyForkNs: Double
    /// Work units per fork and the median serial time of all of them on the caller (ns).
    public let units: Int
    public let serialNs: Double
    /// Median wall time of the split fork (ns), and the medians of its trace: the helper's start
    /// after the fork began, the caller's and the helper's chunk durations, the caller's wait at
    /// the join after finishing its chunk.
    public let splitNs: Double
    public let helperStartNs: Double, callerChunkNs: Double, helperChunkNs: Double, joinWaitNs: Double
    /// serial / split.
    public var gain: Double { serialNs / splitNs }
}

public enum ForkBenchmark {
    /// Per-fork timestamps and the work's size: the raw job's context.
    /// Chunk c's start and end times at stamps[16 c] and stamps[16 c + 1] (a 128-byte line per
    /// chunk, so the two cores do not write one line).
    private struct Trace {
        var iterationsPerUnit: Int
        var stamps: UnsafeMutablePointer<UInt64>
        var sink: Float = 0
    }

    /// A compute-only unit of work: twelve independent chains of 8-lane multiply-adds on registers
    /// (no memory traffic; enough chains to keep a core's vector units busy, as a conv's register
    /// tile does), so the two cores' chunks cost the same when the cores are equal and separate.
    /// Two hyperthreads of one core would share the units: then a split gains little.
    @inline(never)
    static func work(iterations: Int, seed: Float) -> Float {
        let b = SIMD8<Float>(repeating: 0.999), c = SIMD8<Float>(repeating: 1e-3)
        var acc = (SIMD8<Float>(repeating: seed), SIMD8<Float>(repeating: seed + 1), SIMD8<Float>(repeating: seed + 2),
                   SIMD8<Float>(repeating: seed + 3), SIMD8<Float>(repeating: seed + 4), SIMD8<Float>(repeating: seed + 5))
        var acc2 = acc
        for _ in 0..<iterations {
            acc.0 = acc.0 * b + c; acc.1 = acc.1 * b + c; acc.2 = acc.2 * b + c
            acc.3 = acc.3 * b + c; acc.4 = acc.4 * b + c; acc.5 = acc.5 * b + c
            acc2.0 = acc2.0 * b + c; acc2.1 = acc2.1 * b + c; acc2.2 = acc2.2 * b + c
            acc2.3 = acc2.3 * b + c; acc2.4 = acc2.4 * b + c; acc2.5 = acc2.5 * b + c
        }
        return (acc.0 + acc.1 + acc.2 + acc.3 + acc.4 + acc.5 + acc2.0 + acc2.1 + acc2.2 + acc2.3 + acc2.4 + acc2.5).sum()
    }

    private static let job: SpinPool.RawJob = { context, chunk, lower, upper in
        let t = UnsafeMutableRawPointer(mutating: context!).assumingMemoryBound(to: Trace.self)
        let stamps = t.pointee.stamps + 16 * chunk, iterations = t.pointee.iterationsPerUnit
        stamps[0] = EngineProfile.now()
        var s: Float = 0
        for u in lower..<upper { s += work(iterations: iterations, seed: Float(u)) }
        stamps[1] = EngineProfile.now()
        if chunk == 0 { t.pointee.sink += s }
    }

    /// `units` work units of `iterationsPerUnit` each (about 1 us per 1,000 iterations), `repeats`
    /// forks of each kind on `pool` (two threads or more).
    public static func run(pool: SpinPool = .shared, units: Int = 16, iterationsPerUnit: Int = 1000, repeats: Int = 2000) -> ForkBenchmarkResult {
        precondition(pool.threads >= 2, "the fork benchmark needs two threads")
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let stamps = UnsafeMutablePointer<UInt64>.allocate(capacity: 32)
        stamps.initialize(repeating: 0, count: 32)
        defer { stamps.deallocate() }
        var trace = Trace(iterationsPerUnit: iterationsPerUnit, stamps: stamps)
        var empty: [Double] = [], serial: [Double] = [], split: [Double] = []
        var helperStart: [Double] = [], callerChunk: [Double] = [], helperChunk: [Double] = [], joinWait: [Double] = []
        withUnsafeMutablePointer(to: &trace) { tp in
            let context = UnsafeRawPointer(tp)
            for i in 0..<(repeats + 50) {
                let record = i >= 50  // the first forks wake the helper
                var t0 = EngineProfile.now()
                pool.forTwo(0, first: 0, raw: { _, _, _, _ in }, context: context)
                var t1 = EngineProfile.now()
                if record { empty.append(Double(t1 - t0)) }
                t0 = EngineProfile.now()
                job(context, 0, 0, units)
                t1 = EngineProfile.now()
                if record { serial.append(Double(t1 - t0)) }
                t0 = EngineProfile.now()
                pool.forChunks(units, raw: job, context: context)
                t1 = EngineProfile.now()
                if record {
                    split.append(Double(t1 - t0))
                    helperStart.append(Double(Int64(bitPattern: stamps[16] &- t0)))
                    callerChunk.append(Double(stamps[1] - stamps[0]))
                    helperChunk.append(Double(stamps[17] - stamps[16]))
                    joinWait.append(Double(Int64(bitPattern: t1 &- stamps[1])))
                }
            }
        }
        return ForkBenchmarkResult(emptyForkNs: median(empty), units: units, serialNs: median(serial), splitNs: median(split),
                                   helperStartNs: median(helperStart), callerChunkNs: median(callerChunk),
                                   helperChunkNs: median(helperChunk), joinWaitNs: median(joinWait))
    }
}
