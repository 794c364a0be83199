import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimBench
import DynaSlimEngine
import DynaSlimIO
import DynaSlimNN
import DynaSlimReport
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

    func validate() throws {
        try OptionCheck.halfOpen("--ratio", ratio, 0, 1)
        try OptionCheck.closed("--min-channels", minChannels, 1, 65_536)
    }

    func run() throws {
        let loaded = try Checkpoint.load(checkpoint, fallback: model.map { ModelConfig(architecture: $0) }, ignoringPrefixes: [ThresholdPredictor.prefix, FBSModel.prefix])
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
        abstract: "Engine latency and throughput on real test images: the model and its dense reference in one run.",
        discussion: """
            Runs the inference engine (BN folded, ReLU fused, inactive channels skipped) on real test images.
            For a dynamic checkpoint the dense reference is its own backbone at full width; for a thinned or
            dense checkpoint, pass the unpruned model as --reference (default: the checkpoint itself). Prints
            median latency, throughput, the measured speed-up, the FLOP speed-up (predictor included) and their
            ratio; the last line is `measured/flop speed-up: X.XX`.
            """)
    @Argument(help: "Checkpoint to measure (dense, thinned or dynamic).") var checkpoint: String
    @Option(help: "Dense reference checkpoint (thinned models: the unpruned one).") var reference: String?
    @Option(help: "Batch size.") var batch = 1
    @Option(help: "Worker threads.") var threads = Parallel.defaultThreadCount
    @Option(help: "Images per GEMM in batched runs (each group padded to its largest kept counts; 1 = image by image).")
    var groupSize = 1
    @Flag(inversion: .prefixedNo, help: "Dynamic batches: order images by MACs before grouping.") var sortGroups = true
    @Option(help: "Timed batches per model (median reported).") var repeats = 50
    @Option(help: "Dataset (default: the checkpoint's).") var dataset: DatasetName?
    @Option(help: "Dataset folder.") var data: String?

    func validate() throws {
        try OptionCheck.closed("--batch", batch, 1, 65_536)
        try OptionCheck.closed("--threads", threads, 1, 256)
        try OptionCheck.closed("--group-size", groupSize, 1, 65_536)
        try OptionCheck.closed("--repeats", repeats, 1, 1_000_000)
    }
    @Flag(help: "Also write the JSON result as bench-infer-b<batch>.json beside the checkpoint (read by `dynaslim report`).")
    var record = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Batch 1: also time each step (conv, shortcut, pooling, predictor) of both engines and print a table.")
    var profile = false

    func run() throws { try namingCheckpoint(checkpoint) { try measure() } }

    func measure() throws {
        let ctx = try CheckpointContext.load(checkpoint, model: nil, dataset: dataset)
        let model: InferenceEngine, dense: InferenceEngine
        var predictorMacs = 0
        if let fbs = try DynamicCheckpoint.loadFBS(checkpoint) {
            model = try InferenceEngine(network: fbs.network, fbs: fbs, threads: threads)
            dense = try InferenceEngine(network: fbs.network, threads: threads, groupSize: groupSize)
            predictorMacs = fbs.predictorMACs
        } else if let (dyn, _) = try DynamicCheckpoint.load(checkpoint) {
            model = try InferenceEngine(network: dyn.network, dynamic: dyn, threads: threads, groupSize: groupSize)
            model.sortGroupsByWidth = sortGroups
            dense = try InferenceEngine(network: dyn.network, threads: threads, groupSize: groupSize)
            predictorMacs = dyn.predictorMACs
        } else {
            model = try InferenceEngine(network: ctx.network, threads: threads, groupSize: groupSize)
            let ref = try reference.map { try CheckpointContext.load($0, model: nil, dataset: dataset).network } ?? ctx.network
            dense = try InferenceEngine(network: ref, threads: threads, groupSize: groupSize)
        }
        if profile {
            guard batch == 1 else { throw ValidationError("--profile times the batch-1 path: use --batch 1") }
            model.profile = EngineProfile(); dense.profile = EngineProfile()
        }
        let test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        let r = try InferenceBenchmark.run(model: model, dense: dense, predictorMacs: predictorMacs, dataset: test,
                                           normalization: try ctx.normalization(dataPath: data), batch: batch, repeats: repeats)
        if record {
            let path = ((checkpoint as NSString).deletingLastPathComponent as NSString).appendingPathComponent("bench-infer-b\(batch).json")
            try SafeTensors.atomicWrite(try JSONEncoder.sorted.encode(r), to: path)
        }
        if json {
            var obj = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(r)) as! [String: Any]
            // Aliases used by the static-slimming report.
            obj["ms_per_batch"] = r.modelMs; obj["reference_ms_per_batch"] = r.denseMs
            try printJSON(obj)
            return
        }
        if let mp = model.profile, let dp = dense.profile { printProfile(model: mp, dense: dp) }
        print("batch \(batch), \(r.threads) threads, median of \(repeats)")
        print("model: \(f(r.modelMs, 3)) ms/batch, \(f(r.imagesPerSecond, 1)) images/s, \(formatCount(Int(r.modelMacsPerImage))) MACs/image")
        print("dense: \(f(r.denseMs, 3)) ms/batch, \(f(r.denseImagesPerSecond, 1)) images/s, \(formatCount(Int(r.denseMacsPerImage))) MACs/image")
        print("measured speed-up \(f(r.measuredSpeedup))x, FLOP speed-up \(f(r.flopSpeedup))x")
        print("measured/flop speed-up: \(f(r.measuredSpeedup / r.flopSpeedup))")
    }
}

/// Per step: median microseconds per image and GFLOP/s of the model and of the dense reference,
/// the step's measured vs FLOP speed-up (where a thin model loses against its MAC count), and, for
/// convs that may split over two cores, the learned gain of splitting (ThreadChoice: serial time /
/// split time, model / dense; below 1x the conv runs on one core).
func printProfile(model: EngineProfile, dense: EngineProfile) {
    let d = Dictionary(dense.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    print("\(pad("step", 22)) \(pad("model us", 9)) \(pad("GFLOP/s", 8)) \(pad("dense us", 9)) \(pad("GFLOP/s", 8)) \(pad("measured", 9)) \(pad("FLOP", 7)) 2-core gain")
    func gflops(_ e: EngineProfile.Entry) -> Double { e.macs > 0 ? 2 * e.macsPerCall / (e.medianMicroseconds * 1e3) : 0 }
    var mt = 0.0, dt = 0.0
    for e in model.entries {
        let us = e.medianMicroseconds
        mt += us
        guard let r = d[e.name] ?? d[e.name.replacingOccurrences(of: " + predictor", with: "")] else { print("\(pad(e.name, 22)) \(pad(f(us, 1), 9)) \(pad(f(gflops(e), 1), 8))"); continue }
        let dus = r.medianMicroseconds
        dt += dus
        let flop = e.macs > 0 ? r.macsPerCall / e.macsPerCall : 1
        let gain = [e.splitGain, r.splitGain].map { $0.map { f($0) + "x" } ?? "-" }.joined(separator: " / ")
        print("\(pad(e.name, 22)) \(pad(f(us, 1), 9)) \(pad(f(gflops(e), 1), 8)) \(pad(f(dus, 1), 9)) \(pad(f(gflops(r), 1), 8)) \(pad(f(dus / us) + "x", 9)) \(pad(f(flop) + "x", 7)) \(gain)")
    }
    print("\(pad("sum of step medians", 22)) \(pad(f(mt, 1), 9)) \(pad("", 8)) \(pad(f(dt, 1), 9))")
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Comparison table (report.md) and SVG plots built only from run directories.",
        discussion: """
            Reads each run's config.json, the last line of metrics.jsonl and any bench-infer-b<batch>.json
            (from `dynaslim bench infer --record`). Writes report.md with one row per run (method, model,
            dataset, accuracy, drop vs the dense run of the same model, MACs, FLOP and measured speed-ups,
            predictor overhead) and SVG plots: accuracy vs FLOP speed-up, accuracy vs measured speed-up,
            per-class pruning rate and mean active channels per layer (dynamic runs).
            """)
    @Argument(help: "Run directories.") var runs: [String]
    @Option(help: "Output directory.") var out: String

    func run() throws {
        // Class names for the per-class plot, from the first run's dataset when it is a known one.
        var names: [String]?
        if let cfg = FileManager.default.contents(atPath: runs[0] + "/config.json"),
           let obj = try? JSONSerialization.jsonObject(with: cfg) as? [String: Any], obj["dataset"] as? String == "fashion-mnist" {
            names = DatasetCatalog.fashionMNISTClasses
        }
        let files = try Report.write(runs: runs, to: out, classNames: names)
        for f in files { print("wrote \(f)") }
        print(try String(contentsOfFile: files[0], encoding: .utf8))
    }
}
