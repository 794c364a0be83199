// The full configuration of a training run, saved as runs/NAME/config.json and in checkpoints.
import DynaSlimData
import DynaSlimNN
import DynaSlimSlimming

public struct TrainConfig: Codable, Equatable, Sendable {
    public var model: ModelConfig
    public var dataset: DatasetName
    public var dataPath: String?
    public var epochs: Int
    public var batchSize: Int
    public var schedule: LRSchedule
    public var sgd: SGDConfig
    public var labelSmoothing: Float
    public var seed: UInt64
    public var augmentation: Augmentation
    /// Network Slimming's L1 penalty on gated BN gammas (0 = off): grad += lambda * sign(gamma).
    public var sparsity: Float
    /// Use only the first N training / test images (quick runs); nil = all.
    public var trainLimit: Int?
    public var testLimit: Int?
    /// Checkpoint the run was initialized from (`--from`), if any.
    public var initializedFrom: String?
    /// Dynamic slimming (threshold predictor + gated training); nil = ordinary training.
    public var dynamic: DynamicConfig?
    /// Stage 1 of the two-stage recipe: slimmable training over |gamma|-ordered prefixes.
    public var slimmable: SlimmableConfig?
    /// The FBS baseline (Gao et al. 2019): saliency predictors with top-k channel selection.
    public var fbs: FBSConfig?
    /// Distillation from a dense teacher checkpoint, for any method; nil = labels only.
    public var distillation: DistillationConfig?

    public init(model: ModelConfig, dataset: DatasetName, dataPath: String? = nil, epochs: Int, batchSize: Int = 128,
                schedule: LRSchedule, sgd: SGDConfig = SGDConfig(), labelSmoothing: Float = 0, seed: UInt64 = 0,
                augmentation: Augmentation, sparsity: Float = 0, trainLimit: Int? = nil, testLimit: Int? = nil, initializedFrom: String? = nil,
                dynamic: DynamicConfig? = nil, slimmable: SlimmableConfig? = nil, fbs: FBSConfig? = nil,
                distillation: DistillationConfig? = nil) {
        self.model = model; self.dataset = dataset; self.dataPath = dataPath; self.epochs = epochs; self.batchSize = batchSize
        self.schedule = schedule; self.sgd = sgd; self.labelSmoothing = labelSmoothing; self.seed = seed
        self.augmentation = augmentation; self.sparsity = sparsity; self.trainLimit = trainLimit; self.testLimit = testLimit
        self.initializedFrom = initializedFrom
        self.dynamic = dynamic
        self.slimmable = slimmable
        self.fbs = fbs
        self.distillation = distillation
    }
}

/// Knowledge distillation from a teacher (the dense model the slimmed one started from):
/// loss = (1 - alpha) * CE(labels) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)).
/// The teacher runs in eval mode on the same augmented batch and is never trained.
public struct DistillationConfig: Codable, Equatable, Sendable {
    /// The teacher checkpoint (any model with the same classes and input; predictor tensors ignored).
    public var teacher: String
    /// Weight of the distillation term, in [0, 1].
    public var alpha: Float
    /// Softmax temperature T > 0.
    public var temperature: Float
    public init(teacher: String, alpha: Float = 0.5, temperature: Float = 4) {
        self.teacher = teacher; self.alpha = alpha; self.temperature = temperature
    }
}
