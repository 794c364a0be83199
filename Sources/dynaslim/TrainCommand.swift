import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import DynaSlimTrain
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on real data; writes config.json, metrics.jsonl and checkpoints under --out.",
        discussion: """
            A run directory holds config.json (the full configuration), metrics.jsonl (one line per epoch:
            train/test loss and accuracy, learning rate, time), model.safetensors (PyTorch state_dict names;
            loads with `dynaslim eval` or safetensors.torch.load_file) and resume.safetensors (optimizer
            state). Checkpoints are written atomically at the end of every epoch; `--resume` continues an
            interrupted run exactly. `--from CHECKPOINT` starts from existing weights (fine-tuning, or a
            thinned model from `dynaslim prune`).
            """)

    @Option(help: "Model: resnet20/32/38/44/56/110 (any 6n+2), vgg16, vgg19, mcifarnet.") var model = "resnet20"
    @Option(help: "Dataset: fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse.") var dataset: DatasetName = .fashionMNIST
    @Option(help: "Dataset folder (default: /usr/share/datasets/fashion-mnist, ../shared/data/cifar-10-batches-bin).") var data: String?
    @Flag(help: "Download the dataset first when --data (default data/<its folder>) lacks it: checksum-verified, resumable.")
    var download = false
    @Option(help: "With --download: the data root.") var dataRoot = "data"
    @Option(help: "Epochs.") var epochs = 10
    @Option(help: "Batch size.") var batchSize = 128
    @Option(help: "Base learning rate.") var lr: Float = 0.1
    @Option(help: "Learning-rate schedule: constant, step, cosine.") var schedule: LRSchedule.Kind = .cosine
    @Option(help: "Step schedule milestones (epochs), comma separated, e.g. 100,150.") var milestones = ""
    @Option(help: "Step schedule factor.") var lrGamma: Float = 0.1
    @Option(help: "Linear warm-up epochs.") var warmup: Float = 0
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(help: "Weight decay (L2, all parameters).") var weightDecay: Float = 5e-4
    @Option(help: "Label smoothing epsilon.") var labelSmoothing: Float = 0
    @Option(help: "Network Slimming L1 penalty on gated BN gammas (e.g. 1e-5 ResNet, 1e-4 VGG).") var sparsity: Float = 0
    @Option(help: "Residual shortcut for ResNets: A (zero-padding) or B (1x1 conv + BN).") var shortcut: ShortcutKind = .a
    @Option(help: "Initial BN gamma (Network Slimming uses 0.5).") var gammaInit: Float = 1
    @Option(help: "Dropout probability (M-CifarNet).") var dropout: Float = 0.3
    @Option(help: "Random seed (init, shuffling, augmentation, dropout).") var seed: UInt64 = 0
    @Flag(inversion: .prefixedNo, help: "Random crop (4-pixel zero padding); default on for CIFAR.") var crop: Bool?
    @Flag(inversion: .prefixedNo, help: "Random horizontal flip; default on for CIFAR and Fashion-MNIST.") var flip: Bool?
    @Option(help: "Use only the first N training images.") var trainLimit: Int?
    @Option(help: "Use only the first N test images.") var testLimit: Int?
    @Option(help: "Initialize from this checkpoint (fine-tuning; keeps its architecture and widths).") var from: String?
    @Option(help: """
        dense (ordinary training; add --sparsity for Network Slimming), slimmable (stage 1 of the two-stage recipe: \
        |gamma|-ordered prefixes, sandwich rule with distillation) or dynamic (threshold predictor + gated training; \
        stage 2 when started --from a slimmable checkpoint) or fbs (the FBS baseline: saliency predictors, top-k \
        channels per input; start --from a dense checkpoint).
        """)
    var method: TrainMethod = .dense
    @Option(help: "Dynamic: target pruning rate T (fraction of gated MACs skipped).") var target: Float = 0.5
    @Option(help: "Dynamic: the expected rate ramps to T over the first epoch-ratio * epochs.") var epochRatio: Double = 0.5
    @Option(help: "Dynamic: weight of the rate loss alpha * mean (r - R)^2.") var alpha: Float = 10
    @Option(help: "Dynamic: soft-mask temperature tau as a fraction of each layer's |gamma| range.") var tauScale: Float = 0.1
    @Option(help: "Dynamic: exponent of the variance rule (1 = the thesis).") var kappa: Float = 1
    @Option(help: """
        Dynamic: expected-rate rule: variance (thesis), uniform (ablation) or oracle (supervised: each training image's \
        rate follows the cheapest backbone level that classifies it correctly, computed once at the start; see OracleLabels).
        """) var rateTarget: RateTarget = .variance
    @Option(help: "Dynamic: cap on a sample's expected rate.") var rMax: Float = 0.95
    @Option(help: "Dynamic: L1 weight on gated gammas.") var gateLambda: Float = 1e-4
    @Option(help: "Dynamic: predictor learning-rate multiplier.") var predictorLrMult: Float = 10
    @Option(help: "Dynamic: predictor output bias at start (-2.5 keeps almost every channel).") var predictorBias: Float = -2.5
    @Flag(help: "Dynamic: rate loss on the hard rate (straight-through gradient) instead of the soft rate.") var hardRate = false
    @Option(help: "Dynamic: channels of the predictor's first conv (8 keeps it well under 1% of ResNet-20).") var predictorWidth = 8
    @Option(help: """
        Dynamic: joint (predictor and backbone together from --from) or two-stage (first --stage1-epochs of slimmable \
        training into OUT/stage1, then the dynamic stage into OUT).
        """) var recipe: Recipe = .joint
    @Option(help: "Two-stage recipe: epochs of slimmable stage 1.") var stage1Epochs = 2
    @Option(help: "FBS: final density (fraction of channels kept per gated layer), reached over --epoch-ratio.") var density: Float = 0.5
    @Option(help: "FBS: L1 weight on the kept saliencies.") var fbsLambda: Float = 1e-8
    @Option(help: "Slimmable: narrowest width as a fraction of each gated layer.") var minWidth: Float = 0.25
    @Option(help: "Slimmable: random-width passes per step.") var randomWidths = 2
    @Option(help: """
        Distill from this teacher checkpoint (usually the dense model the run starts from), for any --method: \
        loss = (1 - kd-alpha) * CE + kd-alpha * T^2 * KL(teacher || student) at temperature T.
        """) var teacher: String?
    @Option(help: "Distillation weight alpha in [0, 1] (with --teacher).") var kdAlpha: Float = 0.5
    @Option(help: "Distillation temperature T > 0 (with --teacher).") var kdTemperature: Float = 4
    @Option(help: "Run directory.") var out: String
    @Flag(help: "Continue the run in --out from its last finished epoch (other options are ignored).") var resume = false

    func validate() throws {
        typealias C = OptionCheck
        try C.closed("--epochs", epochs, 1, 100_000)
        try C.closed("--batch-size", batchSize, 1, 65_536)
        try C.openClosed("--lr", lr, 0, 10)
        try C.openClosed("--lr-gamma", lrGamma, 0, 1)
        try C.halfOpen("--warmup", warmup, 0, Float(epochs))
        try C.halfOpen("--momentum", momentum, 0, 1)
        try C.halfOpen("--weight-decay", weightDecay, 0, 1)
        try C.halfOpen("--label-smoothing", labelSmoothing, 0, 1)
        try C.halfOpen("--sparsity", sparsity, 0, 1)
        try C.finite("--gamma-init", gammaInit)
        try C.halfOpen("--dropout", dropout, 0, 1)
        if let trainLimit { try C.atLeast("--train-limit", trainLimit, 1) }
        if let testLimit { try C.atLeast("--test-limit", testLimit, 1) }
        try C.halfOpen("--target", target, 0, 1)
        try C.closed("--epoch-ratio", epochRatio, 0, 1)
        try C.halfOpen("--alpha", alpha, 0, 1e6)
        try C.openClosed("--tau-scale", tauScale, 0, 10)
        try C.openClosed("--kappa", kappa, 0, 16)
        try C.openClosed("--r-max", rMax, 0, 1)
        try C.halfOpen("--gate-lambda", gateLambda, 0, 1)
        try C.openClosed("--predictor-lr-mult", predictorLrMult, 0, 1000)
        try C.finite("--predictor-bias", predictorBias)
        try C.closed("--predictor-width", predictorWidth, 1, 1024)
        try C.closed("--stage1-epochs", stage1Epochs, 1, 100_000)
        try C.openClosed("--density", density, 0, 1)
        try C.halfOpen("--fbs-lambda", fbsLambda, 0, 1)
        try C.openClosed("--min-width", minWidth, 0, 1)
        try C.closed("--random-widths", randomWidths, 0, 16)
        try C.closed("--kd-alpha", kdAlpha, 0, 1)
        try C.openClosed("--kd-temperature", kdTemperature, 0, 100)
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let run: TrainingRun
        if resume {
            run = try TrainingRun.resume(directory: out)
            print("resuming \(out) after epoch \(run.completedEpochs) of \(run.config.epochs)")
        } else {
            var data = self.data
            if download && data == nil { data = try DownloadProgress.fetch(dataset, root: dataRoot, mirror: nil) }
            let defaults = DatasetCatalog.defaultAugmentation(dataset)
            let aug = Augmentation(randomCrop: crop ?? defaults.randomCrop, cropPadding: 4, horizontalFlip: flip ?? defaults.horizontalFlip)
            let ms = try milestones.split(separator: ",").map { s -> Int in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad milestone '\(s)'") }
                return v
            }
            if method == .dynamic && recipe == .twoStage { try runTwoStage(); return }
            var network: Network?
            var predictorTensors: [NamedTensor] = []
            var modelConfig = ModelConfig(architecture: model, shortcut: shortcut, gammaInit: gammaInit, dropout: dropout)
            if let from {
                let loaded = try Checkpoint.load(from, fallback: modelConfig, ignoringPrefixes: [ThresholdPredictor.prefix, FBSModel.prefix])
                network = loaded.network
                modelConfig = loaded.network.config
                if method == .dynamic || method == .fbs { predictorTensors = try SafeTensors.read(from).tensors }
            }
            var dyn: DynamicConfig?
            if method == .dynamic {
                var d = DynamicConfig()
                d.target = target; d.epochRatio = epochRatio; d.alpha = alpha; d.tauScale = tauScale; d.kappa = kappa
                d.rateTarget = rateTarget; d.rMax = rMax; d.lambda = gateLambda; d.predictorLRMultiplier = predictorLrMult
                d.predictorBiasInit = predictorBias; d.hardRate = hardRate; d.predictorWidth = predictorWidth
                dyn = d
            }
            let config = TrainConfig(model: modelConfig, dataset: dataset, dataPath: data, epochs: epochs, batchSize: batchSize,
                                     schedule: LRSchedule(kind: schedule, baseLR: lr, epochs: epochs, milestones: ms, gamma: lrGamma, warmupEpochs: warmup),
                                     sgd: SGDConfig(momentum: momentum, weightDecay: weightDecay, nesterov: nesterov),
                                     labelSmoothing: labelSmoothing, seed: seed, augmentation: aug, sparsity: sparsity,
                                     trainLimit: trainLimit, testLimit: testLimit, initializedFrom: from, dynamic: dyn,
                                     slimmable: method == .slimmable ? SlimmableConfig(minWidth: minWidth, randomWidths: randomWidths) : nil,
                                     fbs: method == .fbs ? FBSConfig(density: density, epochRatio: epochRatio, lambda: fbsLambda) : nil,
                                     distillation: teacher.map { DistillationConfig(teacher: $0, alpha: kdAlpha, temperature: kdTemperature) })
            run = try TrainingRun.create(config: config, directory: out, network: network, predictorTensors: predictorTensors)
            print("training \(run.network.config.architecture) on \(dataset.rawValue): \(run.trainSet.count) train / \(run.testSet.count) test images of \(run.trainSet.shape), "
                  + "\(formatCount(run.network.parameterCount)) parameters, \(formatCount(run.network.macsPerImage)) MACs/image -> \(out)")
        }
        // Test switch for the crash-safety tests: SIGKILL this process just before its N-th file
        // operation of an epoch commit (write, fsync or rename of a temp file), counted from the start.
        if let n = ProcessInfo.processInfo.environment["DYNASLIM_KILL_AT_FILE_OP"].flatMap(Int.init) {
            var seen = 0
            run.beforeFileOperation = { _, _ in
                seen += 1
                if seen == n { kill(getpid(), SIGKILL) }
            }
        }
        let tty = stdoutIsTerminal
        var lastPrint = Date.distantPast
        try run.run { event in
            switch event {
            case let .step(epoch, epochs, step, steps, loss, acc, ips, eta):
                let line = String(format: "epoch %d/%d step %d/%d loss %.4f acc %.2f%% %.0f img/s ETA %@", epoch, epochs, step, steps, loss, acc * 100, ips, formatDuration(eta))
                if tty {
                    print("\r\u{1B}[K" + line, terminator: "")
                    flushStdout()
                } else if Date().timeIntervalSince(lastPrint) > 30 || step == steps {
                    print(line); flushStdout(); lastPrint = Date()
                }
            case let .epochEnd(m):
                if tty { print("") }
                print(String(format: "epoch %d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | lr %.4g | %.0fs (%.0f img/s)",
                             m.epoch, m.trainLoss, m.trainAccuracy * 100, m.testLoss, m.testAccuracy * 100, m.learningRate, m.seconds, m.imagesPerSecond))
                if let d = m.dynamicEval {
                    print(String(format: "  dynamic: train rate soft %.3f hard %.3f (expected %.3f) | test rate %.3f [%.3f, %.3f] FLOP speed-up %.2fx",
                                 m.trainSoftRate ?? 0, m.trainHardRate ?? 0, m.trainExpectedRate ?? 0, d.rateMean, d.rateMin, d.rateMax, d.flopSpeedup))
                    print("  kept channels: " + d.layers.map { String(format: "%.1f/%d", $0.meanKept, $0.channels) }.joined(separator: " "))
                }
                flushStdout()
            }
        }
        print("checkpoint: \(run.modelPath)")
    }
}

enum TrainMethod: String, ExpressibleByArgument, CaseIterable { case dense, slimmable, dynamic, fbs }
extension RateTarget: ExpressibleByArgument {}

enum Recipe: String, ExpressibleByArgument, CaseIterable { case joint, twoStage = "two-stage" }

extension Train {
    /// The two-stage recipe as two runs: stage 1 slimmable (OUT/stage1), stage 2 dynamic from it (OUT).
    func runTwoStage() throws {
        var stage1 = self
        stage1.method = .slimmable
        stage1.recipe = .joint
        stage1.epochs = stage1Epochs
        stage1.out = (out as NSString).appendingPathComponent("stage1")
        // A stopped two-stage run starts again where it stopped: each stage that has a finished epoch
        // resumes (a finished stage 1 resumes to nothing), so the same command can simply be re-run.
        stage1.resume = TrainingRun.hasFinishedEpoch(directory: stage1.out)
        print("two-stage recipe, stage 1: slimmable training for \(stage1Epochs) epochs -> \(stage1.out)")
        try stage1.run()
        var stage2 = self
        stage2.recipe = .joint
        stage2.from = (stage1.out as NSString).appendingPathComponent("model.safetensors")
        stage2.resume = TrainingRun.hasFinishedEpoch(directory: out)
        print("two-stage recipe, stage 2: predictor and gated fine-tuning for \(epochs) epochs -> \(out)")
        try stage2.run()
    }
}
