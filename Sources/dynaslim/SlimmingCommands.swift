import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import DynaSlimTrain
import Foundation

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Static Network Slimming: remove the channels with the smallest |gamma| and build the thinner model.",
        discussion: """
            One global threshold at the --ratio percentile of |gamma| over all gated BN layers (inside residual
            blocks for ResNets; every conv-BN but the classifier for VGG and M-CifarNet). No layer keeps fewer
            than --min-channels. The thin checkpoint describes its own widths: it loads in eval, info, bench
            infer and `train --from` (fine-tuning). Train with --sparsity first for polarized gammas.
            """)
    @Argument(help: "Checkpoint to prune.") var checkpoint: String
    @Option(help: "Fraction of gated channels to remove, in [0, 1).") var ratio: Double
    @Option(help: "Output checkpoint.") var out: String
    @Option(help: "Minimum channels per gated layer.") var minChannels = 1
    @Option(help: "Architecture, for checkpoints without DynaSlim metadata.") var model: String?

    func run() throws {
        let loaded = try Checkpoint.load(checkpoint, fallback: model.map { ModelConfig(architecture: $0) }, ignoringPrefixes: [ThresholdPredictor.prefix])
        let net = loaded.network
        let plan = try StaticSlimming.plan(net, ratio: ratio, minChannels: minChannels)
        let thin = try StaticSlimming.thin(net, plan: plan)
        var meta = loaded.metadata.filter { $0.key.hasPrefix("dynaslim.") && $0.key != Checkpoint.modelKey }
        meta["dynaslim.pruned_from"] = checkpoint
        meta["dynaslim.prune_ratio"] = "\(ratio)"
        try Checkpoint.save(thin, to: out, metadata: meta)
        print(String(format: "pruned %.1f%% of gated channels (threshold |gamma| = %.4g)", plan.prunedFraction * 100, plan.threshold))
        for g in net.gated { print("  \(pad(g.name, 18)) \(plan.kept[g.name]!.count)/\(g.bn.channels)") }
        print(String(format: "params %@ -> %@, MACs/image %@ -> %@ (FLOP speed-up %.2fx)", formatCount(net.parameterCount), formatCount(thin.parameterCount),
                     formatCount(net.macsPerImage), formatCount(thin.macsPerImage), Double(net.macsPerImage) / Double(thin.macsPerImage)))
        print("wrote \(out)")
    }
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Eval-mode latency and throughput on real test images; with --reference, the measured speed-up.")
    @Argument(help: "Checkpoint to measure.") var checkpoint: String
    @Option(help: "Reference checkpoint (e.g. the unpruned model), measured in the same run.") var reference: String?
    @Option(help: "Batch size.") var batch = 1
    @Option(help: "Timed batches (median reported).") var repeats = 50
    @Option(help: "Dataset (default: the checkpoint's).") var dataset: DatasetName?
    @Option(help: "Dataset folder.") var data: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ctx = try CheckpointContext.load(checkpoint, model: nil, dataset: dataset)
        let ref = try reference.map { try CheckpointContext.load($0, model: nil, dataset: dataset).network }
        let test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        let r = try InferenceBenchmark.run(model: ctx.network, reference: ref, dataset: test, normalization: try ctx.normalization(dataPath: data),
                                           batch: batch, repeats: repeats)
        if json { print(String(decoding: try JSONEncoder.sorted.encode(r), as: UTF8.self)); return }
        print("batch \(batch): \(f(r.msPerBatch, 3)) ms/batch, \(f(r.imagesPerSecond, 1)) images/s, \(formatCount(r.macsPerImage)) MACs/image")
        if let rm = r.referenceMsPerBatch, let s = r.measuredSpeedup, let fs = r.flopSpeedup {
            print("reference: \(f(rm, 3)) ms/batch")
            print("measured speed-up \(f(s))x, FLOP speed-up \(f(fs))x")
            print("measured/flop speed-up: \(f(s / fs))")
        }
    }
}
