// Evaluation of a dynamic model on a test set (eval mode, hard masks): accuracy, per-sample
// pruning rates and MACs (predictor included in the speed-up), per-class rates, per-layer kept
// channels, and the diagnostics of docs/design.md (Gate rule). With `staticThresholds`, every input uses
// the same per-layer thresholds (the static control).
import DynaSlimCore
import DynaSlimData
import DynaSlimNN
import DynaSlimSlimming

public struct LayerDiagnostics: Codable, Sendable {
    public var name: String
    public var channels: Int
    public var minKept: Int, maxKept: Int
    public var meanKept: Double
    /// Mean over inputs of sum_c s_c (soft "kept" count) vs the hard count.
    public var meanSoftKept: Double
    public var thresholdMean: Double, thresholdStd: Double
    /// Mean distance from t to the nearest |gamma|, in units of tau.
    public var distanceToNearestGammaInTau: Double
    /// Fraction of (input, channel) soft masks below 0.01 or above 0.99.
    public var saturatedFraction: Double
    public var meanAbsGamma: Double
    /// Every input keeps exactly one channel: block skipping, not slimming.
    public var collapsedToOneChannel: Bool
    enum CodingKeys: String, CodingKey {
        case name, channels, minKept = "min_kept", maxKept = "max_kept", meanKept = "mean_kept", meanSoftKept = "mean_soft_kept"
        case thresholdMean = "threshold_mean", thresholdStd = "threshold_std", distanceToNearestGammaInTau = "distance_to_gamma_tau"
        case saturatedFraction = "saturated_fraction", meanAbsGamma = "mean_abs_gamma", collapsedToOneChannel = "one_channel_for_all"
    }
}

public struct DynamicEvalResult: Codable, Sendable {
    public var accuracy: Double
    public var loss: Double
    public var count: Int
    public var rateMean: Double, rateMin: Double, rateMax: Double, rateStd: Double
    public var macsPerImage: Double          // backbone + predictor
    public var denseMacsPerImage: Int
    public var predictorMacs: Int
    public var predictorParams: Int
    public var predictorOverhead: Double     // predictor MACs / dense MACs
    public var predictorParamOverhead: Double
    public var flopSpeedup: Double
    public var perClassRate: [Double]
    public var perClassAccuracy: [Double]
    public var layers: [LayerDiagnostics]
    enum CodingKeys: String, CodingKey {
        case accuracy, loss, count, rateMean = "rate_mean", rateMin = "rate_min", rateMax = "rate_max", rateStd = "rate_std"
        case macsPerImage = "macs_per_image", denseMacsPerImage = "dense_macs_per_image", predictorMacs = "predictor_macs"
        case predictorParams = "predictor_params", predictorOverhead = "predictor_overhead", predictorParamOverhead = "predictor_param_overhead"
        case flopSpeedup = "flop_speedup", perClassRate = "per_class_rate", perClassAccuracy = "per_class_accuracy", layers
    }
}

public enum DynamicEvaluator {
    public static func evaluate(_ model: DynamicModel, dataset: ImageDataset, normalization: Normalization,
                                staticThresholds: [Float]? = nil, batchSize: Int = 256) throws -> DynamicEvalResult {
        let net = model.network, C = net.config.classes, L = model.gated.count
        model.fixedThresholds = staticThresholds
        defer { model.fixedThresholds = nil; model.clearMasks() }
        try DataCompatibility.check(model: net.config, dataset: dataset, normalization: normalization)
        let loader = BatchLoader(dataset: dataset, batchSize: max(1, batchSize), shuffle: false, normalization: normalization)
        loader.start(epoch: 0)
        var correct = 0, total = 0, lossSum = 0.0
        var classCorrect = [Int](repeating: 0, count: C), classTotal = classCorrect
        var classRate = [Double](repeating: 0, count: C)
        var rates: [Double] = [], macsSum = 0.0
        var keptMin = [Int](repeating: Int.max, count: L), keptMax = [Int](repeating: 0, count: L), keptSum = [Double](repeating: 0, count: L)
        var softSum = [Double](repeating: 0, count: L), tSum = [Double](repeating: 0, count: L), tSq = tSum, distSum = tSum
        var saturated = [Double](repeating: 0, count: L)
        let absGammas = model.gated.map { $0.bn.weight.value.map(abs) }
        let ranges = absGammas.map { GateRule.range($0) }
        while let batch = loader.next() {
            let n = batch.count
            let logits = try batch.images.withUnsafeBufferPointer {
                try model.forward(images: UnsafeBufferPointer(rebasing: $0[0..<(n * dataset.shape.count)]), n: n, mode: .eval)
            }
            let loss = try batch.labels.withUnsafeBufferPointer {
                try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, labels: UnsafeBufferPointer(rebasing: $0[0..<n]))
            }
            lossSum += Double(loss) * Double(n)
            let r = model.hardRates()
            for j in 0..<n {
                let y = Int(batch.labels[j])
                let p = Evaluator.argmax(logits.pointer, row: j, classes: C)
                classTotal[y] += 1
                if p == y { correct += 1; classCorrect[y] += 1 }
                classRate[y] += r[j]
                rates.append(r[j])
                macsSum += model.macs(sample: j)
                for l in 0..<L {
                    let k = Int(model.kept[j * L + l]), t = model.thresholds[j * L + l]
                    keptMin[l] = min(keptMin[l], k); keptMax[l] = max(keptMax[l], k); keptSum[l] += Double(k)
                    tSum[l] += Double(t); tSq[l] += Double(t) * Double(t)
                    let tau = GateRule.tau(lo: ranges[l].lo, hi: ranges[l].hi, scale: model.config.tauScale)
                    var nearest = Float.infinity, soft = 0.0, sat = 0
                    for a in absGammas[l] {
                        nearest = min(nearest, abs(a - t))
                        let s = GateRule.sigmoid((a - t) / tau)
                        soft += Double(s)
                        if s < 0.01 || s > 0.99 { sat += 1 }
                    }
                    distSum[l] += Double(nearest / tau)
                    softSum[l] += soft
                    saturated[l] += Double(sat) / Double(absGammas[l].count)
                }
            }
            total += n
        }
        let N = Double(max(total, 1))
        let meanRate = rates.reduce(0, +) / N
        let rateStd = (rates.map { ($0 - meanRate) * ($0 - meanRate) }.reduce(0, +) / N).squareRoot()
        let backbone = macsSum / N, pm = model.predictorMACs
        guard (lossSum / N).isFinite, backbone.isFinite, meanRate.isFinite else {
            throw NonFiniteResultError(description: "the evaluation produced a non-finite loss, MAC count or rate (loss \(lossSum / N)): the weights or the predictor are broken")
        }
        let layers = (0..<L).map { l -> LayerDiagnostics in
            let mean = tSum[l] / N
            return LayerDiagnostics(name: model.gated[l].name, channels: absGammas[l].count, minKept: keptMin[l], maxKept: keptMax[l],
                                    meanKept: keptSum[l] / N, meanSoftKept: softSum[l] / N, thresholdMean: mean,
                                    thresholdStd: max(0, tSq[l] / N - mean * mean).squareRoot(), distanceToNearestGammaInTau: distSum[l] / N,
                                    saturatedFraction: saturated[l] / N, meanAbsGamma: Double(absGammas[l].reduce(0, +)) / Double(absGammas[l].count),
                                    collapsedToOneChannel: keptMax[l] == 1)
        }
        return DynamicEvalResult(
            accuracy: Double(correct) / N, loss: lossSum / N, count: total,
            rateMean: meanRate, rateMin: rates.min() ?? 0, rateMax: rates.max() ?? 0, rateStd: rateStd,
            macsPerImage: backbone + Double(pm), denseMacsPerImage: net.macsPerImage, predictorMacs: pm,
            predictorParams: model.predictor.parameterCount,
            predictorOverhead: Double(pm) / Double(net.macsPerImage),
            predictorParamOverhead: Double(model.predictor.parameterCount) / Double(net.parameterCount),
            flopSpeedup: Double(net.macsPerImage) / (backbone + Double(pm)),
            perClassRate: (0..<C).map { classTotal[$0] == 0 ? 0 : classRate[$0] / Double(classTotal[$0]) },
            perClassAccuracy: (0..<C).map { classTotal[$0] == 0 ? 0 : Double(classCorrect[$0]) / Double(classTotal[$0]) },
            layers: layers)
    }

    /// Each gated layer's mean threshold over the dataset (for the static control).
    public static func meanThresholds(_ model: DynamicModel, dataset: ImageDataset, normalization: Normalization) throws -> [Float] {
        let L = model.gated.count
        var sum = [Double](repeating: 0, count: L), count = 0
        let loader = BatchLoader(dataset: dataset, batchSize: 256, shuffle: false, normalization: normalization)
        loader.start(epoch: 0)
        defer { model.clearMasks() }
        while let batch = loader.next() {
            let n = batch.count
            try batch.images.withUnsafeBufferPointer { try model.gate(images: UnsafeBufferPointer(rebasing: $0[0..<(n * dataset.shape.count)]), n: n, mode: .eval) }
            for j in 0..<n { for l in 0..<L { sum[l] += Double(model.thresholds[j * L + l]) } }
            count += n
        }
        return sum.map { Float($0 / Double(max(count, 1))) }
    }
}
