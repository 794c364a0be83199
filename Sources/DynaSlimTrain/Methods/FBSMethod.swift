// Feature Boosting and Suppression as a training method: saliency predictors beside the backbone (saved
// under "fbs."), the density ramped from 1 to the target over the first epochRatio of the run.
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import Foundation

public final class FBSMethod: TrainingMethod {
    public let model: FBSModel
    public var network: Network { model.network }
    public init(network: Network, config: FBSConfig) { model = FBSModel(network: network, config: config) }
    public var parameters: [(String, Parameter)] { model.namedParameters }

    public var extraTensors: [NamedTensor] { model.predictorParameters.map { NamedTensor(name: $0.0, shape: $0.1.shape, values: $0.1.value) } }
    public func metadata() throws -> [String: String] {
        [DynamicCheckpoint.fbsKey: String(decoding: try JSONEncoder.sorted.encode(model.config), as: UTF8.self)]
    }
    /// Predictors present in `tensors` are loaded; absent ones (a dense starting point) keep their initialization.
    public func loadExtraTensors(_ tensors: [NamedTensor], file: String) throws {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.predictorParameters { if let t = byName[name], t.values.count == p.count { p.value = t.values } }
    }

    public func beginStep(progress: Double, epochs: Int) { model.density = model.scheduledDensity(progress: progress, epochs: epochs) }
    public func afterBackward(_ step: StepContext) throws { model.backward() }

    public func evaluate(_ test: ImageDataset, normalization: Normalization, into m: inout EpochMetrics) throws {
        let e = try Evaluator.evaluate(network, dataset: test, normalization: normalization)
        m.testAccuracy = e.accuracy; m.testLoss = e.loss
        m.macsPerImage = Int(model.macsPerImage)
    }
}
