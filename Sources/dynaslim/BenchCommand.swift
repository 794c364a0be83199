import DynaSlimSlimming
import ArgumentParser
import DynaSlimCore
import DynaSlimBench
import DynaSlimEngine
import DynaSlimIO
import DynaSlimNN
import DynaSlimTrain
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproducible performance measurements that print ratios measured in one run.",
        subcommands: [BenchKernels.self, BenchTrain.self, BenchInfer.self, BenchFork.self])
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Conv forward/backward GFLOP/s on ResNet-20's conv layers vs raw SGEMM on the same GEMM shapes.",
        discussion: """
            For each distinct conv layer of a CIFAR ResNet-20 (batch 128 by default) this times the conv
            forward pass and the backward pass (input and weight gradients), and, in the same run, raw SGEMM
            on the GEMM shapes the conv reduces to (the better of one multi-threaded call and the batch split
            across threads). Efficiency = conv GFLOP/s / SGEMM GFLOP/s. The last line is
            `conv efficiency vs sgemm: X.XX`, the geometric mean of the forward efficiencies.
            """)

    @Option(help: "Batch size.") var batchSize = 128
    @Option(help: "Timed repetitions per measurement (the median is reported).") var repeats = 15
    @Option(help: "Worker threads (default: all cores).") var threads = Parallel.defaultThreadCount

    func validate() throws {
        try OptionCheck.closed("--batch-size", batchSize, 1, 65_536)
        try OptionCheck.closed("--repeats", repeats, 1, 1_000_000)
        try OptionCheck.closed("--threads", threads, 1, 256)
    }
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func run() throws {
        let r = try KernelBenchmark.run(batch: batchSize, repeats: repeats, threads: threads)
        if json {
            var obj: [String: Any] = ["threads": r.threads, "batch": r.batch, "conv_efficiency": r.convEfficiency,
                                      "backward_efficiency": r.backwardEfficiency]
            obj["layers"] = r.rows.map { row in
                ["layer": row.layer, "gemm_shape": row.gemmShape, "forward_ms": row.forwardMs, "forward_gflops": row.forwardGflops,
                 "backward_ms": row.backwardMs, "backward_gflops": row.backwardGflops,
                 "sgemm_forward_gflops": row.sgemmForwardGflops, "sgemm_backward_gflops": row.sgemmBackwardGflops,
                 "forward_efficiency": row.forwardEfficiency, "backward_efficiency": row.backwardEfficiency,
                 "im2col_forward_ms": row.im2colForwardMs, "im2col_backward_ms": row.im2colBackwardMs] as [String: Any]
            }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("conv layers of CIFAR ResNet-20, batch \(r.batch), \(r.threads) threads (median of \(repeats))")
        print(pad("layer", 15) + pad("GEMM MxNxK", 18) + pad("fwd ms", 9) + pad("fwd GF/s", 10) + pad("sgemm", 8) + pad("eff", 6)
              + pad("bwd ms", 9) + pad("bwd GF/s", 10) + pad("sgemm", 8) + pad("eff", 6) + "im2col fwd/bwd ms")
        for row in r.rows {
            print(pad(row.layer, 15) + pad(row.gemmShape, 18) + pad(f(row.forwardMs), 9) + pad(f(row.forwardGflops, 1), 10)
                  + pad(f(row.sgemmForwardGflops, 1), 8) + pad(f(row.forwardEfficiency), 6) + pad(f(row.backwardMs), 9)
                  + pad(f(row.backwardGflops, 1), 10) + pad(f(row.sgemmBackwardGflops, 1), 8) + pad(f(row.backwardEfficiency), 6)
                  + "\(f(row.im2colForwardMs)) / \(f(row.im2colBackwardMs))")
        }
        print("backward efficiency vs sgemm: \(f(r.backwardEfficiency))")
        print("conv efficiency vs sgemm: \(f(r.convEfficiency))")
    }
}

func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput of each method's step on synthetic data, as ratios to the dense step in the same run.",
        discussion: """
            Rows: dense; static-thin (the network thinned to --thin-fraction of each gated layer: static NS's
            fine-tuning step); sandwich-thin (a slimmable step: full width, narrowest and two random widths, the
            narrower ones run as thin networks, the trainer's default); sandwich-masked (the same step with masks
            over the full width, its reference); dynamic (predictor, per-input masks, gate-rule backward). Steps
            run in interleaved rounds after warm-up (drift falls on every row alike); medians. `macs vs dense` is
            the step's arithmetic over the dense step's: the time ratio if every MAC cost the same.
            With --torch, PyTorch's dense step for the same model, batch and threads is measured afterwards in
            the same command (python3 scripts/torch_bench_train.py; skipped with a note when torch is missing).
            """)
    @Option(help: "Model.") var model = "resnet20"
    @Option(help: "Input C x H x W.") var input = "3x32x32"
    @Option(help: "Classes.") var classes = 10
    @Option(help: "Batch size.") var batchSize = 128
    @Option(help: "Timed steps per method.") var steps = 10
    @Option(help: "Methods, comma-separated: \(TrainStepMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var methods = TrainStepMethod.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Width of the static-thin row, a fraction of each gated layer's channels.") var thinFraction: Float = 0.5
    @Option(help: "Sandwich rows: narrowest width, as a fraction of each gated layer's channels.") var minWidth: Float = 0.25
    @Option(help: "Sandwich rows: random-width passes per step.") var randomWidths = 2
    @Flag(help: "Also measure PyTorch's dense step (same model, batch, threads) in this run.") var torch = false
    @Option(help: "With --torch: alternate a DynaSlim dense measurement and a PyTorch one this many times and report each round's ratio and their median (the host's speed drifts between runs).")
    var rounds = 1
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try OptionCheck.closed("--classes", classes, 1, 1_000_000)
        try OptionCheck.closed("--batch-size", batchSize, 1, 65_536)
        try OptionCheck.closed("--steps", steps, 1, 1_000_000)
        try OptionCheck.closed("--thin-fraction", Double(thinFraction), 0.01, 1)
        try OptionCheck.closed("--min-width", Double(minWidth), 0.01, 1)
        try OptionCheck.closed("--random-widths", randomWidths, 0, 16)
        try OptionCheck.closed("--rounds", rounds, 1, 1000)
        _ = try parsedMethods()
    }

    func parsedMethods() throws -> [TrainStepMethod] {
        try methods.split(separator: ",").map { name in
            guard let m = TrainStepMethod(rawValue: String(name)) else {
                throw ValidationError("--methods: unknown method '\(name)'; known: \(TrainStepMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
    }

    func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

    func run() throws {
        let s = try parseShape(input)
        let cfg = ModelConfig(architecture: model, inputChannels: s.c, inputHeight: s.h, inputWidth: s.w, classes: classes)
        let r = try TrainBenchmark.run(model: cfg, batchSize: batchSize, methods: try parsedMethods(), steps: steps, thinFraction: thinFraction,
                                       slimmable: SlimmableConfig(minWidth: minWidth, randomWidths: randomWidths))
        let reference = torch ? TorchReference.trainStep(model: model, input: input, classes: classes, batchSize: batchSize,
                                                          threads: r.threads, steps: steps) : nil
        if json {
            var object = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(r)) as! [String: Any]
            if let reference { object["torch"] = reference.json }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("\(r.model) \(r.input) batch \(r.batchSize), \(r.threads) threads, \(steps) interleaved steps per method (medians)")
        print("method           step ms   img/s   time vs dense   macs vs dense")
        for row in r.rows {
            let name = row.method.padding(toLength: 15, withPad: " ", startingAt: 0)
            let cells = [pad(f(row.medianStepMs, 1), 7), pad(f(row.imagesPerSecond, 1), 6),
                         pad(f(row.stepsPerDenseStep, 2) + "x", 14), pad(f(row.macsVsDense, 2) + "x", 14)]
            print(name + "  " + cells.joined(separator: "  "))
        }
        if let reference {
            switch reference {
            case let .measured(ips, ms, version):
                print("pytorch \(version) dense: \(f(ms, 1)) ms, \(f(ips, 1)) img/s; dynaslim dense / pytorch dense: "
                      + "\(f((r.row(TrainStepMethod.dense)?.imagesPerSecond ?? 0) / ips, 2))x")
            case let .skipped(why): print("pytorch: skipped (\(why))")
            }
        }
        if torch && rounds > 1, case .measured = reference { try alternatedRounds(cfg, first: r, firstTorch: reference!) }
    }

    /// Rounds of (DynaSlim dense, PyTorch dense), the first being the table's: each round's ratio and the median.
    func alternatedRounds(_ cfg: ModelConfig, first: TrainBenchmarkResult, firstTorch: TorchReference) throws {
        var ratios: [Double] = []
        func record(_ ours: Double, _ theirs: TorchReference) {
            guard case let .measured(ips, _, _) = theirs else { return }
            ratios.append(ours / ips)
            print("round \(ratios.count): dynaslim \(f(ours, 1)) img/s, pytorch \(f(ips, 1)) img/s, ratio \(f(ours / ips, 2))x")
        }
        record(first.row(TrainStepMethod.dense)?.imagesPerSecond ?? 0, firstTorch)
        for _ in 1..<rounds {
            let ours = try TrainBenchmark.run(model: cfg, batchSize: batchSize, methods: [.dense], steps: steps).row(TrainStepMethod.dense)?.imagesPerSecond ?? 0
            record(ours, TorchReference.trainStep(model: model, input: input, classes: classes, batchSize: batchSize,
                                                  threads: first.threads, steps: steps))
        }
        let sorted = ratios.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        print("dynaslim dense / pytorch dense over \(ratios.count) alternated rounds: median \(f(median, 2))x "
              + "(min \(f(sorted.first ?? 0, 2))x, max \(f(sorted.last ?? 0, 2))x)")
    }
}

struct BenchFork: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork",
        abstract: "What splitting work over two cores costs: the pool's fork-join, traced.",
        discussion: """
            Times an empty fork-join of the engine's thread pool, then a fixed amount of compute-only work
            (--units units of --iterations rounds of 12 multiply-add chains each) run whole on the calling thread
            against split over two cores, and traces the split forks: when the helper started, each chunk's
            time, and the caller's wait at the join (medians); then the same split again at once, with the
            helper fresh from work rather than from idling through the serial run. A batch-1 conv split across the cores pays these
            costs once per call. The last line is `split gain: X.XX` (serial / split time; 2 is ideal).
            """)

    @Option(help: "Work units per fork (split evenly).") var units = 16
    @Option(help: "Multiply-add iterations per unit.") var iterations = 1000
    @Option(help: "Forks of each kind (median reported).") var repeats = 2000
    @Option(help: "Lanes per vector of the work: 8 (AVX2's registers) or 16 (AVX-512's).") var lanes = 8

    func validate() throws {
        try OptionCheck.closed("--units", units, 1, 1_000_000)
        try OptionCheck.closed("--iterations", iterations, 1, 1_000_000_000)
        try OptionCheck.closed("--repeats", repeats, 1, 1_000_000)
        guard lanes == 8 || lanes == 16 else { throw ValidationError("--lanes \(lanes) must be 8 or 16") }
    }

    func run() throws {
        let pool = SpinPool.shared
        guard pool.threads >= 2 else { throw ValidationError("the fork benchmark needs two threads (DYNASLIM_THREADS)") }
        guard lanes == 8 || lanes == 16 else { throw ValidationError("--lanes must be 8 or 16") }
        if lanes == 16 && !DirectConv3x3.usesAVX512 { print("no AVX-512 on this CPU (or DYNASLIM_AVX512=0): the work runs 8 lanes wide") }
        let r = ForkBenchmark.run(pool: pool, units: units, iterationsPerUnit: iterations, repeats: repeats, lanes: lanes)
        func us(_ ns: Double) -> String { f(ns / 1e3, 2) + " us" }
        print("empty fork-join:        \(us(r.emptyForkNs))")
        print("\(r.units) units serial:      \(us(r.serialNs))")
        print("split over two cores:   \(us(r.splitNs))")
        print("  helper started after  \(us(r.helperStartNs))")
        print("  caller's chunk        \(us(r.callerChunkNs))")
        print("  helper's chunk        \(us(r.helperChunkNs))")
        print("  caller waited at join \(us(r.joinWaitNs))")
        print("the same split at once:  \(us(r.backToBackSplitNs)) (helper's chunk \(us(r.backToBackHelperChunkNs)))")
        print("split gain: \(f(r.gain))")
    }
}
