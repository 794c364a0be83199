// Loading a dynamic model: the backbone's state_dict plus the predictor under "predictor.",
// and the gating configuration in the metadata key "dynaslim.dynamic".
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import Foundation

public enum DynamicCheckpoint {
    public static let configKey = "dynaslim.dynamic"
    public static let fbsKey = "dynaslim.fbs"

    /// The FBS model in `path` (backbone + saliency predictors), or nil when it is not an FBS checkpoint.
    public static func loadFBS(_ path: String, fallback: ModelConfig? = nil) throws -> FBSModel? {
        let (tensors, meta) = try SafeTensors.read(path)
        guard let json = meta[fbsKey] else { return nil }
        let config = try JSONDecoder().decode(FBSConfig.self, from: Data(json.utf8))
        let loaded = try Checkpoint.load(path, fallback: fallback, ignoringPrefixes: [FBSModel.prefix])
        let model = FBSModel(network: loaded.network, config: config)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.predictorParameters {
            guard let t = byName[name], t.values.count == p.count else { throw CheckpointError.missingTensors(file: path, names: [name]) }
            p.value = t.values
        }
        return model
    }

    /// The dynamic model in `path`, or nil when the checkpoint is not a dynamic one.
    public static func load(_ path: String, fallback: ModelConfig? = nil) throws -> (model: DynamicModel, metadata: [String: String])? {
        let (tensors, meta) = try SafeTensors.read(path)
        guard let json = meta[configKey] else { return nil }
        let config = try JSONDecoder().decode(DynamicConfig.self, from: Data(json.utf8))
        let loaded = try Checkpoint.load(path, fallback: fallback, ignoringPrefixes: [ThresholdPredictor.prefix])
        let model = try DynamicModel(network: loaded.network, config: config)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.predictor.namedParameters {
            guard let t = byName[name], t.values.count == p.count else { throw CheckpointError.missingTensors(file: path, names: [name]) }
            p.value = t.values
        }
        for (name, b) in model.predictor.namedBuffers {
            guard let t = byName[name], t.values.count == b.value.count else { throw CheckpointError.missingTensors(file: path, names: [name]) }
            b.value = t.values
        }
        return (model, meta)
    }
}
