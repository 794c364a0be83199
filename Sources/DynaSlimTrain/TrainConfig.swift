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

extension TrainConfig {
    /// The ranges a run needs, checked when a run is created or resumed (config.json may say anything).
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw TrainError.runDirectory(path: file, reason: what) } }
        try check((1...100_000).contains(epochs), "epochs \(epochs) is outside 1...100000")
        try check((1...65_536).contains(batchSize), "batchSize \(batchSize) is outside 1...65536")
        try check(schedule.baseLR.isFinite && schedule.baseLR > 0, "schedule.baseLR \(schedule.baseLR) must be a positive number")
        try check(schedule.minLR.isFinite && schedule.minLR >= 0 && schedule.gamma.isFinite && schedule.gamma > 0, "schedule minLR / gamma out of range")
        try check(schedule.warmupEpochs.isFinite && schedule.warmupEpochs >= 0, "schedule.warmupEpochs \(schedule.warmupEpochs) is negative")
        try check(sgd.momentum >= 0 && sgd.momentum < 1, "sgd.momentum \(sgd.momentum) is outside [0, 1)")
        try check(sgd.weightDecay >= 0 && sgd.weightDecay < 1, "sgd.weightDecay \(sgd.weightDecay) is outside [0, 1)")
        try check(labelSmoothing >= 0 && labelSmoothing < 1, "labelSmoothing \(labelSmoothing) is outside [0, 1)")
        try check(sparsity >= 0 && sparsity < 1, "sparsity \(sparsity) is outside [0, 1)")
        try check((trainLimit ?? 1) >= 1 && (testLimit ?? 1) >= 1, "trainLimit / testLimit must be positive")
        if let d = dynamic {
            try check(d.target >= 0 && d.target < 1 && d.rMax > 0 && d.rMax <= 1, "dynamic target \(d.target) / rMax \(d.rMax) out of range")
            try check(d.tauScale > 0 && d.tauScale.isFinite && d.kappa > 0 && d.kappa.isFinite && d.alpha >= 0 && d.alpha.isFinite,
                      "dynamic tauScale / kappa / alpha out of range")
            try check((1...1024).contains(d.predictorWidth), "dynamic predictorWidth \(d.predictorWidth) is outside 1...1024")
        }
        if let f = fbs { try check(f.density > 0 && f.density <= 1, "fbs density \(f.density) is outside (0, 1]") }
        if let s = slimmable { try check(s.minWidth > 0 && s.minWidth <= 1 && (0...16).contains(s.randomWidths), "slimmable minWidth / randomWidths out of range") }
        if let k = distillation {
            try check(k.alpha >= 0 && k.alpha <= 1 && k.temperature > 0 && k.temperature.isFinite, "distillation alpha / temperature out of range")
        }
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
