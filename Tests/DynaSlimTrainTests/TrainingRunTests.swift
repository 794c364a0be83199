import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
@testable import DynaSlimTrain

/// A learnable synthetic problem: the class is which quadrant of an 8x8 image is bright.
func quadrantDataset(_ n: Int, seed: UInt64) throws -> ImageDataset {
    var rng = SplitMix64(seed: seed)
    var images = [UInt8](), labels = [Int32]()
    for _ in 0..<n {
        let c = rng.nextInt(below: 4)
        labels.append(Int32(c))
        for y in 0..<8 { for x in 0..<8 {
            let q = (y / 4) * 2 + x / 4
            images.append(UInt8(min(255, (q == c ? 160 : 40) + rng.nextInt(below: 60))))
        } }
    }
    return try ImageDataset(name: "quadrants", images: images, labels: labels, shape: FeatureShape(c: 1, h: 8, w: 8), classes: 4)
}

func runDirectory() -> String { NSTemporaryDirectory() + "dynaslim-run-\(UUID().uuidString)" }

func config(_ arch: String, epochs: Int, schedule: LRSchedule? = nil) -> TrainConfig {
    TrainConfig(model: ModelConfig(architecture: arch), dataset: .fashionMNIST, epochs: epochs, batchSize: 16,
                schedule: schedule ?? LRSchedule(kind: .cosine, baseLR: 0.05, epochs: epochs), seed: 11,
                augmentation: Augmentation(randomCrop: true, cropPadding: 1, horizontalFlip: true))
}

/// Trains `cfg` for `stopAfter` epochs, "kills" the process, resumes to the end, and returns the
/// resumed run, for comparison with an uninterrupted one.
func interruptedAndResumed(_ cfg: TrainConfig, train: ImageDataset, test: ImageDataset, stopAfter: Int) throws -> TrainingRun {
    let dir = runDirectory()
    let first = try TrainingRun.create(config: cfg, directory: dir, train: train, test: test)
    #expect(!TrainingRun.hasFinishedEpoch(directory: dir))
    first.stopAfterEpochs = stopAfter
    try first.run()
    #expect(first.completedEpochs == stopAfter)
    // A finished epoch is what `train` (and the two-stage recipe, per stage) resumes from; a new run
    // may not overwrite it.
    #expect(TrainingRun.hasFinishedEpoch(directory: dir))
    #expect(throws: TrainError.self) { try TrainingRun.create(config: cfg, directory: dir, train: train, test: test) }
    let resumed = try TrainingRun.resume(directory: dir, train: train, test: test)
    #expect(resumed.completedEpochs == stopAfter)
    try resumed.run()
    #expect(resumed.completedEpochs == cfg.epochs)
    return resumed
}

/// Every tensor bit-identical.
func expectIdentical(_ a: [NamedTensor], _ b: [NamedTensor]) {
    #expect(a.map(\.name) == b.map(\.name))
    for (x, y) in zip(a, b) { #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(x.name)") }
}

@Suite("Training runs", .serialized)
struct TrainingRunTests {
    @Test("a killed-and-resumed run reaches bit-identical weights", arguments: ["resnet8", "mcifarnet"])
    func resumeIsExact(arch: String) throws {
        let train = try quadrantDataset(80, seed: 1), test = try quadrantDataset(32, seed: 2)
        let straight = try TrainingRun.create(config: config(arch, epochs: 3), directory: runDirectory(), train: train, test: test)
        try straight.run()

        let resumed = try interruptedAndResumed(config(arch, epochs: 3), train: train, test: test, stopAfter: 1)
        expectIdentical(Checkpoint.stateDict(straight.network), Checkpoint.stateDict(resumed.network))
        let lines = try String(contentsOfFile: resumed.metricsPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(FileManager.default.fileExists(atPath: resumed.configPath))
    }

    @Test("training learns the synthetic task and eval reads the checkpoint back")
    func learns() throws {
        let train = try quadrantDataset(256, seed: 3), test = try quadrantDataset(64, seed: 4)
        var cfg = config("resnet8", epochs: 4)
        cfg.augmentation = .none
        let run = try TrainingRun.create(config: cfg, directory: runDirectory(), train: train, test: test)
        var epochs: [EpochMetrics] = []
        try run.run { if case let .epochEnd(m) = $0 { epochs.append(m) } }
        #expect(epochs.count == 4)
        #expect(epochs.last!.testAccuracy > 0.9)
        let loaded = try Checkpoint.load(run.modelPath)
        let r = try Evaluator.evaluate(loaded.network, dataset: test, normalization: run.normalization)
        #expect(abs(r.accuracy - epochs.last!.testAccuracy) < 1e-9)
        #expect(r.perClassAccuracy.count == 4)
    }

    @Test("a NaN loss stops the run with a clear error and keeps the last good checkpoint")
    func nonFiniteLoss() throws {
        let train = try quadrantDataset(64, seed: 5), test = try quadrantDataset(16, seed: 6)
        let exploding = LRSchedule(kind: .step, baseLR: 0.01, epochs: 3, milestones: [1], gamma: 1e30)
        let dir = runDirectory()
        let run = try TrainingRun.create(config: config("resnet8", epochs: 3, schedule: exploding), directory: dir, train: train, test: test)
        do {
            try run.run()
            Issue.record("expected the loss to diverge")
        } catch let e as TrainError {
            guard case let .nonFiniteLoss(epoch, _, _, checkpoint) = e else { Issue.record("wrong error \(e)"); return }
            #expect(epoch == 2)
            #expect(checkpoint == run.modelPath)
            #expect(e.description.contains("last good checkpoint"))
        }
        let (_, meta) = try SafeTensors.read(run.resumePath)
        #expect(meta["completed_epochs"] == "1")
        _ = try Checkpoint.load(run.modelPath)  // finite and loadable
        #expect(throws: TrainError.self) { try TrainingRun.create(config: config("resnet8", epochs: 1), directory: dir, train: train, test: test) }
    }
}

@Suite("Dynamic training runs", .serialized)
struct DynamicRunTests {
    @Test("a dynamic run reaches its target rate, resumes bit-exactly, and its checkpoint evaluates the same")
    func dynamicRun() throws {
        let train = try quadrantDataset(96, seed: 7), test = try quadrantDataset(48, seed: 8)
        var cfg = config("resnet8", epochs: 3)
        var d = DynamicConfig()
        d.target = 0.4; d.epochRatio = 0.3
        cfg.dynamic = d
        let straight = try TrainingRun.create(config: cfg, directory: runDirectory(), train: train, test: test)
        var last: EpochMetrics?
        try straight.run { if case let .epochEnd(m) = $0 { last = m } }
        let eval = try #require(last?.dynamicEval)
        #expect(eval.rateMean > 0.15 && eval.rateMean < 0.7)
        #expect(eval.layers.count == 3 && eval.predictorOverhead < 0.05)

        let resumed = try interruptedAndResumed(cfg, train: train, test: test, stopAfter: 2)
        expectIdentical(Checkpoint.stateDict(straight.network), Checkpoint.stateDict(resumed.network))
        #expect(!straight.method.extraTensors.isEmpty)
        expectIdentical(straight.method.extraTensors, resumed.method.extraTensors)

        let (model, _) = try #require(try DynamicCheckpoint.load(straight.modelPath))
        let again = try DynamicEvaluator.evaluate(model, dataset: test, normalization: straight.normalization)
        #expect(again.accuracy == eval.accuracy && again.rateMean == eval.rateMean)
        let control = try DynamicEvaluator.evaluate(model, dataset: test, normalization: straight.normalization,
                                                    staticThresholds: try DynamicEvaluator.meanThresholds(model, dataset: test, normalization: straight.normalization))
        #expect(control.rateStd < 1e-12)  // the static control gives every input the same masks
    }
}

@Suite("Slimmable training runs", .serialized)
struct SlimmableRunTests {
    @Test("stage 1 trains over prefix widths, keeps full-width BN statistics, and resumes bit-exactly")
    func slimmable() throws {
        let train = try quadrantDataset(128, seed: 9), test = try quadrantDataset(32, seed: 10)
        var cfg = config("resnet8", epochs: 3)
        cfg.augmentation = .none
        cfg.slimmable = SlimmableConfig(minWidth: 0.25, randomWidths: 2)
        let straight = try TrainingRun.create(config: cfg, directory: runDirectory(), train: train, test: test)
        try straight.run()
        let tracked = straight.network.namedBuffers.first { $0.0 == "layer1.0.bn2.num_batches_tracked" }!.1.value[0]
        #expect(tracked == Float(3 * (128 / 16)))  // one update per step: only the full-width pass counts
        #expect(straight.network.gated.allSatisfy { $0.bn.channelMask == nil })

        let resumed = try interruptedAndResumed(cfg, train: train, test: test, stopAfter: 1)
        expectIdentical(Checkpoint.stateDict(straight.network), Checkpoint.stateDict(resumed.network))
        let full = try Evaluator.evaluate(straight.network, dataset: test, normalization: straight.normalization, batchSize: 32)
        #expect(full.accuracy > 0.8)
        // The narrowest width still classifies (prefix masks in eval mode).
        SlimmableWidths.install(straight.network, fractions: [0.25, 0.25, 0.25], batch: 32)
        let r = try Evaluator.evaluate(straight.network, dataset: test, normalization: straight.normalization, batchSize: 32)
        #expect(r.accuracy > 0.5)
    }
}

@Suite("FBS runs", .serialized)
struct FBSRunTests {
    @Test("FBS keeps the top-k saliencies per input, trains, resumes bit-exactly and reloads")
    func fbs() throws {
        let train = try quadrantDataset(96, seed: 11), test = try quadrantDataset(32, seed: 12)
        var cfg = config("resnet8", epochs: 3)
        cfg.augmentation = .none
        cfg.fbs = FBSConfig(density: 0.5, epochRatio: 0.3, lambda: 1e-8)
        let straight = try TrainingRun.create(config: cfg, directory: runDirectory(), train: train, test: test)
        var last: EpochMetrics?
        try straight.run { if case let .epochEnd(m) = $0 { last = m } }
        let fbs = try #require(straight.fbs)
        #expect(fbs.density == 0.5)
        // Masks: exactly ceil(d * C) nonzero-or-kept channels per input, valued by the saliency.
        let x = try quadrantDataset(4, seed: 13)
        let loader = BatchLoader(dataset: x, batchSize: 4, shuffle: false, normalization: straight.normalization)
        loader.start(epoch: 0)
        let b = loader.next()!
        _ = try b.images.withUnsafeBufferPointer { try fbs.forward(images: UnsafeBufferPointer(rebasing: $0[0..<(4 * 64)]), n: 4, mode: .eval) }
        for gl in straight.network.gated {
            let C = gl.bn.channels, m = gl.bn.channelMask!
            for i in 0..<4 { #expect(m[(i * C)..<((i + 1) * C)].filter { $0 > 0 }.count <= fbs.kept(channels: C)) }
            #expect(m.allSatisfy { $0 >= 0 })
        }
        let macs = try #require(last?.macsPerImage)
        #expect(Double(macs) < Double(straight.network.macsPerImage) * 0.6)
        #expect(try #require(last?.testAccuracy) > 0.6)

        let resumed = try interruptedAndResumed(cfg, train: train, test: test, stopAfter: 1)
        expectIdentical(Checkpoint.stateDict(straight.network), Checkpoint.stateDict(resumed.network))
        expectIdentical(straight.method.extraTensors, resumed.method.extraTensors)
        let reloaded = try #require(try DynamicCheckpoint.loadFBS(straight.modelPath))
        let r = try Evaluator.evaluate(reloaded.network, dataset: test, normalization: straight.normalization)
        #expect(r.accuracy == last?.testAccuracy)
    }
}

@Suite("Static slimming pipeline", .serialized)
struct StaticPipelineTests {
    @Test("sparsity training, pruning, fine-tuning from the thin checkpoint, reloading its widths")
    func pipeline() throws {
        let train = try quadrantDataset(96, seed: 14), test = try quadrantDataset(32, seed: 15)
        var cfg = config("resnet8", epochs: 2)
        cfg.sparsity = 1e-4
        cfg.augmentation = .none
        let dense = try TrainingRun.create(config: cfg, directory: runDirectory(), train: train, test: test)
        let before = dense.network.gated.flatMap { $0.bn.weight.value.map(abs) }.reduce(0, +)
        try dense.run()
        #expect(dense.network.gated.flatMap { $0.bn.weight.value.map(abs) }.reduce(0, +) < before)  // L1 shrinks gammas
        let plan = try StaticSlimming.plan(dense.network, ratio: 0.5)
        let thin = try StaticSlimming.thin(dense.network, plan: plan)
        let path = runDirectory() + "-thin.safetensors"
        try Checkpoint.save(thin, to: path)
        let loaded = try Checkpoint.load(path)
        #expect(loaded.network.config.widths == thin.config.widths)
        var ft = config("resnet8", epochs: 1)
        ft.augmentation = .none
        let finetune = try TrainingRun.create(config: ft, directory: runDirectory(), network: loaded.network, train: train, test: test)
        var last: EpochMetrics?
        try finetune.run { if case let .epochEnd(m) = $0 { last = m } }
        #expect(last?.macsPerImage == thin.macsPerImage)
        #expect(last?.denseMacsPerImage == dense.network.macsPerImage)
        let reread = try Checkpoint.load(finetune.modelPath)
        #expect(reread.network.gated.map { $0.bn.channels } == thin.gated.map { $0.bn.channels })
    }
}
