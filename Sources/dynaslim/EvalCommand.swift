import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import DynaSlimTrain
import Foundation

/// Loads a checkpoint and the test split it was trained on (or the one given).
struct CheckpointContext {
    let network: Network
    let metadata: [String: String]
    let dataset: DatasetName

    static func load(_ path: String, model: String?, dataset: DatasetName?) throws -> CheckpointContext {
        let fallback = model.map { ModelConfig(architecture: $0) }
        // A dynamic checkpoint's backbone (its predictor is loaded by DynamicCheckpoint where needed).
        let loaded = try Checkpoint.load(path, fallback: fallback, ignoringPrefixes: [ThresholdPredictor.prefix, FBSModel.prefix])
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
    @Flag(help: "Dynamic checkpoints: also evaluate the static control (each layer's threshold fixed at its test-set mean).")
    var staticControl = false
    @Flag(help: """
        Headroom oracle: run the test set at a ladder of widths (--levels; each keeps that fraction of every gated \
        layer's channels by |gamma|) and compare one level for all images with the best per-image choice at the same \
        mean MACs (per image, the cheapest level that is right). Works on dense, slimmable and dynamic checkpoints.
        """) var oracle = false
    @Option(help: "Oracle: width fractions in (0, 1], comma separated.") var levels = "1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.25"
    @Option(help: "Oracle: training images per level for BN recalibration (0 keeps the trained statistics).") var recalibrate = 2560
    @Option(help: "Oracle: the accuracy whose FLOP speed-up is reported (the thesis's operating point).") var accuracyTarget = 0.905
    @Flag(help: "Oracle: write oracle.json beside the checkpoint (read by `dynaslim report`).") var record = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "With --json, dense and thinned checkpoints: each test image's predicted class, in dataset order.") var predictions = false

    func validate() throws {
        if let limit { try OptionCheck.atLeast("--limit", limit, 1) }
        try OptionCheck.closed("--batch-size", batchSize, 1, 65_536)
        try OptionCheck.closed("--recalibrate", recalibrate, 0, 10_000_000)
        try OptionCheck.openClosed("--accuracy-target", accuracyTarget, 0, 1)
    }

    func run() throws { try namingCheckpoint(checkpoint) { try evaluate() } }

    func evaluate() throws {
        BLAS.setThreadCount(1)
        if oracle { try evaluateOracle(); return }
        if let (dyn, _) = try DynamicCheckpoint.load(checkpoint, fallback: model.map { ModelConfig(architecture: $0) }) {
            try evaluateDynamic(dyn)
            return
        }
        if let fbs = try DynamicCheckpoint.loadFBS(checkpoint, fallback: model.map { ModelConfig(architecture: $0) }) {
            let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: dataset)
            var test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
            if let limit { test = test.prefix(limit) }
            let r = try Evaluator.evaluate(fbs.network, dataset: test, normalization: try ctx.normalization(dataPath: data), batchSize: batchSize)
            let dense = fbs.network.macsPerImage, macs = fbs.macsPerImage
            if json {
                try printJSON(["accuracy": r.accuracy, "loss": r.loss, "macs_per_image": macs, "dense_macs_per_image": dense,
                               "flop_speedup": Double(dense) / macs, "density": Double(fbs.config.density),
                               "predictor_overhead": Double(fbs.predictorMACs) / Double(dense), "params": fbs.network.parameterCount])
                return
            }
            print("FBS \(fbs.network.config.architecture) (density \(fbs.config.density)) on \(ctx.dataset.rawValue) test (\(r.count) images)")
            print(String(format: "accuracy %.2f%%  loss %.4f  MACs/image %@ (dense %@, saliency predictors %@) FLOP speed-up %.2fx", r.accuracy * 100, r.loss,
                         formatCount(Int(macs)), formatCount(dense), formatCount(fbs.predictorMACs), Double(dense) / macs))
            return
        }
        let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: dataset)
        var test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        if let limit { test = test.prefix(limit) }
        let r = try Evaluator.evaluate(ctx.network, dataset: test, normalization: try ctx.normalization(dataPath: data), batchSize: batchSize)
        let net = ctx.network
        if json {
            try printJSON(["accuracy": r.accuracy, "loss": r.loss, "params": net.parameterCount, "macs_per_image": net.macsPerImage,
                           "images": r.count, "model": net.config.architecture, "dataset": ctx.dataset.rawValue,
                           "predictions": predictions ? r.predictions : [],
                           "per_class_accuracy": Dictionary(uniqueKeysWithValues: zip(test.classNames, r.perClassAccuracy))])
            return
        }
        print("\(net.config.architecture) on \(ctx.dataset.rawValue) test (\(r.count) images)")
        print(String(format: "accuracy %.2f%%  loss %.4f  params %@  MACs/image %@", r.accuracy * 100, r.loss,
                     formatCount(net.parameterCount), formatCount(net.macsPerImage)))
        for (name, a) in zip(test.classNames, r.perClassAccuracy) { print(String(format: "  %-14@ %.2f%%", name, a * 100)) }
    }
}

extension Eval {
    func evaluateDynamic(_ dyn: DynamicModel) throws {
        let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: dataset)
        var test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        if let limit { test = test.prefix(limit) }
        let norm = try ctx.normalization(dataPath: data)
        let r = try DynamicEvaluator.evaluate(dyn, dataset: test, normalization: norm, batchSize: batchSize)
        var control: DynamicEvalResult?
        if staticControl {
            let t = try DynamicEvaluator.meanThresholds(dyn, dataset: test, normalization: norm)
            control = try DynamicEvaluator.evaluate(dyn, dataset: test, normalization: norm, staticThresholds: t, batchSize: batchSize)
        }
        if json {
            var obj = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(r)) as! [String: Any]
            obj["params"] = dyn.network.parameterCount
            obj["model"] = dyn.network.config.architecture
            obj["dataset"] = ctx.dataset.rawValue
            if let control { obj["static_control"] = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(control)) }
            try printJSON(obj)
            return
        }
        let net = dyn.network
        print("dynamic \(net.config.architecture) on \(ctx.dataset.rawValue) test (\(r.count) images)")
        print(String(format: "accuracy %.2f%%  loss %.4f", r.accuracy * 100, r.loss))
        print(String(format: "pruning rate mean %.3f min %.3f max %.3f std %.3f", r.rateMean, r.rateMin, r.rateMax, r.rateStd))
        print(String(format: "MACs/image %@ (dense %@, predictor %@ = %.2f%%, predictor params %d = %.2f%%) FLOP speed-up %.2fx",
                     formatCount(Int(r.macsPerImage)), formatCount(r.denseMacsPerImage), formatCount(r.predictorMacs), r.predictorOverhead * 100,
                     r.predictorParams, r.predictorParamOverhead * 100, r.flopSpeedup))
        print("per layer: kept mean [min, max] / channels, threshold std, distance to nearest gamma (tau)")
        for l in r.layers {
            print(String(format: "  %@ %.2f [%d, %d] / %d  t-std %.4f  dist %.2f%@", pad(l.name, 16), l.meanKept, l.minKept, l.maxKept, l.channels,
                         l.thresholdStd, l.distanceToNearestGammaInTau, l.collapsedToOneChannel ? "  (1 channel for every input: block skipping)" : ""))
        }
        print("per class: rate / accuracy")
        for (i, name) in test.classNames.enumerated() {
            print(String(format: "  %@ %.3f / %.2f%%", pad(name, 14), r.perClassRate[i], r.perClassAccuracy[i] * 100))
        }
        if let control {
            print(String(format: "static control (thresholds fixed at their mean): accuracy %.2f%%, rate %.3f, FLOP speed-up %.2fx",
                         control.accuracy * 100, control.rateMean, control.flopSpeedup))
        }
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
