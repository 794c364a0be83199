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
        let config: FBSConfig
        do { config = try JSONDecoder().decode(FBSConfig.self, from: Data(json.utf8)) } catch {
            throw CheckpointError.badMetadata(file: path, key: fbsKey, reason: "\(error)")
        }
        guard config.density > 0 && config.density <= 1 else { throw CheckpointError.badMetadata(file: path, key: fbsKey, reason: "density \(config.density) is outside (0, 1]") }
        let loaded = try Checkpoint.load(path, fallback: fallback, ignoringPrefixes: [FBSModel.prefix])
        let model = FBSModel(network: loaded.network, config: config)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.predictorParameters { p.value = try predictorValues(byName, name, shape: p.shape, file: path) }
        return model
    }

    /// The dynamic model in `path`, or nil when the checkpoint is not a dynamic one.
    public static func load(_ path: String, fallback: ModelConfig? = nil) throws -> (model: DynamicModel, metadata: [String: String])? {
        let (tensors, meta) = try SafeTensors.read(path)
        guard let json = meta[configKey] else { return nil }
        let config: DynamicConfig
        do { config = try JSONDecoder().decode(DynamicConfig.self, from: Data(json.utf8)) } catch {
            throw CheckpointError.badMetadata(file: path, key: configKey, reason: "\(error)")
        }
        guard (1...1024).contains(config.predictorWidth), config.tauScale > 0, config.tauScale.isFinite else {
            throw CheckpointError.badMetadata(file: path, key: configKey, reason: "predictorWidth \(config.predictorWidth) or tauScale \(config.tauScale) out of range")
        }
        let loaded = try Checkpoint.load(path, fallback: fallback, ignoringPrefixes: [ThresholdPredictor.prefix])
        let model = try DynamicModel(network: loaded.network, config: config)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.predictor.namedParameters { p.value = try predictorValues(byName, name, shape: p.shape, file: path) }
        for (name, b) in model.predictor.namedBuffers {
            b.value = try predictorValues(byName, name, shape: b.shape, file: path)
            if name.hasSuffix("running_var"), let v = b.value.first(where: { $0 < 0 }) {
                throw CheckpointError.outOfRange(file: path, name: name, reason: "a variance is negative (\(v))")
            }
        }
        return (model, meta)
    }

    /// A predictor tensor's values: present, of the expected shape (a scalar may be stored as [1]), finite.
    static func predictorValues(_ byName: [String: NamedTensor], _ name: String, shape: [Int], file: String) throws -> [Float] {
        guard let t = byName[name] else { throw CheckpointError.missingTensors(file: file, names: [name]) }
        guard t.shape == shape || (shape.isEmpty && t.values.count == 1) else {
            throw CheckpointError.shapeMismatch(file: file, name: name, found: t.shape, expected: shape)
        }
        guard t.values.allSatisfy(\.isFinite) else { throw CheckpointError.nonFinite(file: file, name: name) }
        return t.values
    }
}
