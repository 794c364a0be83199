import Testing
import DynaSlimCore
import DynaSlimNN
@testable import DynaSlimSlimming

@Suite("Static Network Slimming", .serialized)
struct StaticSlimmingTests {
    /// A model with spread-out gammas and non-trivial running statistics.
    func model(_ arch: String, seed: UInt64) throws -> Network {
        let net = try ModelZoo.build(ModelConfig(architecture: arch, inputChannels: 3, inputHeight: 8, inputWidth: 8, classes: 5), seed: seed)
        var rng = SplitMix64(seed: seed + 100)
        for (name, b) in net.namedBuffers where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
            for i in b.value.indices { b.value[i] = name.hasSuffix("var") ? 0.5 + rng.nextFloat() : rng.nextNormal() * 0.1 }
        }
        for g in net.gated { for i in g.bn.weight.value.indices { g.bn.weight.value[i] = rng.nextNormal(); g.bn.bias.value[i] = rng.nextNormal() * 0.1 } }
        return net
    }

    func logits(_ net: Network, _ x: [Float], n: Int) throws -> [Float] {
        let y = try x.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .eval) }
        return Array(y.buffer)
    }

    @Test("the thin model gives the masked original's logits, with the planned widths", arguments: ["resnet8", "resnet14", "mcifarnet"])
    func thinEqualsMasked(arch: String) throws {
        let net = try model(arch, seed: 1)
        let plan = try StaticSlimming.plan(net, ratio: 0.5)
        let thin = try StaticSlimming.thin(net, plan: plan)
        for g in thin.gated { #expect(g.bn.channels == plan.kept[g.name]!.count && g.producer.outChannels == g.bn.channels) }
        #expect(thin.macsPerImage < net.macsPerImage && thin.parameterCount < net.parameterCount)
        #expect(abs(plan.prunedFraction - 0.5) < 0.1)
        var rng = SplitMix64(seed: 2)
        let n = 3, x = (0..<(n * 3 * 64)).map { _ in rng.nextNormal() }
        let thinLogits = try logits(thin, x, n: n)
        for (name, m) in StaticSlimming.masks(net, plan: plan, batch: n) { net.gatedLayer(named: name)!.bn.channelMask = m }
        let masked = try logits(net, x, n: n)
        let err = zip(thinLogits, masked).map { abs($0 - $1) }.max()! / max(1, masked.map(abs).max()!)
        #expect(err <= 1e-5)
        for g in net.gated { g.bn.channelMask = nil }
        #expect(try logits(net, x, n: n) != masked)  // the masks really removed something
    }

    @Test("the global threshold is the ratio's percentile of |gamma|, and no layer drops below its floor")
    func policyAndGuard() throws {
        let net = try model("resnet8", seed: 3)
        // Layer 0's gammas are all tiny: a global threshold would remove all of them.
        for i in net.gated[0].bn.weight.value.indices { net.gated[0].bn.weight.value[i] = 1e-6 * Float(i + 1) }
        let plan = try StaticSlimming.plan(net, ratio: 0.6, minChannels: 2)
        let all = net.gated.flatMap { $0.bn.weight.value.map(abs) }.sorted()
        #expect(plan.threshold == all[Int(Double(all.count) * 0.6)])
        #expect(plan.kept[net.gated[0].name] == [14, 15])  // the two largest of the tiny layer
        for g in net.gated { #expect(plan.kept[g.name]!.count >= 2) }
        let thin = try StaticSlimming.thin(net, plan: plan)
        #expect(thin.gated[0].bn.channels == 2)
        #expect(throws: PruningError.self) { try StaticSlimming.plan(net, ratio: 1.0) }
        #expect(throws: PruningError.self) { try StaticSlimming.plan(net, ratio: 0.5, minChannels: 0) }
        #expect(try StaticSlimming.plan(net, ratio: 0).prunedFraction == 0)
    }
}
