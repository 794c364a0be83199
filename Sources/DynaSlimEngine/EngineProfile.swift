// Per-step timing of single-image runs (`dynaslim bench infer --profile`): where a thinned or
// dynamic model loses against its FLOP count. Off by default; when on, each step of the padded
// batch-1 path adds its wall time and MACs to a named entry (reported as the median per call).
import Dispatch

public final class EngineProfile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public var nanoseconds: UInt64 = 0
        public var macs: Double = 0
        public var calls = 0
        /// Every call's wall time, for the median (the host's slow spells and preemptions put
        /// outliers of hundreds of microseconds into a mean).
        public var samples: [UInt64] = []
        /// Median microseconds per call.
        public var medianMicroseconds: Double {
            guard !samples.isEmpty else { return 0 }
            return Double(samples.sorted()[samples.count / 2]) / 1e3
        }
        /// For a conv that may split over the cores: serial / split time as ThreadChoice last
        /// estimated it (> 1: splitting pays, and the conv runs split).
        public var splitGain: Double?
        /// MACs per call.
        public var macsPerCall: Double { macs / Double(max(1, calls)) }
    }
    /// Steps in first-seen order.
    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    public init() {}

    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Adds one call of step `name` that ran from `start` to `end` (EngineProfile.now()).
    func add(_ name: String, from start: UInt64, to end: UInt64, macs: Int = 0, splitGain: Double? = nil) {
        let dt = end &- start
        let i: Int
        if let j = index[name] { i = j } else { i = entries.count; index[name] = i; entries.append(Entry(name: name)) }
        entries[i].nanoseconds &+= dt
        entries[i].macs += Double(macs)
        entries[i].calls += 1
        entries[i].samples.append(dt)
        if let splitGain { entries[i].splitGain = splitGain }
    }

    public func reset() { entries = []; index = [:] }
}
