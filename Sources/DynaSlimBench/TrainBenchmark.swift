// `dynaslim bench train`: training throughput (forward + backward + SGD step) on synthetic data for
// each training method's step, as ratios to the dense step measured in the same run.
//
// Methods (rows):
//   dense            the full network, cross-entropy
//   static-thin      the network physically thinned to `thinFraction` of each gated layer (static NS's
//                    fine-tuning step)
//   sandwich-thin    a slimmable step: full width + narrowest + random widths (2 by default), the narrower ones run
//                    as thin networks (SandwichStep .thin, the trainer's default)
//   sandwich-masked  the same step with the narrower widths as masks over the full width (its reference)
//   dynamic          a dynamic-slimming step: predictor + per-input masks + the gate rule's backward
// Steps of every method are timed in interleaved rounds (one step of each per round, after warm-up),
// so drift in the machine's speed falls on all rows alike; each row reports the median.
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming
import Dispatch

public enum TrainStepMethod: String, CaseIterable, Codable, Sendable {
    case dense, staticThin = "static-thin", sandwichThin = "sandwich-thin", sandwichMasked = "sandwich-masked", dynamic
}

public struct TrainBenchmarkRow: Codable, Sendable {
    public var method: String
    public var medianStepMs: Double
    public var imagesPerSecond: Double
    /// The forward MACs per image of the step's network (the full network for sandwich and dynamic).
    public var macsPerImage: Int
    /// This step's median time over the dense step's.
    public var stepsPerDenseStep: Double
    /// The forward MACs the step computes (all its passes) over the dense step's: what the time
    /// ratio would be if every MAC cost the same. Sandwich rows average 200 draws of the widths.
    public var macsVsDense: Double
    enum CodingKeys: String, CodingKey {
        case method, medianStepMs = "median_step_ms", imagesPerSecond = "images_per_second", macsPerImage = "macs_per_image"
        case stepsPerDenseStep = "step_time_vs_dense", macsVsDense = "macs_vs_dense"
    }
}

public struct TrainBenchmarkResult: Codable, Sendable {
    public var model: String
    public var input: String
    public var batchSize: Int
    public var threads: Int
    public var rows: [TrainBenchmarkRow]
    enum CodingKeys: String, CodingKey { case model, input, batchSize = "batch_size", threads, rows }
    public func row(_ m: TrainStepMethod) -> TrainBenchmarkRow? { rows.first { $0.method == m.rawValue } }
}

public enum TrainBenchmark {
    public static func run(model: ModelConfig, batchSize: Int, methods: [TrainStepMethod] = TrainStepMethod.allCases, steps: Int = 10,
                           warmup: Int = 2, thinFraction: Float = 0.5, slimmable: SlimmableConfig = SlimmableConfig()) throws -> TrainBenchmarkResult {
        BLAS.setThreadCount(1)
        var rng = SplitMix64(seed: 3)
        let s = model.inputShape, C = model.classes, n = batchSize
        let images = (0..<(n * s.count)).map { _ in rng.nextNormal() }
        let labels = (0..<n).map { _ in Int32(rng.nextInt(below: C)) }
        let grad = ScratchBuffer(capacity: n * C), probs = ScratchBuffer(capacity: n * C)
        let order = [TrainStepMethod.dense] + methods.filter { $0 != .dense }
        var steps_: [TrainStepMethod: () throws -> Void] = [:], macs: [TrainStepMethod: Int] = [:], stepMacs: [TrainStepMethod: Double] = [:]
        let fullMacs = Double(try ModelZoo.build(model).macsPerImage)

        /// Forward, cross-entropy (softmax kept in `probs`), backward.
        func denseStep(_ forward: () throws -> Activation, _ backward: () throws -> Void) throws {
            let logits = try forward()
            _ = try labels.withUnsafeBufferPointer {
                try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, labels: $0,
                                                        logitsGrad: UnsafeMutableBufferPointer(start: grad.pointer, count: n * C),
                                                        probabilities: UnsafeMutableBufferPointer(start: probs.pointer, count: n * C))
            }
            try backward()
        }
        let logitsGrad = { Activation(n: n, c: C, h: 1, w: 1, pointer: grad.pointer) }
        for m in order {
            switch m {
            case .dense, .staticThin:
                var cfg = model
                if m == .staticThin {
                    let full = try ModelZoo.build(model)
                    cfg.widths = Dictionary(uniqueKeysWithValues: full.gated.map { ($0.name, SlimmableWidths.kept(fraction: thinFraction, channels: $0.bn.channels)) })
                }
                let net = try ModelZoo.build(cfg)
                let sgd = SGD(parameters: net.namedParameters, config: SGDConfig())
                macs[m] = net.macsPerImage
                stepMacs[m] = Double(net.macsPerImage) / fullMacs
                steps_[m] = {
                    try denseStep({ try images.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .train) } },
                                  { try net.backward(logitsGrad: logitsGrad()) })
                    sgd.step(learningRate: 0.01)
                }
            case .sandwichThin, .sandwichMasked:
                let net = try ModelZoo.build(model)
                let sgd = SGD(parameters: net.namedParameters, config: SGDConfig())
                let sandwich = try SandwichStep(config: slimmable, network: net, execution: m == .sandwichThin ? .thin : .masked)
                var widthRNG = SplitMix64(seed: 17)
                macs[m] = net.macsPerImage
                stepMacs[m] = m == .sandwichMasked ? Double(2 + slimmable.randomWidths) : 1 + (try sandwichMacs(net, slimmable, draws: 200)) / fullMacs
                steps_[m] = {
                    try denseStep({ try images.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .train) } },
                                  { try net.backward(logitsGrad: logitsGrad()) })
                    try images.withUnsafeBufferPointer {
                        try sandwich.run(images: $0, n: n, teacher: UnsafeBufferPointer(start: probs.pointer, count: n * C), rng: &widthRNG)
                    }
                    sgd.step(learningRate: 0.01)
                }
            case .dynamic:
                let net = try ModelZoo.build(model)
                let dyn = try DynamicModel(network: net, config: DynamicConfig())
                let sgd = SGD(parameters: dyn.namedParameters, config: SGDConfig())
                macs[m] = net.macsPerImage
                stepMacs[m] = 1 + Double(dyn.predictor.macsPerImage) / fullMacs
                steps_[m] = {
                    try denseStep({ try images.withUnsafeBufferPointer { try dyn.forward(images: $0, n: n, mode: .train) } },
                                  { try net.backward(logitsGrad: logitsGrad()) })
                    _ = try dyn.backward(probabilities: probs.pointer, classes: C, scheduledTarget: 0.5)
                    sgd.step(learningRate: 0.01)
                }
            }
        }
        var times: [TrainStepMethod: [Double]] = [:]
        for round in 0..<(warmup + steps) {
            for m in order {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try steps_[m]!()
                if round >= warmup { times[m, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) }
            }
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        let dense = median(times[.dense]!)
        let rows = order.map { m in
            let t = median(times[m]!)
            return TrainBenchmarkRow(method: m.rawValue, medianStepMs: t * 1e3, imagesPerSecond: Double(n) / t, macsPerImage: macs[m]!,
                                     stepsPerDenseStep: t / dense, macsVsDense: stepMacs[m]!)
        }
        return TrainBenchmarkResult(model: model.architecture, input: "\(s)", batchSize: n, threads: Parallel.defaultThreadCount, rows: rows)
    }

    /// Mean forward MACs per image of a sandwich step's narrower passes (narrowest + random widths).
    static func sandwichMacs(_ net: Network, _ slimmable: SlimmableConfig, draws: Int) throws -> Double {
        let runner = try ThinWidthRunner(full: net)
        runner.beginStep()
        var rng = SplitMix64(seed: 99), total = 0.0
        for _ in 0..<draws {
            for w in SlimmableWidths.sandwich(slimmable, layers: net.gated.count, rng: &rng) {
                try runner.prepare(fractions: w)
                total += Double(runner.network.macsPerImage)
            }
        }
        return total / Double(draws)
    }
}
