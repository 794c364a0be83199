// Model checkpoints: safetensors with PyTorch state_dict names, the model config (and any
// training config) in __metadata__, so weights move between DynaSlim and PyTorch both ways.
import DynaSlimCore
import DynaSlimNN
import Foundation

public enum CheckpointError: Error, CustomStringConvertible {
    case missingTensors(file: String, names: [String])
    case unexpectedTensors(file: String, names: [String])
    case shapeMismatch(file: String, name: String, found: [Int], expected: [Int])
    case noModelConfig(file: String)
    case nonFinite(file: String, name: String)
    case outOfRange(file: String, name: String, reason: String)
    case badMetadata(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .missingTensors(f, n): return "\(f): missing tensors \(n.prefix(8).joined(separator: ", "))\(n.count > 8 ? " (+\(n.count - 8) more)" : "")"
        case let .unexpectedTensors(f, n): return "\(f): unexpected tensors \(n.prefix(8).joined(separator: ", "))\(n.count > 8 ? " (+\(n.count - 8) more)" : "") (wrong --model?)"
        case let .shapeMismatch(f, n, a, b): return "\(f): tensor \(n) has shape \(a), the model expects \(b)"
        case let .noModelConfig(f): return "\(f): no dynaslim.model metadata; pass --model NAME (e.g. a file saved by PyTorch)"
        case let .nonFinite(f, n): return "\(f): tensor \(n) contains NaN or infinity"
        case let .outOfRange(f, n, r): return "\(f): tensor \(n): \(r)"
        case let .badMetadata(f, k, r): return "\(f): metadata \(k): \(r)"
        }
    }
}

public struct LoadedCheckpoint {
    public var network: Network
    public var metadata: [String: String]
}

public enum Checkpoint {
    public static let modelKey = "dynaslim.model"

    /// The network's state_dict in PyTorch order: parameters and buffers per module, as named.
    public static func stateDict(_ net: Network) -> [NamedTensor] {
        var out: [NamedTensor] = []
        for (name, p) in net.namedParameters { out.append(NamedTensor(name: name, shape: p.shape, values: p.value)) }
        for (name, b) in net.namedBuffers {
            out.append(NamedTensor(name: name, shape: b.shape, dtype: name.hasSuffix("num_batches_tracked") ? .i64 : .f32, values: b.value))
        }
        return out.sorted { $0.name < $1.name }
    }

    public static func save(_ net: Network, to path: String, metadata: [String: String] = [:], extraTensors: [NamedTensor] = []) throws {
        try AtomicFile.write(try encode(net, metadata: metadata, extraTensors: extraTensors, file: path), to: path)
    }

    /// The checkpoint's bytes (state_dict, extra tensors, metadata with the model config).
    public static func encode(_ net: Network, metadata: [String: String] = [:], extraTensors: [NamedTensor] = [], file: String) throws -> Data {
        var meta = metadata
        meta["format"] = "pt"
        meta[modelKey] = String(decoding: try JSONEncoder.sorted.encode(net.config), as: UTF8.self)
        return try SafeTensors.encode(stateDict(net) + extraTensors, metadata: meta, file: file)
    }

    /// Copies tensors into the network; every name must match and every shape agree.
    /// Tensors whose names start with one of `ignoringPrefixes` are skipped (e.g. a predictor).
    public static func apply(_ tensors: [NamedTensor], to net: Network, file: String, ignoringPrefixes: [String] = []) throws {
        var byName: [String: NamedTensor] = [:]
        for t in tensors where !ignoringPrefixes.contains(where: { t.name.hasPrefix($0) }) { byName[t.name] = t }
        var missing: [String] = []
        func take(_ name: String, _ shape: [Int]) throws -> [Float]? {
            guard let t = byName.removeValue(forKey: name) else { missing.append(name); return nil }
            guard t.shape == shape || (t.shape.reduce(1, *) == shape.reduce(1, *) && shape.isEmpty) else {
                throw CheckpointError.shapeMismatch(file: file, name: name, found: t.shape, expected: shape)
            }
            guard t.values.allSatisfy(\.isFinite) else { throw CheckpointError.nonFinite(file: file, name: name) }
            if name.hasSuffix("running_var"), let v = t.values.first(where: { $0 < 0 }) {
                throw CheckpointError.outOfRange(file: file, name: name, reason: "a variance is negative (\(v))")
            }
            return t.values
        }
        var updates: [() -> Void] = []
        for (name, p) in net.namedParameters { if let v = try take(name, p.shape) { updates.append { p.value = v } } }
        for (name, b) in net.namedBuffers {
            if let v = try take(name, b.shape) { updates.append { b.value = v } }
            else if name.hasSuffix("num_batches_tracked") { missing.removeLast() }  // optional, as in PyTorch < 0.4.1 files
        }
        if !missing.isEmpty { throw CheckpointError.missingTensors(file: file, names: missing) }
        if !byName.isEmpty { throw CheckpointError.unexpectedTensors(file: file, names: byName.keys.sorted()) }
        updates.forEach { $0() }  // all-or-nothing
    }

    /// Loads a checkpoint. The model comes from its metadata, or from `fallback` (e.g. `--model`
    /// for a PyTorch file), whose classes and input channels are inferred from the tensors.
    public static func load(_ path: String, fallback: ModelConfig? = nil, ignoringPrefixes: [String] = []) throws -> LoadedCheckpoint {
        let (tensors, metadata) = try SafeTensors.read(path)
        var config: ModelConfig
        if let json = metadata[modelKey] {
            do {
                config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
                try config.validate()
            } catch { throw CheckpointError.badMetadata(file: path, key: modelKey, reason: "\(error)") }
        } else if var f = fallback {
            // The first conv's [out, in, kh, kw] and the classifier's [classes, features] give the sizes;
            // other ranks are refused here, before they could index past a shape.
            if let first = tensors.first(where: { $0.name == "conv1.weight" || $0.name == "feature.0.weight" || $0.name == "features.0.weight" }) {
                guard first.shape.count == 4 else { throw CheckpointError.shapeMismatch(file: path, name: first.name, found: first.shape, expected: [-1, -1, -1, -1]) }
                f.inputChannels = first.shape[1]
            }
            if let cls = tensors.first(where: { ["linear.weight", "classifier.weight"].contains($0.name) }) {
                guard cls.shape.count == 2 else { throw CheckpointError.shapeMismatch(file: path, name: cls.name, found: cls.shape, expected: [-1, -1]) }
                f.classes = cls.shape[0]
            }
            if tensors.contains(where: { $0.name.contains("shortcut.0.weight") }) { f.shortcut = .b }
            config = f
        } else { throw CheckpointError.noModelConfig(file: path) }
        let net: Network
        do { net = try ModelZoo.build(config) } catch {
            throw CheckpointError.badMetadata(file: path, key: metadata[modelKey] == nil ? "--model" : modelKey, reason: "\(error)")
        }
        try apply(tensors, to: net, file: path, ignoringPrefixes: ignoringPrefixes)
        return LoadedCheckpoint(network: net, metadata: metadata)
    }
}

extension JSONEncoder {
    public static var sorted: JSONEncoder { let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]; return e }
}
