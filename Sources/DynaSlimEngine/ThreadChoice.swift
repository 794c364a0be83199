// Whether a batch-1 conv is split over the cores, learned per conv from its own timings.
//
// Splitting pays when a conv's work dwarfs a fork's fixed costs (the handshake, the halo rows the
// other core wrote, the two halves finishing at different times). On this 2-vCPU VM that balance
// moves with the host: in its fast spells every ResNet-20 conv ran faster on two cores; in its slow
// spells (the second vCPU delivering a fraction of a core) a 70%-pruned model ran slower on two
// cores than on one (0.547 vs 0.507 ms), conv by conv either way. So each conv times both ways and
// keeps the faster, re-trying the other now and then to follow the host (a two-armed bandit:
// exponential moving averages of nanoseconds per MAC, per MAC so dynamic widths compare).
import Foundation

public struct ThreadChoice: Sendable {
    /// ns per MAC, moving averages; 0 until measured.
    private(set) var serial = 0.0, threaded = 0.0
    private var calls = 0, serialSamples = 0, threadedSamples = 0
    /// Off: every large-enough conv splits (A/B measurements). EngineOptions.processDefault.threadChoice.
    static var enabled: Bool { EngineOptions.processDefault.threadChoice }

    public init() {}

    /// The arm for this call: each arm is measured three times first; then the faster one, with
    /// the slower one re-tried once in 16 calls when they are within 1.5x of each other and once
    /// in 256 otherwise (exploring costs little: a clearly slower arm is rarely re-tried).
    public mutating func useThreads() -> Bool {
        calls &+= 1
        if calls <= 6 { return calls % 2 == 0 }
        let fasterThreaded = threaded <= serial
        let ratio = fasterThreaded ? serial / max(threaded, 1e-12) : threaded / max(serial, 1e-12)
        let period = ratio < 1.5 ? 16 : 256
        return calls % period == 0 ? !fasterThreaded : fasterThreaded
    }

    /// Folds in one timed call, asymmetrically: a faster sample pulls the average halfway down, a
    /// slower one an eighth of the way up and at most to 4x (the host preempts calls for hundreds
    /// of microseconds, and a first sample taken while the other core was still waking up must
    /// not condemn an arm). The averages so track each arm's typical-fast time.
    public mutating func record(threaded wasThreaded: Bool, nanoseconds: UInt64, macs: Int) {
        guard macs > 0 else { return }
        let v = Double(nanoseconds) / Double(macs)
        func fold(_ avg: inout Double, _ samples: inout Int) {
            samples += 1
            // The first three samples: their minimum (the first split call may find the helper
            // core still waking up).
            if samples <= 3 { avg = avg == 0 ? v : min(avg, v) } else if v < avg { avg += (v - avg) / 2 } else { avg += (min(v, avg * 4) - avg) / 8 }
        }
        if wasThreaded { fold(&threaded, &threadedSamples) } else { fold(&serial, &serialSamples) }
    }
}

extension ThreadChoice {
    /// serial / threaded time per MAC once both are measured (the profile's "2-core gain").
    public var gain: Double? { serial > 0 && threaded > 0 ? serial / threaded : nil }
}
