// Dynamic network slimming: a network, its threshold predictor, and the training rule of
// GateRule.swift. One training step:
//   predictor(x) -> o [n, L]; thresholds t; hard masks on every gated BN; network forward;
//   loss = CE + alpha * mean_i (r_i - R_i)^2 + lambda * sum |gamma|;
//   network backward gives dL/dm per (sample, channel) from each masked BN; the straight-through
//   soft mask turns it into dL/dt (and dL/d|gamma| on the CE path); the rate term adds its own
//   dL/dt; dL/do = dL/dt * sigmoid'(o) * (hi - lo); predictor backward.
import DynaSlimCore
import DynaSlimNN

public struct DynamicConfig: Codable, Equatable, Sendable {
    public var target: Float = 0.5
    public var epochRatio: Double = 0.5
    public var alpha: Float = 10
    public var tauScale: Float = 0.1
    public var kappa: Float = 1
    public var rateTarget: RateTarget = .variance
    public var rMax: Float = 0.95
    public var lambda: Float = 1e-4
    public var predictorLRMultiplier: Float = 10
    public var predictorBiasInit: Float = -2.5
    public var hardRate: Bool = false
    /// Channels of the predictor's first conv (the second has twice as many).
    public var predictorWidth: Int = 8
    public init() {}

    enum CodingKeys: String, CodingKey {
        case target, epochRatio, alpha, tauScale, kappa, rateTarget, rMax, lambda, predictorLRMultiplier, predictorBiasInit, hardRate, predictorWidth
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DynamicConfig()
        target = try c.decodeIfPresent(Float.self, forKey: .target) ?? d.target
        epochRatio = try c.decodeIfPresent(Double.self, forKey: .epochRatio) ?? d.epochRatio
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? d.alpha
        tauScale = try c.decodeIfPresent(Float.self, forKey: .tauScale) ?? d.tauScale
        kappa = try c.decodeIfPresent(Float.self, forKey: .kappa) ?? d.kappa
        rateTarget = try c.decodeIfPresent(RateTarget.self, forKey: .rateTarget) ?? d.rateTarget
        rMax = try c.decodeIfPresent(Float.self, forKey: .rMax) ?? d.rMax
        lambda = try c.decodeIfPresent(Float.self, forKey: .lambda) ?? d.lambda
        predictorLRMultiplier = try c.decodeIfPresent(Float.self, forKey: .predictorLRMultiplier) ?? d.predictorLRMultiplier
        predictorBiasInit = try c.decodeIfPresent(Float.self, forKey: .predictorBiasInit) ?? d.predictorBiasInit
        hardRate = try c.decodeIfPresent(Bool.self, forKey: .hardRate) ?? d.hardRate
        predictorWidth = try c.decodeIfPresent(Int.self, forKey: .predictorWidth) ?? d.predictorWidth
    }
}

/// Per-batch training statistics.
public struct GateStepStats: Sendable {
    public var softRate: Double, hardRate: Double, expectedRate: Double, rateLoss: Double
}

public final class DynamicModel {
    public let network: Network
    public let predictor: ThresholdPredictor
    public var config: DynamicConfig
    public let accounting: MACAccounting
    public var gated: [GatedLayer] { network.gated }
    /// When set (static control), every sample uses these thresholds instead of the predictor's.
    public var fixedThresholds: [Float]?

    // Per-batch state, reused across steps.
    public private(set) var thresholds: [Float] = []     // [n * L]
    public private(set) var kept: [Int32] = []            // [n * L]
    private var soft: [[Float]] = []                      // per layer [n * C]
    private var ranges: [(lo: Float, hi: Float, tau: Float)] = []
    private var predictorOut: Activation?
    private let oGrad = ScratchBuffer()
    private var batch = 0

    public init(network: Network, config: DynamicConfig, predictor: ThresholdPredictor? = nil) throws {
        self.network = network; self.config = config
        accounting = MACAccounting(network)
        self.predictor = try predictor ?? ThresholdPredictor(input: network.config.inputShape, outputs: network.gated.count,
                                                            width: config.predictorWidth, biasInit: config.predictorBiasInit,
                                                            workspace: network.workspace)
    }

    public var predictorMACs: Int { predictor.macsPerImage }
    public var namedParameters: [(String, Parameter)] { network.namedParameters + predictor.namedParameters }

    /// Computes thresholds and hard masks for n images and installs the masks on the gated BNs.
    public func gate(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws {
        let L = gated.count
        batch = n
        var o: Activation? = nil
        if fixedThresholds == nil { o = try predictor.forward(images: images, n: n, mode: mode) }
        predictorOut = o
        if thresholds.count != n * L { thresholds = [Float](repeating: 0, count: n * L); kept = [Int32](repeating: 0, count: n * L) }
        ranges.removeAll(keepingCapacity: true)
        if soft.count != L { soft = Array(repeating: [], count: L) }
        for (l, g) in gated.enumerated() {
            let a = g.bn.weight.value.map(abs), C = a.count
            let (lo, hi) = GateRule.range(a)
            let tau = GateRule.tau(lo: lo, hi: hi, scale: config.tauScale)
            ranges.append((lo, hi, tau))
            // Take the buffers out of their owners so they are uniquely referenced: filled in place, no copy.
            var mask = g.bn.channelMask ?? []
            g.bn.channelMask = nil
            if mask.count != n * C { mask = [Float](repeating: 0, count: n * C) }
            var s = soft[l]
            soft[l] = []
            if s.count != n * C { s = [Float](repeating: 0, count: n * C) }
            for i in 0..<n {
                let t = fixedThresholds?[l] ?? GateRule.threshold(o!.pointer[i * L + l], lo: lo, hi: hi)
                thresholds[i * L + l] = t
                var k: Int32 = 0
                for c in 0..<C {
                    let on: Float = a[c] >= t ? 1 : 0
                    mask[i * C + c] = on
                    k += Int32(on)
                    s[i * C + c] = GateRule.sigmoid((a[c] - t) / tau)
                }
                kept[i * L + l] = k
            }
            g.bn.channelMask = mask
            soft[l] = s
        }
    }

    /// Removes the masks (dense behaviour).
    public func clearMasks() { for g in gated { g.bn.channelMask = nil; g.bn.maskGrad = nil } }

    /// Forward with gating: logits [n, classes].
    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        try gate(images: images, n: n, mode: mode)
        return try network.forward(images: images, n: n, mode: mode)
    }

    /// Per-sample hard rate (fraction of gated MACs skipped) of the last forward.
    public func hardRates() -> [Double] {
        let L = gated.count
        return (0..<batch).map { i in
            (0..<L).reduce(0.0) { $0 + accounting.layerWeights[$1] * (1 - Double(kept[i * L + $1]) / Double(accounting.widths[$1])) }
        }
    }

    /// MACs per image (backbone only) of sample i in the last forward.
    public func macs(sample i: Int) -> Double {
        let L = gated.count
        return accounting.macs(kept: (0..<L).map { Int(kept[i * L + $0]) })
    }

    /// After `network.backward` (which filled each masked BN's maskGrad): adds the gate terms
    /// to gamma's gradient, computes dL/do, and backpropagates through the predictor.
    /// `probabilities` [n, classes] are the softmax outputs (for the variance rule); `oracleRates` [n] the
    /// batch's oracle labels (required by the oracle rule, ignored otherwise).
    public func backward(probabilities: UnsafePointer<Float>, classes: Int, scheduledTarget te: Float,
                         oracleRates: [Float]? = nil) throws -> GateStepStats {
        let n = batch, L = gated.count
        // Expected rates R_i.
        let v: [Float]
        if config.rateTarget == .oracle {
            guard let oracleRates, oracleRates.count == n else {
                throw ShapeError("dynamic slimming backward", "the oracle rule needs \(n) oracle rates, got \(oracleRates?.count ?? 0)")
            }
            v = oracleRates
        } else {
            v = (0..<n).map { GateRule.classVariance(probabilities + $0 * classes, classes: classes) }
        }
        let R = GateRule.expectedRates(variances: v, scheduledTarget: te, kappa: config.kappa, rMax: config.rMax, rule: config.rateTarget)
        // Rates r_i (soft with |gamma| detached, or hard) and dLoss/dr_i.
        var softR = [Double](repeating: 0, count: n)
        for (l, s) in soft.enumerated() {
            let C = accounting.widths[l], w = accounting.layerWeights[l]
            for i in 0..<n {
                var m: Float = 0
                for c in 0..<C { m += s[i * C + c] }
                softR[i] += w * (1 - Double(m) / Double(C))
            }
        }
        let hardR = hardRates()
        let r = config.hardRate ? hardR : softR
        var rateLoss = 0.0
        var dr = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let d = r[i] - Double(R[i])
            rateLoss += Double(config.alpha) * d * d / Double(n)
            dr[i] = Float(2 * Double(config.alpha) * d / Double(n))
        }
        // dL/dt per (sample, layer), gamma's extra gradient, dL/do.
        let dO = oGrad.reserve(max(1, n * L))
        for (l, g) in gated.enumerated() {
            let C = accounting.widths[l], (lo, hi, tau) = ranges[l], w = Float(accounting.layerWeights[l])
            let s = soft[l]
            let mg = g.bn.maskGrad ?? [Float](repeating: 0, count: n * C)
            var dGamma = [Float](repeating: 0, count: C)
            for i in 0..<n {
                // Rate path: dL/dr_i * d r_i / d t (|gamma| detached, so gamma gets nothing here).
                var dt = s.withUnsafeBufferPointer { dr[i] * GateRule.softRateTermGradient(softMasks: $0.baseAddress! + i * C, count: C, tau: tau, weight: w) }
                for c in 0..<C {
                    let k = i * C + c
                    let ds = s[k] * (1 - s[k]) / tau      // ds/da = -ds/dt
                    dt -= mg[k] * ds                      // CE path through the straight-through soft mask
                    dGamma[c] += mg[k] * ds               // CE path to |gamma|
                }
                let o = predictorOut?.pointer[i * L + l] ?? 0
                let sig = GateRule.sigmoid(o)
                dO[i * L + l] = dt * sig * (1 - sig) * (hi - lo)
            }
            let gw = g.bn.weight
            for c in 0..<C {
                let sign: Float = gw.value[c] > 0 ? 1 : (gw.value[c] < 0 ? -1 : 0)
                gw.grad[c] += (dGamma[c] + config.lambda) * sign
            }
        }
        if predictorOut != nil {
            try predictor.backward(outputGrad: Activation(n: n, c: L, h: 1, w: 1, pointer: dO))
        }
        return GateStepStats(softRate: softR.reduce(0, +) / Double(n), hardRate: hardR.reduce(0, +) / Double(n),
                             expectedRate: Double(R.reduce(0, +)) / Double(n), rateLoss: rateLoss)
    }
}
