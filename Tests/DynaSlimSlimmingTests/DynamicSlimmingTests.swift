import Testing
import DynaSlimCore
import DynaSlimNN
@testable import DynaSlimSlimming

@Suite("Dynamic slimming rule")
struct GateRuleTests {
    @Test("range uses the second largest |gamma|; thresholds stay inside [lo, hi]")
    func rangeAndThreshold() {
        let (lo, hi) = GateRule.range([0.3, 5.0, 0.9, 0.5])
        #expect(lo == 0.3 && hi == 0.9)  // the outlier 5.0 does not stretch the range
        #expect(GateRule.range([0.7]) == (0.7, 0.7))
        for o: Float in [-50, -2.5, 0, 2.5, 50] {
            let t = GateRule.threshold(o, lo: lo, hi: hi)
            #expect(t >= lo && t <= hi)
        }
    }

    @Test("expected rate: batch mean equals T_e for kappa = 1, the ramp, and the clamp")
    func expectedRate() {
        let v: [Float] = [0.1, 0.05, 0.02, 0.08]
        let r = GateRule.expectedRates(variances: v, scheduledTarget: 0.4, kappa: 1, rMax: 0.95, rule: .variance)
        #expect(abs(r.reduce(0, +) / 4 - 0.4) < 1e-6)
        #expect(r[0] > r[3] && r[3] > r[1] && r[1] > r[2])  // confident (high-variance) samples are asked to prune more
        let clamped = GateRule.expectedRates(variances: [1, 0.001], scheduledTarget: 0.9, kappa: 1, rMax: 0.95, rule: .variance)
        #expect(clamped[0] == 0.95)
        let sharp = GateRule.expectedRates(variances: v, scheduledTarget: 0.4, kappa: 3, rMax: 10, rule: .variance)
        #expect(sharp[0] - sharp[2] > r[0] - r[2])
        #expect(GateRule.expectedRates(variances: v, scheduledTarget: 0.3, kappa: 1, rMax: 0.95, rule: .uniform) == [0.3, 0.3, 0.3, 0.3])
        // The oracle rule: proportional to the oracle labels, batch mean T_e, kappa ignored; an image no
        // level gets right (label 0) keeps every channel.
        let u: [Float] = [0.75, 0.5, 0, 0.75]
        let o = GateRule.expectedRates(variances: u, scheduledTarget: 0.4, kappa: 3, rMax: 0.95, rule: .oracle)
        #expect(abs(o.reduce(0, +) / 4 - 0.4) < 1e-6)
        #expect(o[2] == 0 && o[0] == o[3] && abs(o[0] / o[1] - 1.5) < 1e-6)
        #expect(GateRule.expectedRates(variances: [0, 0], scheduledTarget: 0.4, kappa: 1, rMax: 0.95, rule: .oracle) == [0.4, 0.4])
        #expect(GateRule.scheduledTarget(0.5, progress: 0, epochRatio: 0.5, epochs: 10) == 0)
        #expect(GateRule.scheduledTarget(0.5, progress: 2.5, epochRatio: 0.5, epochs: 10) == 0.25)
        #expect(GateRule.scheduledTarget(0.5, progress: 9, epochRatio: 0.5, epochs: 10) == 0.5)
        var onehot = [Float](repeating: 0, count: 10); onehot[3] = 1
        #expect(abs(GateRule.classVariance(onehot, classes: 10) - 0.1) < 1e-7)
    }

    @Test("the soft rate's gradient w.r.t. the threshold matches finite differences")
    func rateGradient() {
        let a: [Float] = [0.2, 0.35, 0.5, 0.55, 0.9, 1.1]
        let (lo, hi) = GateRule.range(a)
        let tau = GateRule.tau(lo: lo, hi: hi, scale: 0.1)
        for t: Float in [0.3, 0.52, 0.8] {
            let s = a.map { GateRule.sigmoid(($0 - t) / tau) }
            let analytic = s.withUnsafeBufferPointer { GateRule.softRateTermGradient(softMasks: $0.baseAddress!, count: a.count, tau: tau, weight: 0.7) }
            let h: Float = 1e-3
            let numeric = (GateRule.softRateTerm(absGamma: a, threshold: t + h, tau: tau, weight: 0.7)
                           - GateRule.softRateTerm(absGamma: a, threshold: t - h, tau: tau, weight: 0.7)) / (2 * h)
            #expect(abs(numeric - analytic) <= 1e-3 * max(1, abs(numeric)), "t \(t): numeric \(numeric) analytic \(analytic)")
        }
    }
}

@Suite("Dynamic model", .serialized)
struct DynamicModelTests {
    func model(seed: UInt64) throws -> DynamicModel {
        let net = try ModelZoo.build(ModelConfig(architecture: "resnet8", inputChannels: 1, inputHeight: 8, inputWidth: 8, classes: 3), seed: seed)
        var rng = SplitMix64(seed: seed + 1)
        for g in net.gated { for i in g.bn.weight.value.indices { g.bn.weight.value[i] = rng.nextNormal() } }
        var cfg = DynamicConfig()
        cfg.predictorBiasInit = 0
        let m = try DynamicModel(network: net, config: cfg)
        for (_, p) in m.predictor.namedParameters where p.shape.count == 2 { for i in p.value.indices { p.value[i] = rng.nextNormal() } }
        return m
    }

    @Test("kept channels are a prefix of each layer's |gamma|-descending order, and never zero")
    func prefix() throws {
        let m = try model(seed: 1)
        var rng = SplitMix64(seed: 2)
        let x = (0..<(6 * 64)).map { _ in rng.nextNormal() }
        _ = try x.withUnsafeBufferPointer { try m.forward(images: $0, n: 6, mode: .train) }
        var varied = false
        for (l, g) in m.gated.enumerated() {
            let a = g.bn.weight.value.map(abs), C = a.count
            let order = a.indices.sorted { a[$0] > a[$1] }
            for i in 0..<6 {
                let mask = g.bn.channelMask![(i * C)..<((i + 1) * C)]
                let k = Int(m.kept[i * m.gated.count + l])
                #expect(k >= 1 && mask.reduce(0, +) == Float(k))
                #expect(order.prefix(k).allSatisfy { mask[i * C + $0] == 1 })
                if k != Int(m.kept[l]) { varied = true }
            }
        }
        #expect(varied)  // masks depend on the input
    }

    @Test("gamma gets no gradient from the rate term; the predictor does")
    func gammaIsolated() throws {
        let m = try model(seed: 3)
        m.config.lambda = 0
        var rng = SplitMix64(seed: 4)
        let n = 4, x = (0..<(n * 64)).map { _ in rng.nextNormal() }
        _ = try x.withUnsafeBufferPointer { try m.forward(images: $0, n: n, mode: .train) }
        // No CE signal: zero mask gradients, so only the rate term acts.
        for g in m.gated { g.bn.maskGrad = [Float](repeating: 0, count: n * g.bn.channels); for i in 0..<g.bn.channels { g.bn.weight.grad[i] = 0 } }
        let probs = [Float](repeating: 1.0 / 3, count: n * 3)
        let stats = try probs.withUnsafeBufferPointer { try m.backward(probabilities: $0.baseAddress!, classes: 3, scheduledTarget: 0.9) }
        #expect(stats.rateLoss > 0)
        for g in m.gated { #expect(g.bn.weight.grad.allSatisfy { $0 == 0 }) }
        let fc = m.predictor.namedParameters.first { $0.0 == "predictor.fc.bias" }!.1
        #expect(fc.grad.contains { $0 != 0 })
        // Raising the target must push thresholds up: dL/d(bias) < 0 for every layer (gradient descent raises o).
        #expect(fc.grad.allSatisfy { $0 <= 0 })
    }

    @Test("MAC accounting matches a hand count on ResNet-8")
    func macs() throws {
        let m = try model(seed: 5)
        let acc = m.accounting
        // 8x8 input: conv1 1->16 (9,216 MACs); block1 16->16 twice (147,456 each);
        // block2 conv1 16->32 s2 (73,728) conv2 32->32 (147,456); block3 conv1 32->64 s2 (73,728) conv2 64->64 (147,456); linear 192.
        let dense: Int = 9_216 + 2 * 147_456 + 2 * 73_728 + 2 * 147_456 + 192
        #expect(acc.dense == dense)
        #expect(Int(acc.macs(kept: [16, 32, 64])) == acc.dense)
        // Keeping 8/16, 16/32, 16/64: each block's conv1 scales by its kept output fraction and conv2
        // by its kept input fraction: 9,216 + 2 * 73,728 + 36,864 + 73,728 + 18,432 + 36,864 + 192.
        let expected: Double = 322_752
        #expect(acc.macs(kept: [8, 16, 16]) == expected)
        #expect(abs(acc.layerWeights.reduce(0, +) - 1) < 1e-12)
    }
}
