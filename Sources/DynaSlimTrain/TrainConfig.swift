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

    public init(model: ModelConfig, dataset: DatasetName, dataPath: String? = nil, epochs: Int, batchSize: Int = 128,
                schedule: LRSchedule, sgd: SGDConfig = SGDConfig(), labelSmoothing: Float = 0, seed: UInt64 = 0,
                augmentation: Augmentation, sparsity: Float = 0, trainLimit: Int? = nil, testLimit: Int? = nil, initializedFrom: String? = nil,
                dynamic: DynamicConfig? = nil, slimmable: SlimmableConfig? = nil, fbs: FBSConfig? = nil) {
        self.model = model; self.dataset = dataset; self.dataPath = dataPath; self.epochs = epochs; self.batchSize = batchSize
        self.schedule = schedule; self.sgd = sgd; self.labelSmoothing = labelSmoothing; self.seed = seed
        self.augmentation = augmentation; self.sparsity = sparsity; self.trainLimit = trainLimit; self.testLimit = testLimit
        self.initializedFrom = initializedFrom
        self.dynamic = dynamic
        self.slimmable = slimmable
        self.fbs = fbs
    }
}
