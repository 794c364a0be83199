// Stage 1 of the two-stage recipe: a slimmable backbone trained with the sandwich rule (SandwichStep). The
// full width is the trainer's forward and backward; the narrower widths follow in `afterBackward`, their
// draws a function of (seed, epoch, step).
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

public final class SlimmableMethod: TrainingMethod {
    public let network: Network
    public let sandwich: SandwichStep
    public init(network: Network, config: SlimmableConfig, execution: SandwichStep.Execution) throws {
        self.network = network
        sandwich = try SandwichStep(config: config, network: network, execution: execution)
    }
    public var parameters: [(String, Parameter)] { network.namedParameters }

    public func afterBackward(_ s: StepContext) throws {
        var rng = SplitMix64(seed: s.seed &+ UInt64(s.epoch) &* 1_000_003 &+ UInt64(s.step) &* 7_777)
        try sandwich.run(images: s.images, n: s.n, teacher: UnsafeBufferPointer(start: s.probabilities, count: s.n * s.classes), rng: &rng)
    }
}
