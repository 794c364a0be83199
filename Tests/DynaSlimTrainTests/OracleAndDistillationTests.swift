import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
@testable import DynaSlimTrain

/// The oracle's level evaluation and distillation inside a training run, on the quadrant problem.
@Suite("Oracle ladder and distilled training", .serialized)
struct OracleAndDistillationTests {
    /// A resnet8 trained one epoch on the quadrant problem (a model whose narrow levels differ).
    func trainedRun() throws -> (TrainingRun, ImageDataset, ImageDataset) {
        let train = try quadrantDataset(256, seed: 1), test = try quadrantDataset(96, seed: 2)
        let run = try TrainingRun.create(config: config("resnet8", epochs: 1), directory: runDirectory(), train: train, test: test)
        try run.run()
        return (run, train, test)
    }

    @Test("level 1 with trained statistics is the plain evaluation; the network is restored afterwards")
    func ladderMatchesEvaluator() throws {
        let (run, train, test) = try trainedRun()
        let net = run.network
        let before = net.namedBuffers.map { $0.1.value }
        let plain = try Evaluator.evaluate(net, dataset: test, normalization: run.normalization)
        let ladder = try OracleEvaluator.ladder(net, test: test, train: train, normalization: run.normalization,
                                                options: OracleOptions(levels: [1, 0.5, 0.25], recalibrationImages: 0, batchSize: 32))
        #expect(ladder.staticAccuracy(level: 0) == plain.accuracy)
        #expect(zip(ladder.correct[0], plain.predictions.indices).allSatisfy { $0 == (plain.predictions[$1] == Int(test.labels[$1])) })
        #expect(ladder.macs[0] == Double(net.macsPerImage))
        #expect(ladder.macs[1] < ladder.macs[0] && ladder.macs[2] < ladder.macs[1])
        // Recalibration changes the narrow levels' statistics only for the ladder's duration.
        _ = try OracleEvaluator.ladder(net, test: test, train: train, normalization: run.normalization,
                                       options: OracleOptions(levels: [0.5], recalibrationImages: 64, batchSize: 32))
        #expect(net.namedBuffers.map { $0.1.value } == before)
        #expect(net.gated.allSatisfy { $0.bn.channelMask == nil })
    }

    @Test("a level's recalibrated statistics are the cumulative mean of its batches")
    func recalibration() throws {
        let (run, train, _) = try trainedRun()
        let net = run.network
        let bns = net.batchNorms
        let data = train.prefix(64)
        try OracleEvaluator.recalibrate(net, bns: bns, fractions: [Float](repeating: 1, count: net.gated.count), data: data,
                                        normalization: run.normalization, augmentation: .none, batchSize: 16)
        let fourBatches = bns[0].runningMean.value
        try OracleEvaluator.recalibrate(net, bns: bns, fractions: [Float](repeating: 1, count: net.gated.count), data: data,
                                        normalization: run.normalization, augmentation: .none, batchSize: 64)
        let oneBatch = bns[0].runningMean.value
        // The stem BN sees the same images either way: the mean of four batch means equals the one-batch mean.
        for (a, b) in zip(fourBatches, oneBatch) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
    }

    @Test("a distilled run trains, records its teacher, and resumes bit for bit")
    func distilledRun() throws {
        let (teacherRun, train, test) = try trainedRun()
        var cfg = config("resnet8", epochs: 2)
        cfg.distillation = DistillationConfig(teacher: teacherRun.modelPath, alpha: 0.7, temperature: 3)
        let dir = runDirectory()
        let full = try TrainingRun.create(config: cfg, directory: dir, train: train, test: test)
        try full.run()
        let saved = try JSONDecoder().decode(TrainConfig.self, from: Data(contentsOf: URL(fileURLWithPath: full.configPath)))
        #expect(saved.distillation == cfg.distillation)
        let resumed = try interruptedAndResumed(cfg, train: train, test: test, stopAfter: 1)
        expectIdentical(Checkpoint.stateDict(full.network), Checkpoint.stateDict(resumed.network))
        // Without the teacher the same run ends elsewhere: distillation reached the gradient.
        var plain = cfg
        plain.distillation = nil
        let undistilled = try TrainingRun.create(config: plain, directory: runDirectory(), train: train, test: test)
        try undistilled.run()
        #expect(Checkpoint.stateDict(undistilled.network).map(\.values) != Checkpoint.stateDict(full.network).map(\.values))
    }

    @Test("the oracle rule: labels computed at the start from the backbone, saved, reused on resume")
    func oracleRule() throws {
        let (backbone, train, test) = try trainedRun()
        var cfg = config("resnet8", epochs: 2)
        var d = DynamicConfig()
        d.rateTarget = .oracle; d.target = 0.4; d.epochRatio = 0.5
        cfg.dynamic = d
        cfg.initializedFrom = backbone.modelPath
        let start = { try Checkpoint.load(backbone.modelPath).network }
        let dir = runDirectory()
        let run = try TrainingRun.create(config: cfg, directory: dir, network: try start(), train: train, test: test)
        let labels = try #require((run.method as? DynamicMethod)?.oracleRates)
        #expect(labels.count == train.count)
        #expect(labels.allSatisfy { OracleLabels.levels.map { 1 - $0 }.contains($0) || $0 == 0 })
        // The labels are the ladder's: recomputed independently from the same backbone they agree.
        #expect(try OracleLabels.compute(try start(), train: train, normalization: run.normalization, augmentation: cfg.augmentation) == labels)
        run.stopAfterEpochs = 1
        try run.run()
        let resumed = try TrainingRun.resume(directory: dir, train: train, test: test)
        #expect((resumed.method as? DynamicMethod)?.oracleRates == labels)
        try resumed.run()
        let straight = try TrainingRun.create(config: cfg, directory: runDirectory(), network: try start(), train: train, test: test)
        try straight.run()
        expectIdentical(Checkpoint.stateDict(straight.network), Checkpoint.stateDict(resumed.network))
        // Labels for another training set are refused, naming the file.
        #expect { _ = try OracleLabels.load(directory: dir, images: train.count + 1) } throws: { "\($0)".contains(OracleLabels.fileName) }
    }

    @Test("a teacher with other classes is refused, naming its file")
    func teacherMismatch() throws {
        let (teacherRun, _, _) = try trainedRun()
        var student = teacherRun.network.config
        student.classes = 7
        #expect(throws: TrainError.self) {
            _ = try Distiller(config: DistillationConfig(teacher: teacherRun.modelPath), student: student)
        }
    }
}
