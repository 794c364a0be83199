import Testing
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

/// The thin sandwich (ThinWidthRunner) against its reference, the masked full-width passes
/// (SlimmableWidths.install): the same logits per pass and the same summed gradients, for each kind
/// of channel coupling the models have (ResNet: gated inner channel of a block; VGG: conv chain and a
/// Linear classifier; M-CifarNet: conv chain with strides and a 1x1 conv classifier with bias).
@Suite("Thin sandwich passes")
struct ThinSandwichTests {
    static let cases: [(String, Int)] = [("resnet8", 16), ("vgg16", 16), ("mcifarnet", 16)]

    @Test("thin passes give the masked passes' logits and gradients", arguments: [0, 1, 2])
    func thinEqualsMasked(caseIndex: Int) throws {
        let (arch, size) = Self.cases[caseIndex]
        var cfg = ModelConfig(architecture: arch, inputHeight: size, inputWidth: size, dropout: 0)
        if arch == "vgg16" {
            // 12 channels per conv keeps the debug-build test fast; the couplings are VGG's.
            var widths: [String: Int] = [:], index = 0
            for v in [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512] {
                if v == 0 { index += 1 } else { widths["feature.\(index + 1)"] = 12; index += 3 }
            }
            cfg.widths = widths
        }
        let net = try ModelZoo.build(cfg, seed: 3)
        var rng = SplitMix64(seed: 5)
        // Random gammas of both signs (the order is by |gamma|), with one tie per layer.
        for g in net.gated {
            for i in g.bn.weight.value.indices { g.bn.weight.value[i] = rng.nextFloat() * 2 - 1 }
            g.bn.weight.value[1] = -g.bn.weight.value[0]
        }
        let n = 3, C = cfg.classes
        let images = (0..<(n * cfg.inputShape.count)).map { _ in rng.nextNormal() }
        var teacher = (0..<(n * C)).map { _ in rng.nextFloat() + 0.01 }
        for r in 0..<n { let s = teacher[(r * C)..<((r + 1) * C)].reduce(0, +); for j in 0..<C { teacher[r * C + j] /= s } }
        let L = net.gated.count
        let widths: [[Float]] = [[Float](repeating: 0.25, count: L), (0..<L).map { _ in 0.25 + 0.75 * rng.nextFloat() },
                                 [Float](repeating: 1, count: L), (0..<L).map { _ in rng.nextFloat() * 0.1 }]
        let params = net.namedParameters

        func pass(_ network: Network) throws -> [Float] {
            let logits = try images.withUnsafeBufferPointer { try network.forward(images: $0, n: n, mode: .train) }
            let out = Array(logits.buffer)
            var g = [Float](repeating: 0, count: n * C)
            _ = try teacher.withUnsafeBufferPointer { q in try g.withUnsafeMutableBufferPointer { gp in
                try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, softTargets: q, logitsGrad: gp)
            } }
            try g.withUnsafeMutableBufferPointer { gp in
                try network.backward(logitsGrad: Activation(n: n, c: C, h: 1, w: 1, pointer: gp.baseAddress!))
            }
            return out
        }

        // Reference: masks over the full width, gradients summed.
        var reference = params.map { [Float](repeating: 0, count: $0.1.count) }
        var referenceLogits: [[Float]] = []
        for w in widths {
            SlimmableWidths.install(net, fractions: w, batch: n)
            referenceLogits.append(try pass(net))
            for (k, p) in params.enumerated() { for i in 0..<p.1.count { reference[k][i] += p.1.grad[i] } }
        }
        for g in net.gated { g.bn.channelMask = nil }

        // Thin: one resized network, gradients scattered into the full network's.
        for (_, p) in params { for i in 0..<p.count { p.grad[i] = 0 } }
        let runner = try ThinWidthRunner(full: net)
        runner.beginStep()
        for (k, w) in widths.enumerated() {
            try runner.prepare(fractions: w)
            let logits = try pass(runner.network)
            for (a, b) in zip(logits, referenceLogits[k]) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "\(arch) pass \(k) logits") }
            runner.accumulateGradients()
            #expect(runner.network.macsPerImage < net.macsPerImage || w.allSatisfy { $0 == 1 }, "\(arch) pass \(k) is not thinner")
        }
        for (k, (name, p)) in params.enumerated() {
            let scale = max(1e-3, reference[k].map(abs).max() ?? 0)
            let worst = zip(p.grad, reference[k]).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(arch) \(name): max gradient difference \(worst) at scale \(scale)")
        }
    }

    @Test("a width keeps the k largest |gamma| channels; k is clamped to 1...C")
    func keptCounts() {
        #expect(SlimmableWidths.kept(fraction: 0.25, channels: 16) == 4)
        #expect(SlimmableWidths.kept(fraction: 0.26, channels: 16) == 5)
        #expect(SlimmableWidths.kept(fraction: 0, channels: 16) == 1)
        #expect(SlimmableWidths.kept(fraction: 1, channels: 16) == 16)
    }
}

@Suite("Sandwich step executions")
struct SandwichStepTests {
    @Test("thin and masked sandwich steps add the same gradients and leave the running BN statistics alone")
    func thinMatchesMasked() throws {
        let cfg = ModelConfig(architecture: "resnet8", inputHeight: 12, inputWidth: 12)
        let nets = try [ModelZoo.build(cfg, seed: 4), ModelZoo.build(cfg, seed: 4)]
        var rng = SplitMix64(seed: 8)
        let gammas = nets[0].gated.map { g in g.bn.weight.value.map { _ in rng.nextFloat() * 2 - 1 } }
        let n = 4, C = cfg.classes
        let images = (0..<(n * cfg.inputShape.count)).map { _ in rng.nextNormal() }
        let teacher = [Float](repeating: 1 / Float(C), count: n * C)
        var grads: [[[Float]]] = []
        for (net, execution) in zip(nets, [SandwichStep.Execution.thin, .masked]) {
            for (g, v) in zip(net.gated, gammas) { g.bn.weight.value = v }
            for (_, p) in net.namedParameters { for i in 0..<p.count { p.grad[i] = 0.5 } }  // the full pass's gradients
            let statsBefore = net.namedBuffers.map(\.1.value)
            let step = try SandwichStep(config: SlimmableConfig(minWidth: 0.25, randomWidths: 2), network: net, execution: execution)
            var widthRNG = SplitMix64(seed: 21)
            try images.withUnsafeBufferPointer { im in try teacher.withUnsafeBufferPointer { q in
                try step.run(images: im, n: n, teacher: q, rng: &widthRNG)
            } }
            #expect(net.namedBuffers.map(\.1.value) == statsBefore, "\(execution): running statistics changed")
            #expect(net.gated.allSatisfy { $0.bn.channelMask == nil })
            grads.append(net.namedParameters.map(\.1.grad))
        }
        for (k, (name, _)) in nets[0].namedParameters.enumerated() {
            let scale = max(1, grads[1][k].map(abs).max() ?? 0)
            let worst = zip(grads[0][k], grads[1][k]).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(name): \(worst)")
            #expect(grads[0][k] != [Float](repeating: 0.5, count: grads[0][k].count) || name.contains("bn"), "\(name) got no sandwich gradient")
        }
    }
}
