// The rest of a slimmable training step after the full-width pass (whose gradients are in place):
// the narrowest width and `randomWidths` random widths (SlimmableWidths.sandwich), each distilled
// from the full width's softmax, their gradients added to the full width's (slimmable networks'
// sandwich rule with in-place distillation).
//
// Two executions of the same arithmetic:
// - `.thin` (default): each width runs as a physically thin network (ThinWidthRunner), paying only
//   for the channels it keeps;
// - `.masked`: each width runs on the full network with prefix masks (the reference; every conv at
//   full width). ThinSandwichTests holds the two to the same logits and gradients.
// Running BN statistics follow the full width only: the narrower passes normalize with their own
// batch statistics and leave the running estimates (and the batch counter) untouched.
import DynaSlimCore
import DynaSlimNN

public final class SandwichStep {
    public enum Execution: String, Sendable, CaseIterable { case thin, masked }
    public let config: SlimmableConfig
    public let network: Network
    public let execution: Execution
    let runner: ThinWidthRunner?
    let logitsGrad = ScratchBuffer()

    public init(config: SlimmableConfig, network: Network, execution: Execution = .thin) throws {
        self.config = config; self.network = network; self.execution = execution
        runner = execution == .thin ? try ThinWidthRunner(full: network) : nil
    }

    /// teacher: the full width's softmax [n, classes]; rng: the step's width draws.
    public func run(images: UnsafeBufferPointer<Float>, n: Int, teacher: UnsafeBufferPointer<Float>, rng: inout SplitMix64) throws {
        let widths = SlimmableWidths.sandwich(config, layers: network.gated.count, rng: &rng)
        if let runner {
            runner.beginStep()
            for w in widths {
                try runner.prepare(fractions: w)
                try distilledPass(runner.network, images: images, n: n, teacher: teacher)
                runner.accumulateGradients()
            }
        } else {
            try runMasked(widths, images: images, n: n, teacher: teacher)
        }
    }

    /// Forward, soft-target cross-entropy against `teacher`, backward: `net`'s gradients are overwritten.
    func distilledPass(_ net: Network, images: UnsafeBufferPointer<Float>, n: Int, teacher: UnsafeBufferPointer<Float>) throws {
        let C = net.config.classes, g = logitsGrad.reserve(n * C)
        let logits = try net.forward(images: images, n: n, mode: .train)
        _ = try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, softTargets: teacher,
                                                    logitsGrad: UnsafeMutableBufferPointer(start: g, count: n * C))
        try net.backward(logitsGrad: Activation(n: n, c: C, h: 1, w: 1, pointer: g))
    }

    func runMasked(_ widths: [[Float]], images: UnsafeBufferPointer<Float>, n: Int, teacher: UnsafeBufferPointer<Float>) throws {
        let params = network.namedParameters.map(\.1)
        var accum = params.map { $0.grad }
        let bns = network.batchNorms
        let saved = bns.map { ($0.momentum, $0.numBatchesTracked.value) }
        for bn in bns { bn.momentum = 0 }
        defer {
            for gl in network.gated { gl.bn.channelMask = nil; gl.bn.maskGrad = nil }
            for (bn, s) in zip(bns, saved) { bn.momentum = s.0; bn.numBatchesTracked.value = s.1 }
        }
        for w in widths {
            SlimmableWidths.install(network, fractions: w, batch: n)
            try distilledPass(network, images: images, n: n, teacher: teacher)
            for (k, p) in params.enumerated() { for i in 0..<p.count { accum[k][i] += p.grad[i] } }
        }
        for (k, p) in params.enumerated() { p.grad = accum[k] }
    }
}
