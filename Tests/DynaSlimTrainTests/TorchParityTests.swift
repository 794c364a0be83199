import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
@testable import DynaSlimTrain

/// The contract between the Swift trainer/engine and the PyTorch package (python/dynaslim_torch): the same
/// checkpoint gives the same eval logits and masks, and one training step from the same weights and batch
/// gives the same loss and gradients, for dense, static NS (a thinned model), dynamic slimming (variance and
/// uniform rules) and FBS. Random weights, gammas of both signs and non-trivial BN statistics, so masks and
/// thresholds differ per input.
///
/// Tolerances, and why: logits within 1e-4 (float32 convs summed in different orders: ~1e-6 relative on
/// these sizes); gradients within 1e-3 of each tensor's largest entry (batch-norm backward reduces over
/// n * H * W values per channel and the gate rule chains sigmoids, so float32 reorderings reach ~1e-5
/// relative; 1e-3 still fails on any wrong term, whose error is of the tensor's own scale). One thing
/// float32 cannot agree on: a BN output within ~1e-7 of zero may fall on either side of the ReLU in the
/// two implementations, changing that pixel's gradient (seen once while writing these tests: one channel
/// of one conv off by 2e-3 of its scale, every other entry within 1e-6). Each case's data come from a
/// fixed seed, and these seeds are clear of such ties.
@Suite("PyTorch parity", .serialized)
struct TorchParityTests {
    static let repo = CrashSafetyTests.repo
    static var skipReason: String? { missingPythonModules("torch, safetensors, numpy", install: "torch safetensors numpy") }

    enum Kind: String, CaseIterable { case dense, staticThin, dynamicVariance, dynamicUniform, dynamicOracle, fbs, distilled, sandwich }

    func python(_ args: [String]) throws -> (Int32, String) {
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "dynaslim_torch.parity"] + args
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = Self.repo.appendingPathComponent("python").path
        p.environment = env
        p.standardOutput = out; p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self) + String(decoding: e, as: UTF8.self))
    }

    /// A network with randomized gammas (both signs), betas and running statistics.
    func randomNetwork(_ cfg: ModelConfig, rng: inout SplitMix64) throws -> Network {
        let net = try ModelZoo.build(cfg, seed: 7)
        for (name, p) in net.namedParameters where name.contains("bn") || name.hasPrefix("features.") && p.shape.count == 1 {
            for i in p.value.indices { p.value[i] = name.hasSuffix("weight") ? (rng.nextFloat() * 1.2 + 0.1) * (rng.nextFloat() < 0.3 ? -1 : 1) : rng.nextNormal() * 0.1 }
        }
        for (name, b) in net.namedBuffers {
            if name.hasSuffix("running_mean") { for i in b.value.indices { b.value[i] = rng.nextNormal() * 0.1 } }
            if name.hasSuffix("running_var") { for i in b.value.indices { b.value[i] = 0.5 + rng.nextFloat() } }
        }
        return net
    }

    struct Model { var network: Network; var dynamic: DynamicModel?; var fbs: FBSModel?; var metadata: [String: String]; var extra: [NamedTensor] }

    func make(_ kind: Kind, arch: String, rng: inout SplitMix64) throws -> Model {
        let cfg = ModelConfig(architecture: arch, inputHeight: 16, inputWidth: 16, dropout: 0)
        var net = try randomNetwork(cfg, rng: &rng)
        switch kind {
        case .dense, .distilled, .sandwich: return Model(network: net, metadata: [:], extra: [])
        case .staticThin:
            net = try StaticSlimming.thin(net, plan: try StaticSlimming.plan(net, ratio: 0.5))
            return Model(network: net, metadata: [:], extra: [])
        case .dynamicVariance, .dynamicUniform, .dynamicOracle:
            var d = DynamicConfig()
            d.rateTarget = kind == .dynamicVariance ? .variance : kind == .dynamicUniform ? .uniform : .oracle
            let dyn = try DynamicModel(network: net, config: d)
            // Thresholds that differ per input and across the gamma range.
            for (name, p) in dyn.predictor.namedParameters where name.hasPrefix("predictor.fc") {
                for i in p.value.indices { p.value[i] = rng.nextNormal() * (name.hasSuffix("bias") ? 1 : 0.5) }
            }
            let extra = dyn.predictor.namedParameters.map { NamedTensor(name: $0.0, shape: $0.1.shape, values: $0.1.value) }
                + dyn.predictor.namedBuffers.map { NamedTensor(name: $0.0, shape: $0.1.shape, dtype: $0.0.hasSuffix("num_batches_tracked") ? .i64 : .f32, values: $0.1.value) }
            let json = String(decoding: try JSONEncoder.sorted.encode(d), as: UTF8.self)
            return Model(network: net, dynamic: dyn, metadata: [DynamicCheckpoint.configKey: json], extra: extra)
        case .fbs:
            let f = FBSConfig(density: 0.5, epochRatio: 0.5, lambda: 1e-3)
            let fbs = FBSModel(network: net, config: f)
            // Saliencies around 1 that still reorder channels per input (larger ones compound over eight layers).
            for (name, p) in fbs.predictorParameters {
                for i in p.value.indices { p.value[i] = name.hasSuffix("bias") ? 1 + rng.nextNormal() * 0.3 : rng.nextNormal() * 0.05 }
            }
            let extra = fbs.predictorParameters.map { NamedTensor(name: $0.0, shape: $0.1.shape, values: $0.1.value) }
            let json = String(decoding: try JSONEncoder.sorted.encode(f), as: UTF8.self)
            return Model(network: net, fbs: fbs, metadata: [DynamicCheckpoint.fbsKey: json], extra: extra)
        }
    }

    func writeFloats(_ v: [Float], _ path: String) throws { try v.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) } }

    @Test("eval logits, masks and one training step agree with PyTorch",
          arguments: [("resnet8", Kind.dense), ("resnet8", .staticThin), ("resnet8", .dynamicVariance), ("resnet8", .dynamicUniform), ("resnet8", .dynamicOracle),
                      ("resnet8", .fbs), ("resnet8", .distilled), ("resnet8", .sandwich), ("mcifarnet", .dense), ("mcifarnet", .dynamicVariance),
                      ("mcifarnet", .fbs), ("mcifarnet", .sandwich)])
    func parity(arch: String, kind: Kind) throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        // Each case's data from a fixed seed of its own name (FNV-1a), so adding a case changes no other.
        var rng = SplitMix64(seed: "\(arch)/\(kind.rawValue)".utf8.reduce(14_695_981_039_346_656_037 as UInt64) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 })
        let m = try make(kind, arch: arch, rng: &rng)
        let dir = NSTemporaryDirectory() + "dynaslim-parity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ckpt = dir + "/model.safetensors"
        try Checkpoint.save(m.network, to: ckpt, metadata: m.metadata, extraTensors: m.extra)
        let n = 6, s = m.network.config.inputShape, C = m.network.config.classes
        let x = (0..<(n * s.count)).map { _ in rng.nextNormal() }
        let labels = (0..<n).map { _ in Int32(rng.nextInt(below: C)) }
        try writeFloats(x, dir + "/x.f32")
        try labels.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/y.i32")) }
        let te: Float = 0.4
        var extraArgs: [String] = []
        var distiller: Distiller?
        if kind == .distilled {
            // The teacher: another random network of the same architecture, saved beside the student.
            var trng = SplitMix64(seed: 99)
            let teacher = try randomNetwork(m.network.config, rng: &trng)
            try Checkpoint.save(teacher, to: dir + "/teacher.safetensors")
            distiller = try Distiller(config: DistillationConfig(teacher: dir + "/teacher.safetensors", alpha: 0.7, temperature: 3),
                                      student: m.network.config)
            extraArgs = ["--teacher", dir + "/teacher.safetensors", "--kd-alpha", "0.7", "--kd-temperature", "3"]
        }
        let oracleRates = (0..<n).map { _ in rng.nextFloat() * 0.75 }
        if kind == .dynamicOracle {
            try writeFloats(oracleRates, dir + "/oracle.f32")
            extraArgs = ["--oracle", dir + "/oracle.f32"]
        }
        let slimmable = SlimmableConfig(minWidth: 0.25, randomWidths: 2)
        var widthRNG = SplitMix64(seed: 5), drawn = widthRNG
        if kind == .sandwich {
            let widths = SlimmableWidths.sandwich(slimmable, layers: m.network.gated.count, rng: &drawn)
            try JSONSerialization.data(withJSONObject: widths.map { $0.map(Double.init) }).write(to: URL(fileURLWithPath: dir + "/widths.json"))
            extraArgs = ["--sandwich", dir + "/widths.json"]
        }
        let (status, json) = try python([ckpt, dir + "/x.f32", dir + "/y.i32", "\(n)", dir + "/grads.safetensors",
                                         "--target", "\(te)", "--density", "0.5"] + extraArgs)
        try #require(status == 0, "python: \(json)")

        // Eval: logits and, for dynamic models, kept channels per sample and layer.
        let logits: [Float] = try x.withUnsafeBufferPointer { xp in
            if let d = m.dynamic { return Array(try d.forward(images: xp, n: n, mode: .eval).buffer) }
            if let f = m.fbs { return Array(try f.forward(images: xp, n: n, mode: .eval).buffer) }
            return Array(try m.network.forward(images: xp, n: n, mode: .eval).buffer)
        }
        let out = try JSONSerialization.jsonObject(with: Data(json.split(separator: "\n").first!.utf8)) as! [String: Any]
        let torchLogits = (out["logits"] as! [[Double]]).flatMap { $0.map(Float.init) }
        #expect(torchLogits.count == logits.count)
        let worstLogit = zip(logits, torchLogits).map { abs($0 - $1) }.max() ?? 0
        #expect(worstLogit <= 1e-4, "\(arch) \(kind): logits differ by \(worstLogit)")
        if let d = m.dynamic {
            let kept = (out["kept"] as! [[Int]]).flatMap { $0 }
            #expect(kept == d.kept.map { Int($0) }, "\(arch) \(kind): kept channels differ")
            #expect(Set(kept).count > 1, "the masks should vary")
        }

        // One training step: loss and every parameter's gradient.
        var probs = [Float](repeating: 0, count: n * C), g = [Float](repeating: 0, count: n * C)
        if let f = m.fbs { f.density = 0.5 }
        let trainLogits: Activation = try x.withUnsafeBufferPointer { xp in
            if let d = m.dynamic { return try d.forward(images: xp, n: n, mode: .train) }
            return try m.network.forward(images: xp, n: n, mode: .train)
        }
        var loss = try labels.withUnsafeBufferPointer { lp in try probs.withUnsafeMutableBufferPointer { pp in try g.withUnsafeMutableBufferPointer { gp in
            try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: trainLogits.buffer, labels: lp, logitsGrad: gp, probabilities: pp)
        } } }
        if let distiller {
            loss = try x.withUnsafeBufferPointer { xp in try g.withUnsafeMutableBufferPointer { gp in
                try distiller.blend(images: xp, n: n, logits: trainLogits.buffer, crossEntropy: loss, logitsGrad: gp.baseAddress!)
            } }
        }
        try g.withUnsafeMutableBufferPointer { try m.network.backward(logitsGrad: Activation(n: n, c: C, h: 1, w: 1, pointer: $0.baseAddress!)) }
        if kind == .sandwich {
            let step = try SandwichStep(config: slimmable, network: m.network, execution: .thin)
            try x.withUnsafeBufferPointer { xp in try probs.withUnsafeBufferPointer { pp in try step.run(images: xp, n: n, teacher: pp, rng: &widthRNG) } }
        }
        var params = m.network.namedParameters
        if let d = m.dynamic {
            _ = try probs.withUnsafeBufferPointer {
                try d.backward(probabilities: $0.baseAddress!, classes: C, scheduledTarget: te, oracleRates: kind == .dynamicOracle ? oracleRates : nil)
            }
            params = d.namedParameters
        }
        if let f = m.fbs { f.backward(); params = f.namedParameters }
        let (tensors, meta) = try SafeTensors.read(dir + "/grads.safetensors")
        let torchLoss = Float(meta["loss"] ?? "") ?? .nan
        #expect(abs(torchLoss - loss) <= 1e-4 * max(1, abs(loss)), "\(arch) \(kind): loss \(loss) vs \(torchLoss)")
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.values) })
        for (name, p) in params {
            let t = try #require(byName["grad." + name], "\(name) missing on the PyTorch side")
            let scale = max(1e-6, p.grad.map(abs).max() ?? 0)
            let worst = zip(p.grad, t).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-3 * scale, "\(arch) \(kind) \(name): gradient differs by \(worst) at scale \(scale)")
        }
        #expect(byName.count == params.count)
        // The gate paths are exercised, not vacuous.
        if m.dynamic != nil { #expect(params.contains { $0.0.hasPrefix("predictor.fc") && $0.1.grad.contains { $0 != 0 } }) }
        if m.fbs != nil { #expect(params.contains { $0.0.hasPrefix("fbs.") && $0.1.grad.contains { $0 != 0 } }) }
    }
}

/// The PyTorch trainer (python -m dynaslim_torch.train) on real Fashion-MNIST images: two processes under
/// torchrun (gloo on loopback, global-batch batch norm) reach the single-process run's checkpoint, and what
/// each method trains loads on the Swift side with the accuracy the PyTorch side reported.
@Suite("PyTorch trainer", .serialized)
struct TorchTrainerTests {
    static var skipReason: String? {
        if let r = TorchParityTests.skipReason { return r }
        if !FileManager.default.fileExists(atPath: CrashSafetyTests.fashion) { return "Fashion-MNIST is not installed at \(CrashSafetyTests.fashion)" }
        return nil
    }

    func launch(_ args: [String], torchrun: Bool = false) throws -> (Int32, String) {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = torchrun ? ["python3", "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "\(29600 + Int.random(in: 0..<300))", "-m", "dynaslim_torch.train"] + args
                               : ["python3", "-m", "dynaslim_torch.train"] + args
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = TorchParityTests.repo.appendingPathComponent("python").path
        p.environment = env
        p.standardOutput = out; p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let common = ["--dataset", "fashion-mnist", "--model", "resnet8", "--epochs", "1", "--limit-train", "192", "--limit-test", "128",
                         "--batch-size", "64", "--lr", "0.05", "--threads", "1"]

    @Test("torchrun with 2 processes (gloo, CPU) gives the single-process checkpoint for the same global batch")
    func ddpMatchesSingleProcess() throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        let dir = NSTemporaryDirectory() + "dynaslim-ddp-\(UUID().uuidString)"
        let (s1, o1) = try launch(Self.common + ["--out", dir + "/one"])
        try #require(s1 == 0, "single process: \(o1)")
        let (s2, o2) = try launch(Self.common + ["--out", dir + "/two"], torchrun: true)
        try #require(s2 == 0, "torchrun: \(o2)")
        let one = try SafeTensors.read(dir + "/one/model.safetensors").tensors, two = try SafeTensors.read(dir + "/two/model.safetensors").tensors
        #expect(one.map(\.name) == two.map(\.name))
        // Three steps of SGD from the same start: float summation order is the only difference (one step
        // agrees to ~4e-7; the steps compound it).
        for (a, b) in zip(one, two) {
            let scale = max(1, a.values.map(abs).max() ?? 0)
            let worst = zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(a.name): \(worst)")
        }
        #expect(one.first { $0.name == "bn1.num_batches_tracked" }?.values == [3])
    }

    @Test("a PyTorch run stopped after an epoch and resumed reaches the uninterrupted run's checkpoint bit for bit")
    func resumeIsExact() throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        let dir = NSTemporaryDirectory() + "dynaslim-torch-resume-\(UUID().uuidString)"
        var args = Self.common + ["--method", "dynamic"]
        args[args.firstIndex(of: "--epochs")! + 1] = "2"
        let (s1, o1) = try launch(args + ["--out", dir + "/straight"])
        try #require(s1 == 0, "straight: \(o1)")
        let (s2, o2) = try launch(args + ["--out", dir + "/cut", "--stop-after", "1"])
        try #require(s2 == 0, "first epoch: \(o2)")
        #expect(try String(contentsOfFile: dir + "/cut/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 1)
        let (s3, o3) = try launch(["--out", dir + "/cut", "--resume"])
        try #require(s3 == 0, "resume: \(o3)")
        let a = try SafeTensors.read(dir + "/straight/model.safetensors").tensors, b = try SafeTensors.read(dir + "/cut/model.safetensors").tensors
        #expect(a.map(\.name) == b.map(\.name))
        for (x, y) in zip(a, b) { #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(x.name)") }
    }

    @Test("dense, dynamic and FBS runs trained in PyTorch load in Swift with the accuracy PyTorch measured", arguments: ["dense", "dynamic", "fbs"])
    func trainedInTorchLoadsInSwift(method: String) throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        let dir = NSTemporaryDirectory() + "dynaslim-torchrun-\(UUID().uuidString)"
        let (s, o) = try launch(Self.common + ["--method", method, "--out", dir])
        try #require(s == 0, "train: \(o)")
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        let torchAccuracy = last["test_accuracy"] as! Double
        let path = dir + "/model.safetensors"
        let test = try DatasetCatalog.load(.fashionMNIST, path: CrashSafetyTests.fashion, train: false).prefix(128)
        let meta = try SafeTensors.read(path).metadata
        let normalization = try JSONDecoder().decode(Normalization.self, from: Data(meta["dynaslim.normalization"]!.utf8))
        let accuracy: Double
        switch method {
        case "dynamic":
            let d = try #require(try DynamicCheckpoint.load(path)).model
            accuracy = try DynamicEvaluator.evaluate(d, dataset: test, normalization: normalization).accuracy
        case "fbs":
            let f = try #require(try DynamicCheckpoint.loadFBS(path))
            accuracy = try Evaluator.evaluate(f.network, dataset: test, normalization: normalization).accuracy
        default:
            accuracy = try Evaluator.evaluate(try Checkpoint.load(path).network, dataset: test, normalization: normalization).accuracy
        }
        #expect(abs(accuracy - torchAccuracy) < 1e-9, "\(method): Swift \(accuracy) vs PyTorch \(torchAccuracy)")
    }
}
