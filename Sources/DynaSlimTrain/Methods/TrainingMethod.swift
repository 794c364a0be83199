// A training method is one type (docs/design.md "Methods"): it owns its options, its schedule, its extra
// parameters and their checkpoint tensors, its hooks into the step, its evaluation and its metrics. The
// trainer (Trainer.swift) runs any method without knowing which it is; a new method is a file here plus
// one line in `TrainingMethods.make`.
//
// The step, in the order the trainer calls it:
//   beginStep (schedules) -> forward -> [cross-entropy, distillation: the trainer's] -> network backward
//   -> afterBackward (the method's own gradients) -> [L1 sparsity, SGD: the trainer's]
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming

/// What `afterBackward` gets from the trainer for one step.
public struct StepContext {
    public var images: UnsafeBufferPointer<Float>
    public var n: Int
    /// The step's softmax [n, classes] (of the full network's logits).
    public var probabilities: UnsafeMutablePointer<Float>
    public var classes: Int
    /// Dataset indices of the batch's images (per-image labels such as the oracle rule's).
    public var indices: ArraySlice<Int>
    public var epoch: Int, step: Int, stepsPerEpoch: Int, epochs: Int, seed: UInt64
    /// Fractional epochs done at this step.
    public var progress: Double { Double(epoch - 1) + Double(step) / Double(stepsPerEpoch) }
}

public protocol TrainingMethod: AnyObject {
    /// The backbone the method trains (its checkpoint's state_dict).
    var network: Network { get }
    /// Everything SGD updates, under checkpoint names, and learning-rate multipliers by name.
    var parameters: [(String, Parameter)] { get }
    var learningRateMultipliers: [String: Float] { get }
    /// Tensors saved beside the backbone, the checkpoint metadata that rebuilds the method, and loading them.
    var extraTensors: [NamedTensor] { get }
    func metadata() throws -> [String: String]
    func loadExtraTensors(_ tensors: [NamedTensor], file: String) throws
    /// Once per run before the first epoch of this process (after `create` or `resume`).
    func prepare(directory: String, train: ImageDataset, normalization: Normalization, augmentation: Augmentation, resuming: Bool) throws
    func beginStep(progress: Double, epochs: Int)
    func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation
    func afterBackward(_ step: StepContext) throws
    func beginEpoch()
    /// Test-set accuracy and loss, and the method's lines of the epoch's metrics (MACs, rates, diagnostics).
    func evaluate(_ test: ImageDataset, normalization: Normalization, into metrics: inout EpochMetrics) throws
}

extension TrainingMethod {
    public var learningRateMultipliers: [String: Float] { [:] }
    public var extraTensors: [NamedTensor] { [] }
    public func metadata() throws -> [String: String] { [:] }
    public func loadExtraTensors(_ tensors: [NamedTensor], file: String) throws {}
    public func prepare(directory: String, train: ImageDataset, normalization: Normalization, augmentation: Augmentation, resuming: Bool) throws {}
    public func beginStep(progress: Double, epochs: Int) {}
    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        try network.forward(images: images, n: n, mode: mode)
    }
    public func afterBackward(_ step: StepContext) throws {}
    public func beginEpoch() {}
    public func evaluate(_ test: ImageDataset, normalization: Normalization, into m: inout EpochMetrics) throws {
        let e = try Evaluator.evaluate(network, dataset: test, normalization: normalization)
        m.testAccuracy = e.accuracy; m.testLoss = e.loss
        m.macsPerImage = network.macsPerImage
    }
}

/// The registry: which method a run's configuration asks for.
public enum TrainingMethods {
    public static func make(_ config: TrainConfig, network: Network, sandwichExecution: SandwichStep.Execution = .thin) throws -> TrainingMethod {
        if let f = config.fbs { return FBSMethod(network: network, config: f) }
        if let d = config.dynamic { return try DynamicMethod(network: network, config: d) }
        if let s = config.slimmable { return try SlimmableMethod(network: network, config: s, execution: sandwichExecution) }
        return DenseMethod(network: network)
    }
}
