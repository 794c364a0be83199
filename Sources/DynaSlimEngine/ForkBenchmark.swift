// What a batch-1 fork costs on this machine (`dynaslim bench fork`): SpinPool's fork-join with no
// work, and a fixed amount of compute-only work run whole on the caller against split over two
// cores, with each fork traced (when the helper started, how long each chunk took, how long the
// caller waited at the join). A conv split across the cores pays these costs once per call, so
// they bound what the second core can give a thinned model's 10-30 us convs.
import Dispatch
import CKernels

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
    /// The same split run again at once (the helper has just worked, instead of idling through the
    /// caller's serial run): its wall time and the helper's chunk.
    public let backToBackSplitNs: Double, backToBackHelperChunkNs: Double
    /// serial / split.
    public var gain: Double { serialNs / splitNs }
}

public enum ForkBenchmark {
    /// Per-fork timestamps and the work's size: the raw job's context.
    /// Chunk c's start and end times at stamps[16 c] and stamps[16 c + 1] (a 128-byte line per
    /// chunk, so the two cores do not write one line).
    private struct Trace {
        var iterationsPerUnit: Int
        var lanes: Int
        var stamps: UnsafeMutablePointer<UInt64>
        var sink: Float = 0
    }

    /// A compute-only unit of work: twelve independent chains of multiply-adds on registers, 8 or 16
    /// lanes wide, in C with the kernels' instruction sets (CKernels/fma_work.c), no memory traffic:
    /// the two cores' chunks cost the same when the cores are equal and separate. Two hyperthreads of
    /// one core would share the vector units: then a split gains little.
    static func work(lanes: Int, iterations: Int, seed: Float) -> Float { ds_fma_work(iterations, Int32(lanes), seed) }

    private static let job: SpinPool.RawJob = { context, chunk, lower, upper in
        let t = UnsafeMutableRawPointer(mutating: context!).assumingMemoryBound(to: Trace.self)
        let stamps = t.pointee.stamps + 16 * chunk, iterations = t.pointee.iterationsPerUnit
        stamps[0] = EngineProfile.now()
        var s: Float = 0
        for u in lower..<upper {
            s += work(lanes: t.pointee.lanes, iterations: iterations, seed: Float(u))
        }
        stamps[1] = EngineProfile.now()
        if chunk == 0 { t.pointee.sink += s }
    }

    /// `units` work units of `iterationsPerUnit` each (~450 iterations per us on this machine's
    /// cores, at 8 or 16 lanes alike),
    /// `repeats` forks of each kind on `pool` (two threads or more), `lanes` 8 or 16 per vector.
    public static func run(pool: SpinPool = .shared, units: Int = 16, iterationsPerUnit: Int = 1000, repeats: Int = 2000,
                           lanes: Int = 8) -> ForkBenchmarkResult {
        precondition(pool.threads >= 2, "the fork benchmark needs two threads")
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let stamps = UnsafeMutablePointer<UInt64>.allocate(capacity: 32)
        stamps.initialize(repeating: 0, count: 32)
        defer { stamps.deallocate() }
        var trace = Trace(iterationsPerUnit: iterationsPerUnit, lanes: lanes == 16 ? 16 : 8, stamps: stamps)
        var empty: [Double] = [], serial: [Double] = [], split: [Double] = []
        var helperStart: [Double] = [], callerChunk: [Double] = [], helperChunk: [Double] = [], joinWait: [Double] = []
        var again: [Double] = [], againHelper: [Double] = []
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
                t0 = EngineProfile.now()
                pool.forChunks(units, raw: job, context: context)
                t1 = EngineProfile.now()
                if record { again.append(Double(t1 - t0)); againHelper.append(Double(stamps[17] - stamps[16])) }
            }
        }
        return ForkBenchmarkResult(emptyForkNs: median(empty), units: units, serialNs: median(serial), splitNs: median(split),
                                   helperStartNs: median(helperStart), callerChunkNs: median(callerChunk),
                                   helperChunkNs: median(helperChunk), joinWaitNs: median(joinWait),
                                   backToBackSplitNs: median(again), backToBackHelperChunkNs: median(againHelper))
    }
}
