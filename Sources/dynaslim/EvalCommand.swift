import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimTrain
import Foundation

/// Loads a checkpoint and the test split it was trained on (or the one given).
struct CheckpointContext {
    let network: Network
    let metadata: [String: String]
    let dataset: DatasetName

    static func load(_ path: String, model: String?, dataset: DatasetName?) throws -> CheckpointContext {
        let fallback = model.map { ModelConfig(architecture: $0) }
        let loaded = try Checkpoint.load(path, fallback: fallback)
        let name = dataset ?? loaded.metadata["dynaslim.dataset"].flatMap(DatasetName.init(rawValue:))
            ?? (loaded.network.config.inputChannels == 1 ? .fashionMNIST : .cifar10)
        return CheckpointContext(network: loaded.network, metadata: loaded.metadata, dataset: name)
    }

    /// The normalization saved with the checkpoint, else fitted to the training split.
    func normalization(dataPath: String?) throws -> Normalization {
        if let json = metadata["dynaslim.normalization"], let n = try? JSONDecoder().decode(Normalization.self, from: Data(json.utf8)) { return n }
        return Normalization.fitted(to: try DatasetCatalog.load(dataset, path: dataPath, train: true))
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on a test set: accuracy, per-class accuracy, loss, parameters, MACs per image.")

    @Argument(help: "A .safetensors checkpoint (DynaSlim's, or a PyTorch state_dict with --model).") var checkpoint: String
    @Option(help: "Dataset (default: the one the checkpoint was trained on).") var dataset: DatasetName?
    @Option(help: "Dataset folder.") var data: String?
    @Option(help: "Architecture, for checkpoints without DynaSlim metadata (e.g. saved by PyTorch).") var model: String?
    @Option(help: "Evaluate only the first N test images.") var limit: Int?
    @Option(help: "Batch size.") var batchSize = 256
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        BLAS.setThreadCount(1)
        let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: dataset)
        var test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        if let limit { test = test.prefix(limit) }
        let r = try Evaluator.evaluate(ctx.network, dataset: test, normalization: try ctx.normalization(dataPath: data), batchSize: batchSize)
        let net = ctx.network
        if json {
            try printJSON(["accuracy": r.accuracy, "loss": r.loss, "params": net.parameterCount, "macs_per_image": net.macsPerImage,
                           "images": r.count, "model": net.config.architecture, "dataset": ctx.dataset.rawValue,
                           "per_class_accuracy": Dictionary(uniqueKeysWithValues: zip(test.classNames, r.perClassAccuracy))])
            return
        }
        print("\(net.config.architecture) on \(ctx.dataset.rawValue) test (\(r.count) images)")
        print(String(format: "accuracy %.2f%%  loss %.4f  params %@  MACs/image %@", r.accuracy * 100, r.loss,
                     formatCount(net.parameterCount), formatCount(net.macsPerImage)))
        for (name, a) in zip(test.classNames, r.perClassAccuracy) { print(String(format: "  %-14@ %.2f%%", name, a * 100)) }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Per-layer table of a checkpoint: name, output shape, parameters, MACs.")
    @Argument(help: "A .safetensors checkpoint.") var checkpoint: String
    @Option(help: "Architecture, for checkpoints without DynaSlim metadata.") var model: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: nil)
        let net = ctx.network, rows = net.summary()
        if json {
            try printJSON(["model": net.config.architecture, "params": net.parameterCount, "macs_per_image": net.macsPerImage,
                           "layers": rows.map { ["name": $0.name, "kind": $0.kind, "output": $0.output, "params": $0.params, "macs": $0.macs] }])
            return
        }
        print("\(net.config.architecture), input \(net.config.inputShape), \(net.config.classes) classes")
        print(pad("layer", 24) + pad("kind", 20) + pad("output", 12) + pad("params", 10) + "MACs")
        for r in rows where r.params > 0 || r.macs > 0 {
            print(pad(r.name, 24) + pad(r.kind, 20) + pad(r.output, 12) + pad("\(r.params)", 10) + "\(r.macs)")
        }
        print("total: \(net.parameterCount) parameters, \(net.macsPerImage) MACs per image")
        if !net.gated.isEmpty {
            print("gated layers (prunable channel sets): " + net.gated.map { "\($0.name)[\($0.bn.channels)]" }.joined(separator: " "))
        }
    }
}
