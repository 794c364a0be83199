// The dynamic-slimming training rule as small, tested functions (docs/design.md "Gate rule":
// our reading of the thesis, revised after a PyTorch prototype).
//
// Per gated layer l with a_c = |gamma_c| and sample i:
//   lo = min_c a_c, hi = second-largest a_c (one outlier gamma cannot stretch the range), both
//   without gradient; t_il = lo + sigmoid(o_il) * (hi - lo); tau = tauScale * (hi - lo);
//   hard mask m_ic = [a_c >= t_il] (the largest channel always passes, since t <= hi);
//   soft mask s_ic = sigmoid((a_c - t_il) / tau); the forward pass uses m, the backward s (STE).
// Rate of a sample: r_i = sum_l w_l * (1 - mean_c s_ic) with a detached (gamma gets no gradient
// from the rate), w_l the layer's share of the gated MACs; or the hard rate with s's gradient.
// Expected rate (thesis): v_i = unbiased variance over classes of sample i's softmax;
//   R_i = clamp(T_e * (v_i / mean_batch v)^kappa, 0, R_max), T_e = T * min(1, epoch / (epoch_ratio * epochs));
//   `uniform`: R_i = T_e.
//   `oracle` (supervised, after DS-Net's gate labels): u_i = the pruning rate of the cheapest level that
//   classifies training image i correctly (1 - its width fraction; 0 when no level does), computed once
//   from the backbone by the headroom oracle; R_i = clamp(T_e * u_i / mean_batch u, 0, R_max). The
//   batch mean keeps the budget at T while the per-input shape follows the oracle.
import DynaSlimCore

public enum RateTarget: String, Codable, Sendable, CaseIterable { case variance, uniform, oracle }

public enum GateRule {
    @inline(__always) public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// (lo, hi) of |gamma| for one layer: min and the second largest (the max for one channel).
    public static func range(_ absGamma: [Float]) -> (lo: Float, hi: Float) {
        precondition(!absGamma.isEmpty, "a gated layer needs at least one channel")
        var lo = Float.infinity, first = -Float.infinity, second = -Float.infinity
        for a in absGamma {
            lo = min(lo, a)
            if a > first { second = first; first = a } else if a > second { second = a }
        }
        return (lo, absGamma.count > 1 ? second : first)
    }

    @inline(__always)
    public static func threshold(_ o: Float, lo: Float, hi: Float) -> Float { lo + sigmoid(o) * (hi - lo) }

    /// tau, floored so a layer whose gammas are all equal still has a finite soft mask.
    @inline(__always)
    public static func tau(lo: Float, hi: Float, scale: Float) -> Float { max(scale * (hi - lo), 1e-6) }

    /// The curriculum: T_e = T * min(1, progress / (epochRatio * epochs)), progress in epochs (fractional).
    public static func scheduledTarget(_ target: Float, progress: Double, epochRatio: Double, epochs: Int) -> Float {
        let ramp = epochRatio * Double(epochs)
        return ramp <= 0 ? target : target * Float(min(1, progress / ramp))
    }

    /// Unbiased variance over classes of one softmax row (0.1 for a one-hot 10-vector).
    public static func classVariance(_ p: UnsafePointer<Float>, classes: Int) -> Float {
        guard classes > 1 else { return 0 }
        var mean: Float = 0
        for c in 0..<classes { mean += p[c] }
        mean /= Float(classes)
        var v: Float = 0
        for c in 0..<classes { v += (p[c] - mean) * (p[c] - mean) }
        return v / Float(classes - 1)
    }

    /// One layer's contribution to a sample's soft rate: w * (1 - mean_c sigmoid((a_c - t) / tau)).
    public static func softRateTerm(absGamma a: [Float], threshold t: Float, tau: Float, weight w: Float) -> Float {
        var m: Float = 0
        for x in a { m += sigmoid((x - t) / tau) }
        return w * (1 - m / Float(a.count))
    }

    /// d softRateTerm / dt = w * mean_c s_c (1 - s_c) / tau (a detached: no gradient to gamma).
    public static func softRateTermGradient(softMasks s: UnsafePointer<Float>, count: Int, tau: Float, weight w: Float) -> Float {
        var acc: Float = 0
        for c in 0..<count { acc += s[c] * (1 - s[c]) }
        return w * acc / (Float(count) * tau)
    }

    /// R_i for a batch from per-sample variances v_i (variance rule) or oracle rates u_i (oracle rule; the
    /// caller passes them as `variances`; kappa does not apply).
    public static func expectedRates(variances v: [Float], scheduledTarget te: Float, kappa: Float, rMax: Float, rule: RateTarget) -> [Float] {
        switch rule {
        case .uniform: return v.map { _ in min(max(te, 0), rMax) }
        case .oracle:
            let mean = v.reduce(0, +) / Float(max(v.count, 1))
            guard mean > 0 else { return v.map { _ in min(max(te, 0), rMax) } }
            return v.map { min(max(te * $0 / mean, 0), rMax) }
        case .variance:
            let mean = v.reduce(0, +) / Float(max(v.count, 1))
            guard mean > 0 else { return v.map { _ in min(max(te, 0), rMax) } }
            return v.map { min(max(te * powf($0 / mean, kappa), 0), rMax) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
