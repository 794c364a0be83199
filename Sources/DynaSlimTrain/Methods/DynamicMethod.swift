// Dynamic slimming as a training method: the threshold predictor (saved under "predictor.", its learning
// rate `predictorLRMultiplier` times the backbone's), the gate rule's backward after the network's, the
// expected rate ramped from 0 to the model's `target` (one copy of the configuration: the model's), and,
// for the oracle rule, per-training-image labels computed once and kept in the run directory.
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import Foundation

public final class DynamicMethod: TrainingMethod {
    public let model: DynamicModel
    public var network: Network { model.network }
    /// The oracle rule's labels, one per training image (OracleLabels).
    public internal(set) var oracleRates: [Float]?
    var rateSums = (soft: 0.0, hard: 0.0, expected: 0.0, loss: 0.0, images: 0.0)

    public init(network: Network, config: DynamicConfig) throws { model = try DynamicModel(network: network, config: config) }
    public var parameters: [(String, Parameter)] { model.namedParameters }
    public var learningRateMultipliers: [String: Float] {
        Dictionary(uniqueKeysWithValues: model.predictor.namedParameters.map { ($0.0, model.config.predictorLRMultiplier) })
    }

    public var extraTensors: [NamedTensor] {
        model.predictor.namedParameters.map { NamedTensor(name: $0.0, shape: $0.1.shape, values: $0.1.value) }
            + model.predictor.namedBuffers.map { NamedTensor(name: $0.0, shape: $0.1.shape, dtype: $0.0.hasSuffix("num_batches_tracked") ? .i64 : .f32, values: $0.1.value) }
    }
    public func metadata() throws -> [String: String] {
        [DynamicCheckpoint.configKey: String(decoding: try JSONEncoder.sorted.encode(model.config), as: UTF8.self)]
    }
    /// Loads the predictor from `tensors`; none at all (a dense or slimmable starting point) keeps a fresh one.
    public func loadExtraTensors(_ tensors: [NamedTensor], file: String) throws {
        let byName = Dictionary(tensors.filter { $0.name.hasPrefix(ThresholdPredictor.prefix) }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if byName.isEmpty { return }
        for (name, p) in model.predictor.namedParameters {
            guard let t = byName[name], t.values.count == p.count else { throw CheckpointError.missingTensors(file: file, names: [name]) }
            p.value = t.values
        }
        for (name, b) in model.predictor.namedBuffers { if let t = byName[name], t.values.count == b.value.count { b.value = t.values } }
    }

    public func prepare(directory: String, train: ImageDataset, normalization: Normalization, augmentation: Augmentation, resuming: Bool) throws {
        guard model.config.rateTarget == .oracle else { return }
        if resuming {
            oracleRates = try OracleLabels.load(directory: directory, images: train.count)
        } else {
            let rates = try OracleLabels.compute(network, train: train, normalization: normalization, augmentation: augmentation)
            try OracleLabels.save(rates, directory: directory)
            oracleRates = rates
        }
    }

    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        try model.forward(images: images, n: n, mode: mode)
    }

    public func beginEpoch() { rateSums = (0, 0, 0, 0, 0) }

    public func afterBackward(_ s: StepContext) throws {
        let d = model.config
        let te = GateRule.scheduledTarget(d.target, progress: s.progress, epochRatio: d.epochRatio, epochs: s.epochs)
        let st = try model.backward(probabilities: s.probabilities, classes: s.classes, scheduledTarget: te,
                                    oracleRates: oracleRates.map { u in s.indices.map { u[$0] } })
        let n = Double(s.n)
        rateSums.soft += st.softRate * n; rateSums.hard += st.hardRate * n
        rateSums.expected += st.expectedRate * n; rateSums.loss += st.rateLoss * n; rateSums.images += n
    }

    public func evaluate(_ test: ImageDataset, normalization: Normalization, into m: inout EpochMetrics) throws {
        let e = try DynamicEvaluator.evaluate(model, dataset: test, normalization: normalization)
        m.testAccuracy = e.accuracy; m.testLoss = e.loss
        m.macsPerImage = network.macsPerImage
        let s = max(rateSums.images, 1)
        m.trainSoftRate = rateSums.soft / s; m.trainHardRate = rateSums.hard / s
        m.trainExpectedRate = rateSums.expected / s; m.trainRateLoss = rateSums.loss / s
        m.dynamicEval = e
    }
}
