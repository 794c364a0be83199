// A training run on disk (runs/NAME/):
//   config.json          the full TrainConfig
//   metrics.jsonl        one JSON object per finished epoch
//   model.safetensors    the model's state_dict (PyTorch names) + config metadata: for eval / PyTorch
//   resume.safetensors   model + SGD momentum buffers + progress + every metrics line so far:
//                        everything `--resume` needs, and the run's commit record
// The end of an epoch is one commit: resume.safetensors is replaced atomically (temp file, fsync,
// rename) and that rename is the commit point; model.safetensors and metrics.jsonl are then derived
// from it. A kill at any instruction leaves either the previous epoch or the new one in
// resume.safetensors; `--resume` rewrites whichever derived file lags behind it (a kill between the
// commit and their rewrite) and removes stale temp files. Every random choice is derived from
// (seed, epoch, batch), so a resumed run reproduces the uninterrupted one bit for bit.
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import Foundation

public enum TrainError: Error, CustomStringConvertible {
    case nonFiniteLoss(epoch: Int, step: Int, value: Float, lastCheckpoint: String?)
    case runDirectory(path: String, reason: String)
    case resume(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(e, s, v, ckpt):
            return "loss became \(v) at epoch \(e) step \(s); stopped. " + (ckpt.map { "The last good checkpoint is \($0)." } ?? "No epoch had finished, so no checkpoint was written.")
                + " Lower --lr or check the data."
        case let .runDirectory(p, r): return "\(p): \(r)"
        case let .resume(p, r): return "\(p): cannot resume: \(r)"
        }
    }
}

public struct EpochMetrics: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double, trainAccuracy: Double
    public var testLoss: Double, testAccuracy: Double
    public var learningRate: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Dynamic runs: training-time rates and the test-set evaluation with per-layer diagnostics.
    public var trainSoftRate: Double?, trainHardRate: Double?, trainExpectedRate: Double?, trainRateLoss: Double?
    public var dynamicEval: DynamicEvalResult?
    /// The model's MACs per image and parameters, and the full-width architecture's MACs (for thinned models).
    public var macsPerImage: Int?, denseMacsPerImage: Int?, params: Int?
    enum CodingKeys: String, CodingKey {
        case macsPerImage = "macs_per_image", denseMacsPerImage = "dense_macs_per_image", params
        case epoch, trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss", testAccuracy = "test_accuracy"
        case learningRate = "lr", seconds = "seconds", imagesPerSecond = "images_per_second"
        case trainSoftRate = "train_soft_rate", trainHardRate = "train_hard_rate", trainExpectedRate = "train_expected_rate"
        case trainRateLoss = "train_rate_loss", dynamicEval = "dynamic"
    }
}

public enum TrainingEvent {
    case step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, runningAccuracy: Double, imagesPerSecond: Double, etaSeconds: Double)
    case epochEnd(EpochMetrics)
}

public final class TrainingRun {
    public let config: TrainConfig
    public let directory: String
    public let network: Network
    public let sgd: SGD
    public let normalization: Normalization
    public let trainSet: ImageDataset, testSet: ImageDataset
    /// The training method (Methods/): dense, slimmable, dynamic or FBS.
    public let method: TrainingMethod
    /// The threshold predictor and gating rule of a dynamic run.
    public var dynamic: DynamicModel? { (method as? DynamicMethod)?.model }
    /// The FBS saliency predictors of an FBS run.
    public var fbs: FBSModel? { (method as? FBSMethod)?.model }
    /// The frozen teacher of a distilled run.
    public let distiller: Distiller?
    public private(set) var completedEpochs = 0
    /// Stop after this many epochs in this process (tests simulate an interruption with it).
    public var stopAfterEpochs: Int?
    /// Runs before each file operation of an epoch's commit (AtomicFile.Step, path): the CLI maps a
    /// test switch onto it to kill the process at a chosen operation.
    public var beforeFileOperation: ((AtomicFile.Step, String) throws -> Void)?
    /// metrics.jsonl as of the last committed epoch (also stored in resume.safetensors).
    var committedMetrics = ""
    static let metricsKey = "dynaslim.metrics"

    public var modelPath: String { (directory as NSString).appendingPathComponent("model.safetensors") }
    public var resumePath: String { (directory as NSString).appendingPathComponent("resume.safetensors") }
    public var metricsPath: String { (directory as NSString).appendingPathComponent("metrics.jsonl") }
    public var configPath: String { (directory as NSString).appendingPathComponent("config.json") }

    init(config: TrainConfig, directory: String, network: Network, train: ImageDataset, test: ImageDataset,
         sandwichExecution: SandwichStep.Execution = .thin) throws {
        self.config = config; self.directory = directory; self.network = network
        trainSet = train; testSet = test
        normalization = Normalization.fitted(to: train)
        try DataCompatibility.check(model: network.config, dataset: train, normalization: normalization)
        try DataCompatibility.check(model: network.config, dataset: test)
        try config.validate(file: (directory as NSString).appendingPathComponent("config.json"))
        distiller = try config.distillation.map { try Distiller(config: $0, student: network.config) }
        method = try TrainingMethods.make(config, network: network, sandwichExecution: sandwichExecution)
        sgd = SGD(parameters: method.parameters, config: config.sgd)
        for (name, m) in method.learningRateMultipliers { sgd.lrMultipliers[name] = m }
    }

    static func loadData(_ config: TrainConfig) throws -> (ImageDataset, ImageDataset) {
        var train = try DatasetCatalog.load(config.dataset, path: config.dataPath, train: true)
        var test = try DatasetCatalog.load(config.dataset, path: config.dataPath, train: false)
        if let n = config.trainLimit { train = train.prefix(n) }
        if let n = config.testLimit { test = test.prefix(n) }
        return (train, test)
    }

    /// Starts a new run in `directory` (which must not already hold one). `network` overrides the
    /// freshly initialized model (e.g. weights from `--from`); datasets are loaded unless given.
    public static func create(config: TrainConfig, directory: String, network: Network? = nil, predictorTensors: [NamedTensor] = [],
                              train: ImageDataset? = nil, test: ImageDataset? = nil,
                              sandwichExecution: SandwichStep.Execution = .thin) throws -> TrainingRun {
        let fm = FileManager.default
        if hasFinishedEpoch(directory: directory) {
            throw TrainError.runDirectory(path: directory, reason: "already holds a run; use --resume to continue it or choose another --out")
        }
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainError.runDirectory(path: directory, reason: "cannot create: \(error.localizedDescription)")
        }
        let (tr, te): (ImageDataset, ImageDataset)
        if let train, let test { (tr, te) = (train, test) } else { (tr, te) = try loadData(config) }
        var model = config.model
        model.inputChannels = tr.shape.c; model.inputHeight = tr.shape.h; model.inputWidth = tr.shape.w; model.classes = tr.classes
        let net = try network ?? ModelZoo.build(model, seed: config.seed)
        var cfg = config
        cfg.model = net.config
        let run = try TrainingRun(config: cfg, directory: directory, network: net, train: tr, test: te, sandwichExecution: sandwichExecution)
        AtomicFile.removeStaleTemporaries(in: directory)
        try run.method.loadExtraTensors(predictorTensors, file: config.initializedFrom ?? "--from")
        try run.method.prepare(directory: directory, train: tr, normalization: run.normalization, augmentation: cfg.augmentation, resuming: false)
        try SafeTensors.atomicWrite(try prettyJSON(cfg), to: run.configPath)
        try? fm.removeItem(atPath: run.metricsPath)
        return run
    }

    /// Whether `directory` holds a run with at least one finished epoch (its resume checkpoint): such a
    /// run is continued with `resume`, and `create` refuses to overwrite it.
    public static func hasFinishedEpoch(directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("resume.safetensors"))
    }

    /// Reopens a run from its directory at the end of its last finished epoch.
    public static func resume(directory: String, train: ImageDataset? = nil, test: ImageDataset? = nil) throws -> TrainingRun {
        let cfgPath = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: cfgPath) else { throw TrainError.resume(path: cfgPath, reason: "no config.json") }
        let config: TrainConfig
        do { config = try JSONDecoder().decode(TrainConfig.self, from: data) } catch {
            throw TrainError.resume(path: cfgPath, reason: "not a valid run configuration: \(error)")
        }
        let resumePath = (directory as NSString).appendingPathComponent("resume.safetensors")
        guard hasFinishedEpoch(directory: directory) else {
            throw TrainError.resume(path: resumePath, reason: "no finished epoch to resume from; start the run again")
        }
        let (tensors, meta) = try SafeTensors.read(resumePath)
        let net: Network
        do { net = try ModelZoo.build(config.model, seed: config.seed) } catch {
            throw TrainError.resume(path: cfgPath, reason: "its model cannot be built: \(error)")
        }
        let momentum = tensors.filter { $0.name.hasPrefix("momentum.") }
        try Checkpoint.apply(tensors, to: net, file: resumePath, ignoringPrefixes: ["momentum.", ThresholdPredictor.prefix, FBSModel.prefix])
        let (tr, te): (ImageDataset, ImageDataset)
        if let train, let test { (tr, te) = (train, test) } else { (tr, te) = try loadData(config) }
        let run = try TrainingRun(config: config, directory: directory, network: net, train: tr, test: te)
        try run.method.loadExtraTensors(tensors, file: resumePath)
        try run.method.prepare(directory: directory, train: tr, normalization: run.normalization, augmentation: config.augmentation, resuming: true)
        guard let done = meta["completed_epochs"].flatMap(Int.init), (1...config.epochs).contains(done) else {
            throw TrainError.resume(path: resumePath, reason: "completed_epochs \(meta["completed_epochs"] ?? "(missing)") is outside 1...\(config.epochs), the run's epochs")
        }
        run.completedEpochs = done
        let params = Dictionary(run.sgd.parameters.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for t in momentum {
            let name = String(t.name.dropFirst("momentum.".count))
            guard let p = params[name] else { throw TrainError.resume(path: resumePath, reason: "momentum for \(name), which is no parameter of this run") }
            guard t.values.count == p.count, t.shape == p.shape else {
                throw TrainError.resume(path: resumePath, reason: "momentum.\(name) has shape \(t.shape), its parameter \(p.shape)")
            }
            guard t.values.allSatisfy(\.isFinite) else { throw TrainError.resume(path: resumePath, reason: "momentum.\(name) holds NaN or infinity") }
            run.sgd.momentumBuffers[name] = t.values
        }
        if config.sgd.momentum > 0, let absent = run.sgd.parameters.first(where: { run.sgd.momentumBuffers[$0.0] == nil }) {
            throw TrainError.resume(path: resumePath, reason: "no momentum for \(absent.0)")
        }
        AtomicFile.removeStaleTemporaries(in: directory)
        if let text = meta[metricsKey] {
            run.committedMetrics = text
        } else if let text = try? String(contentsOfFile: run.metricsPath, encoding: .utf8) {
            // Runs written before the metrics moved into the commit record: keep the lines up to the checkpoint.
            let kept = text.split(separator: "\n").filter { line in
                guard let d = line.data(using: .utf8), let m = try? JSONDecoder().decode(EpochMetrics.self, from: d) else { return false }
                return m.epoch <= done
            }
            run.committedMetrics = kept.map { $0 + "\n" }.joined()
        }
        try run.repairDerivedFiles(epoch: done)
        return run
    }

    /// Rewrites model.safetensors and metrics.jsonl from the committed state when a kill left them behind it.
    func repairDerivedFiles(epoch: Int) throws {
        let modelEpoch = (try? SafeTensors.read(modelPath))?.metadata["completed_epochs"].flatMap(Int.init)
        let metrics = try? String(contentsOfFile: metricsPath, encoding: .utf8)
        if modelEpoch != epoch || metrics != committedMetrics { try writeDerivedFiles() }
    }

    static func prettyJSON<T: Encodable>(_ v: T) throws -> Data {
        let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(v)
    }

    var normalizationMetadata: [String: String] {
        ["dynaslim.normalization": String(decoding: (try? JSONEncoder.sorted.encode(normalization)) ?? Data(), as: UTF8.self),
         "dynaslim.dataset": config.dataset.rawValue,
         "dynaslim.train": String(decoding: (try? JSONEncoder.sorted.encode(config)) ?? Data(), as: UTF8.self)]
    }

    /// The metadata both checkpoints carry (the resume file adds the metrics).
    func checkpointMetadata() throws -> [String: String] {
        var meta = normalizationMetadata
        meta["completed_epochs"] = "\(completedEpochs)"
        meta.merge(try method.metadata()) { _, new in new }
        return meta
    }

    /// Commits the finished epoch `completedEpochs` with its metrics line: the resume file (the commit
    /// point), then the derived model.safetensors and metrics.jsonl. A non-finite metric stops the run
    /// before anything is written.
    func commitEpoch(_ m: EpochMetrics) throws {
        for v in [m.trainLoss, m.trainAccuracy, m.testLoss, m.testAccuracy] where !v.isFinite {
            throw TrainError.nonFiniteLoss(epoch: m.epoch, step: -1, value: Float(v), lastCheckpoint: m.epoch > 1 ? modelPath : nil)
        }
        let line = String(decoding: try JSONEncoder.sorted.encode(m), as: UTF8.self) + "\n"
        let metrics = committedMetrics + line
        var meta = try checkpointMetadata()
        meta[Self.metricsKey] = metrics
        let momentum = sgd.parameters.compactMap { name, p in
            sgd.momentumBuffers[name].map { NamedTensor(name: "momentum.\(name)", shape: p.shape, values: $0) }
        }
        let resume = try Checkpoint.encode(network, metadata: meta, extraTensors: method.extraTensors + momentum, file: resumePath)
        try AtomicFile.write(resume, to: resumePath, beforeStep: beforeFileOperation)
        committedMetrics = metrics
        try writeDerivedFiles()
    }

    /// model.safetensors and metrics.jsonl from the in-memory state of the last committed epoch.
    func writeDerivedFiles() throws {
        let model = try Checkpoint.encode(network, metadata: try checkpointMetadata(), extraTensors: method.extraTensors, file: modelPath)
        try AtomicFile.write(model, to: modelPath, beforeStep: beforeFileOperation)
        try AtomicFile.write(Data(committedMetrics.utf8), to: metricsPath, beforeStep: beforeFileOperation)
    }

    /// Trains the remaining epochs, reporting progress through `events`.
    public func run(events: (TrainingEvent) -> Void = { _ in }) throws {
        let loader = BatchLoader(dataset: trainSet, batchSize: config.batchSize, shuffle: true, augmentation: config.augmentation,
                                 normalization: normalization, seed: config.seed, dropLast: trainSet.count >= 2 * config.batchSize)
        let C = network.config.classes, stepsPerEpoch = loader.batchesPerEpoch
        let gradBuffer = ScratchBuffer(capacity: config.batchSize * C), probBuffer = ScratchBuffer(capacity: config.batchSize * C)
        var epochsThisProcess = 0
        let runStart = DispatchTime.now().uptimeNanoseconds
        var imagesThisProcess = 0
        while completedEpochs < config.epochs {
            if let stop = stopAfterEpochs, epochsThisProcess >= stop { break }
            let epoch = completedEpochs + 1
            for (k, d) in network.dropouts.enumerated() { d.rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 7919 &+ UInt64(k) &* 104_729) }
            loader.start(epoch: epoch)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, correct = 0, seen = 0, step = 0
            var lr: Float = 0
            method.beginEpoch()
            while let batch = loader.next() {
                let n = batch.count
                lr = config.schedule.rate(at: Double(epoch - 1) + Double(step) / Double(stepsPerEpoch))
                let images = batch.images.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[0..<(n * trainSet.shape.count)]) }
                method.beginStep(progress: Double(epoch - 1) + Double(step) / Double(stepsPerEpoch), epochs: config.epochs)
                let logits = try method.forward(images: images, n: n, mode: .train)
                let g = gradBuffer.reserve(n * C)
                let probs = probBuffer.reserve(n * C)
                var loss = try batch.labels.withUnsafeBufferPointer { lp in
                    try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, labels: UnsafeBufferPointer(rebasing: lp[0..<n]),
                                                            labelSmoothing: config.labelSmoothing, logitsGrad: UnsafeMutableBufferPointer(start: g, count: n * C),
                                                            probabilities: UnsafeMutableBufferPointer(start: probs, count: n * C))
                }
                if let distiller { loss = try distiller.blend(images: images, n: n, logits: logits.buffer, crossEntropy: loss, logitsGrad: g) }
                guard loss.isFinite else {
                    throw TrainError.nonFiniteLoss(epoch: epoch, step: step, value: loss,
                                                   lastCheckpoint: completedEpochs > 0 ? modelPath : nil)
                }
                for j in 0..<n where Evaluator.argmax(logits.pointer, row: j, classes: C) == Int(batch.labels[j]) { correct += 1 }
                try network.backward(logitsGrad: Activation(n: n, c: C, h: 1, w: 1, pointer: g))
                try method.afterBackward(StepContext(images: images, n: n, probabilities: probs, classes: C, indices: batch.indices.prefix(n),
                                                     epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, epochs: config.epochs, seed: config.seed))
                if config.sparsity > 0 { applySparsity(config.sparsity) }
                sgd.step(learningRate: lr)
                lossSum += Double(loss) * Double(n); seen += n; step += 1; imagesThisProcess += n
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - runStart) * 1e-9
                let ips = Double(imagesThisProcess) / max(elapsed, 1e-9)
                let remainingImages = Double((config.epochs - epoch) * stepsPerEpoch * config.batchSize + (stepsPerEpoch - step) * config.batchSize)
                events(.step(epoch: epoch, epochs: config.epochs, step: step, steps: stepsPerEpoch, loss: lossSum / Double(seen),
                             runningAccuracy: Double(correct) / Double(seen), imagesPerSecond: ips, etaSeconds: remainingImages / max(ips, 1e-9)))
            }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            var m = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                 testLoss: 0, testAccuracy: 0, learningRate: Double(lr), seconds: 0,
                                 imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9))
            try method.evaluate(testSet, normalization: normalization, into: &m)
            m.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            m.params = network.parameterCount
            var full = network.config
            full.widths = nil
            m.denseMacsPerImage = (try? ModelZoo.build(full))?.macsPerImage
            completedEpochs = epoch
            try commitEpoch(m)
            epochsThisProcess += 1
            events(.epochEnd(m))
        }
    }

    /// Network Slimming (Liu et al. 2017): the subgradient of lambda * sum |gamma| over gated BNs.
    func applySparsity(_ lambda: Float) {
        for g in network.gated {
            let w = g.bn.weight
            for i in 0..<w.count { w.grad[i] += lambda * (w.value[i] > 0 ? 1 : (w.value[i] < 0 ? -1 : 0)) }
        }
    }
}
