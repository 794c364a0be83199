// Runs a backbone at the oracle's ladder of levels (level f: every gated layer keeps its top f of
// channels by |gamma|, the same prefix the slimmable sandwich trains) over a test set, recording per
// image whether each level is right. BN statistics are either kept as trained, or recalibrated per
// level on training images (cumulative averages over `recalibrationImages`, as slimmable networks do
// after training): one set of statistics shared by all widths misleads every narrow width.
// Recalibration sees the images as training did (the same augmentation): statistics taken on clean
// CIFAR-10 images cost the dense ResNet-20 2.7 points at full width (91.35% -> 88.60% on 2,000 test
// images), since its weights were fitted to statistics of padded, cropped batches.
import DynaSlimCore
import DynaSlimData
import DynaSlimNN
import DynaSlimSlimming

public struct OracleOptions: Sendable {
    public var levels: [Float]
    /// Training images per level for BN recalibration; 0 keeps the trained statistics.
    public var recalibrationImages: Int
    /// The augmentation the backbone was trained with (recalibration batches use it, seeded).
    public var augmentation: Augmentation
    public var batchSize: Int
    public init(levels: [Float] = [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25], recalibrationImages: Int = 2560,
                augmentation: Augmentation = .none, batchSize: Int = 256) {
        self.levels = levels; self.recalibrationImages = recalibrationImages; self.augmentation = augmentation; self.batchSize = batchSize
    }
}

public enum OracleEvaluator {
    /// The ladder of `net` on `test`. `train` supplies the recalibration images (unaugmented, in order).
    /// The network's masks and BN statistics are restored on return.
    public static func ladder(_ net: Network, test: ImageDataset, train: ImageDataset?, normalization: Normalization,
                              options: OracleOptions) throws -> OracleLadder {
        guard !options.levels.isEmpty, options.levels.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw ModelError("oracle levels must lie in (0, 1]; got \(options.levels)")
        }
        try DataCompatibility.check(model: net.config, dataset: test, normalization: normalization)
        if let train { try DataCompatibility.check(model: net.config, dataset: train, normalization: normalization) }
        let accounting = MACAccounting(net)
        let bns = net.batchNorms
        let saved = bns.map { ($0.runningMean.value, $0.runningVar.value, $0.numBatchesTracked.value, $0.momentum) }
        defer {
            for gl in net.gated { gl.bn.channelMask = nil }
            for (bn, s) in zip(bns, saved) { bn.runningMean.value = s.0; bn.runningVar.value = s.1; bn.numBatchesTracked.value = s.2; bn.momentum = s.3 }
        }
        var correct: [[Bool]] = [], macs: [Double] = []
        for f in options.levels {
            let fractions = [Float](repeating: f, count: net.gated.count)
            macs.append(accounting.macs(kept: net.gated.map { SlimmableWidths.kept(fraction: f, channels: $0.bn.channels) }))
            for (bn, s) in zip(bns, saved) { bn.runningMean.value = s.0; bn.runningVar.value = s.1 }
            if options.recalibrationImages > 0, let train {
                try recalibrate(net, bns: bns, fractions: fractions, data: train.prefix(min(options.recalibrationImages, train.count)),
                                normalization: normalization, augmentation: options.augmentation, batchSize: options.batchSize)
            }
            var right = [Bool](repeating: false, count: test.count)
            let loader = BatchLoader(dataset: test, batchSize: options.batchSize, shuffle: false, normalization: normalization)
            loader.start(epoch: 0)
            let C = net.config.classes
            while let batch = loader.next() {
                let n = batch.count
                SlimmableWidths.install(net, fractions: fractions, batch: n)
                let logits = try batch.images.withUnsafeBufferPointer {
                    try net.forward(images: UnsafeBufferPointer(rebasing: $0[0..<(n * test.shape.count)]), n: n, mode: .eval)
                }
                for j in 0..<n { right[batch.indices[j]] = Evaluator.argmax(logits.pointer, row: j, classes: C) == Int(batch.labels[j]) }
            }
            correct.append(right)
        }
        return OracleLadder(levels: options.levels, macs: macs, correct: correct)
    }

    /// Replaces the BN running statistics by their cumulative averages over `data` under the level's masks
    /// (momentum 1/k at the k-th batch).
    static func recalibrate(_ net: Network, bns: [BatchNormLayer], fractions: [Float], data: ImageDataset,
                            normalization: Normalization, augmentation: Augmentation, batchSize: Int) throws {
        let loader = BatchLoader(dataset: data, batchSize: batchSize, shuffle: false, augmentation: augmentation,
                                 normalization: normalization, seed: 0)
        loader.start(epoch: 0)
        var k = 0
        while let batch = loader.next() {
            k += 1
            for bn in bns { bn.momentum = 1 / Float(k) }
            let n = batch.count
            SlimmableWidths.install(net, fractions: fractions, batch: n)
            _ = try batch.images.withUnsafeBufferPointer {
                try net.forward(images: UnsafeBufferPointer(rebasing: $0[0..<(n * data.shape.count)]), n: n, mode: .train)
            }
        }
    }
}
