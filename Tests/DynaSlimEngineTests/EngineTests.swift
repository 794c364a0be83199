import Testing
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming
@testable import DynaSlimEngine

/// The engine must reproduce the training graph's eval-mode logits (masked, for dynamic models).
@Suite("Inference engine", .serialized)
struct EngineTests {
    func randomize(_ net: Network, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for (name, b) in net.namedBuffers where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
            for i in b.value.indices { b.value[i] = name.hasSuffix("var") ? 0.5 + rng.nextFloat() : rng.nextNormal() * 0.1 }
        }
        for (name, p) in net.namedParameters where name.contains("bn") || name.hasPrefix("feature.") || name.hasPrefix("features.") {
            if p.shape.count == 1 { for i in p.value.indices { p.value[i] = rng.nextNormal() * 0.5 + (name.hasSuffix("weight") ? 0.2 : 0) } }
        }
        for g in net.gated { for i in g.bn.weight.value.indices { g.bn.weight.value[i] = rng.nextNormal() } }
    }

    /// A random 3 x size x size network (BN statistics and gammas randomized) and a dynamic model on
    /// it whose predictor has random weights, so thresholds differ per input.
    func dynamicModel(_ arch: String, size: Int, seed: UInt64) throws -> (Network, DynamicModel) {
        let net = try ModelZoo.build(ModelConfig(architecture: arch, inputChannels: 3, inputHeight: size, inputWidth: size, classes: 6), seed: seed)
        randomize(net, seed: seed + 1)
        var cfg = DynamicConfig()
        cfg.predictorBiasInit = 0.5
        let model = try DynamicModel(network: net, config: cfg)
        var rng = SplitMix64(seed: seed + 100)
        for (_, p) in model.predictor.namedParameters where p.shape.count == 2 { for i in p.value.indices { p.value[i] = rng.nextNormal() } }
        return (net, model)
    }

    /// max |a - b| / max(1, max |b|); infinity when a value is not finite (an output never written).
    func compare(_ a: [Float], _ b: [Float]) -> Float {
        guard a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max()! / max(1, b.map(abs).max()!)
    }

    @Test("dense engine matches the training graph", arguments: ["resnet8", "resnet14", "mcifarnet", "vgg16"], [1, 5])
    func dense(arch: String, n: Int) throws {
        for shortcut in [ShortcutKind.a, .b] where arch.hasPrefix("resnet") || shortcut == .a {
            let net = try ModelZoo.build(ModelConfig(architecture: arch, inputChannels: 3, inputHeight: 16, inputWidth: 16, classes: 6, shortcut: shortcut), seed: 1)
            randomize(net, seed: 2)
            var rng = SplitMix64(seed: 3)
            let x = (0..<(n * 3 * 256)).map { _ in rng.nextNormal() }
            let ref = Array(try x.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .eval) }.buffer)
            let engine = try InferenceEngine(network: net, threads: 2)
            var out = [Float](repeating: 0, count: n * 6)
            try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: n, logits: $0) } }
            #expect(compare(out, ref) <= 1e-4, "\(arch) \(shortcut)")
        }
    }

    @Test("the im2col + SGEMM path (direct kernel off) matches the training graph, split over two cores", arguments: [1, 5])
    func gemmPath(n: Int) throws {
        let (net, model) = try dynamicModel("resnet8", size: 16, seed: 4)
        var rng = SplitMix64(seed: 8)
        let x = (0..<(n * 3 * 256)).map { _ in rng.nextNormal() }
        let ref = Array(try x.withUnsafeBufferPointer { try model.forward(images: $0, n: n, mode: .eval) }.buffer)
        model.clearMasks()
        let engine = try InferenceEngine(network: net, dynamic: model, threads: 2)
        engine.directConvolutions = false
        #expect(!engine.usesPaddedPath)
        var out = [Float](repeating: 0, count: n * 6)
        try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: n, logits: $0) } }
        #expect(compare(out, ref) <= 1e-4)
    }

    @Test("dynamic engine matches the masked training graph, input by input", arguments: ["resnet8", "mcifarnet"], [1, 7])
    func dynamic(arch: String, n: Int) throws {
        let (net, model) = try dynamicModel(arch, size: 16, seed: 4)
        var rng = SplitMix64(seed: 6)
        let x = (0..<(n * 3 * 256)).map { _ in rng.nextNormal() }
        let ref = Array(try x.withUnsafeBufferPointer { try model.forward(images: $0, n: n, mode: .eval) }.buffer)
        let refKept = model.kept
        model.clearMasks()
        for (group, sorted) in [(1, false), (3, false), (3, true), (8, true)] {
        let engine = try InferenceEngine(network: net, dynamic: model, threads: 2, groupSize: group)
        engine.sortGroupsByWidth = sorted
        // Batch 1 on two cores overlaps the predictor with ResNet's (ungated) stem; M-CifarNet's
        // first conv is gated, so its predictor runs first.
        #expect(engine.overlapsPredictor == (arch == "resnet8"))
        var out = [Float](repeating: 0, count: n * 6), kept = [Int32](repeating: 0, count: n * net.gated.count)
        try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { o in try kept.withUnsafeMutableBufferPointer {
            try engine.run(images: xp, n: n, logits: o, kept: $0) } } }
        #expect(kept == Array(refKept.prefix(kept.count)))
        #expect(kept.contains { Int($0) < 16 })  // something was really skipped
        #expect(compare(out, ref) <= 1e-4)
        for i in 0..<n {
            let a = (0..<6).max { out[i * 6 + $0] < out[i * 6 + $1] }, b = (0..<6).max { ref[i * 6 + $0] < ref[i * 6 + $1] }
            #expect(a == b)
        }
        }
    }
}

extension EngineTests {
    @Test("padded and plain activation layouts give the same logits (dense and dynamic, batch 1 and batched)", arguments: [1, 3])
    func paddedLayout(n: Int) throws {
        // 3x20x20: planes of 20, 10 and 5 pixels (partial 8-lane vectors at every stage).
        let (net, model) = try dynamicModel("resnet8", size: 20, seed: 10)
        var rng = SplitMix64(seed: 12)
        model.clearMasks()
        let x = (0..<(n * 3 * 400)).map { _ in rng.nextNormal() }
        for dynamic in [nil, model] {
            let engine = try InferenceEngine(network: net, dynamic: dynamic, threads: 2)
            var results: [[Float]] = []
            for padded in [true, false] {
                engine.paddedActivations = padded
                var out = [Float](repeating: 0, count: n * 6)
                try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: n, logits: $0) } }
                results.append(out)
            }
            #expect(compare(results[0], results[1]) <= 1e-5, "dynamic: \(dynamic != nil)")
        }
    }
}

extension EngineTests {
    @Test("the step profile covers every conv: its MACs equal the engine's count, the logits are unchanged")
    func profile() throws {
        let (net, model) = try dynamicModel("resnet8", size: 16, seed: 20)
        model.clearMasks()
        var rng = SplitMix64(seed: 21)
        let x = (0..<(3 * 256)).map { _ in rng.nextNormal() }
        let engine = try InferenceEngine(network: net, dynamic: model, threads: 2)
        func run() throws -> ([Float], [Int32]) {
            var out = [Float](repeating: 0, count: 6), kept = [Int32](repeating: 0, count: net.gated.count)
            try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { o in try kept.withUnsafeMutableBufferPointer {
                try engine.run(images: xp, n: 1, logits: o, kept: $0) } } }
            return (out, kept)
        }
        let (plain, kept) = try run()
        engine.profile = EngineProfile()
        let (profiled, _) = try run()
        #expect(profiled == plain)
        let entries = engine.profile!.entries
        // At two threads the predictor runs alongside the stem conv and is timed with it.
        #expect(entries.contains { $0.name == (engine.threads > 1 ? "0 conv 16x16 + predictor" : "predictor") })
        #expect(entries.contains { $0.name.hasSuffix("shortcut") })
        #expect(entries.allSatisfy { $0.calls == 1 && $0.nanoseconds > 0 })
        let macs = entries.reduce(0) { $0 + $1.macs }
        #expect(macs == engine.macs(kept: kept.map(Int.init)), "profiled MACs \(macs)")
    }
}

extension EngineTests {
    @Test("the predictor on the engine's kernels gives the training graph's outputs", arguments: [12, 28, 32])
    func predictorExecutor(size: Int) throws {
        let (_, model) = try dynamicModel("resnet8", size: size, seed: 30)
        // Non-trivial BN statistics in the predictor too.
        var rng = SplitMix64(seed: 31)
        for (name, b) in model.predictor.namedBuffers where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
            for i in b.value.indices { b.value[i] = name.hasSuffix("var") ? 0.5 + rng.nextFloat() : rng.nextNormal() * 0.1 }
        }
        let n = 3, count = 3 * size * size, L = model.predictor.outputs
        let x = (0..<(n * count)).map { _ in rng.nextNormal() }
        let ref = Array(try x.withUnsafeBufferPointer { try model.predictor.forward(images: $0, n: n, mode: .eval) }.buffer)
        let fast = try #require(PredictorExecutor(model.predictor))
        var out = [Float](repeating: .nan, count: n * L)
        try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { op in
            for i in 0..<n { try fast.run(image: xp.baseAddress! + i * count, out: op.baseAddress! + i * L) }
        } }
        #expect(compare(out, ref) <= 1e-5, "\(size)x\(size)")
    }
}

@Suite("Inference engine, FBS", .serialized)
struct EngineFBSTests {
    @Test("gathered FBS channels reproduce the training graph", arguments: ["resnet8", "mcifarnet"], [1, 5])
    func fbs(arch: String, n: Int) throws {
        let net = try ModelZoo.build(ModelConfig(architecture: arch, inputChannels: 3, inputHeight: 16, inputWidth: 16, classes: 6), seed: 7)
        EngineTests().randomize(net, seed: 8)
        let model = FBSModel(network: net, config: FBSConfig(density: 0.5))
        var rng = SplitMix64(seed: 9)
        // Saliencies near 1 (bias 1, small weights) so eight chained layers stay finite; top-k still varies per input.
        for (_, p) in model.predictorParameters { for i in p.value.indices { p.value[i] = p.shape.count == 1 ? 1 : rng.nextNormal() * 0.1 } }
        let x = (0..<(n * 3 * 256)).map { _ in rng.nextNormal() }
        let ref = Array(try x.withUnsafeBufferPointer { try model.forward(images: $0, n: n, mode: .eval) }.buffer)
        let engine = try InferenceEngine(network: net, fbs: model, threads: 2)
        model.detach()
        // Both layouts: the padded path gathers saliency-scaled rows for the direct kernel; the plain
        // path scales the GEMM output.
        for padded in [true, false] {
            engine.paddedActivations = padded
            var out = [Float](repeating: 0, count: n * 6)
            try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: n, logits: $0) } }
            #expect(EngineTests().compare(out, ref) <= 1e-4, "padded \(padded)")
        }
    }
}

extension EngineTests {
    @Test("global average pool in lanes equals a double-precision sum, padded and plain layouts, any width")
    func globalAvgPoolLanes() {
        for (h, w) in [(8, 8), (5, 7), (3, 20), (1, 1)] {
            let channels = 3
            for padded in [false, true] {
                let count = padded ? Activation.paddedCount(channels: channels, h: h, w: w) : channels * h * w
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
                defer { buffer.deallocate() }
                buffer.initialize(repeating: .nan, count: count)  // borders must not be read
                let x = Activation(ptr: buffer, h: h, w: w, padded: padded)
                var rng = SplitMix64(seed: UInt64(h * 100 + w))
                var expected = [Double](repeating: 0, count: channels)
                for c in 0..<channels { for y in 0..<h { for q in 0..<w {
                    let v = rng.nextNormal()
                    x.origin[c * x.plane + y * x.rowStride + q] = v
                    expected[c] += Double(v) / Double(h * w)
                } } }
                var out = [Float](repeating: 0, count: channels)
                InferenceEngine.globalAvgPool(x, channels: channels, into: &out)
                for c in 0..<channels { #expect(abs(Double(out[c]) - expected[c]) <= 1e-5, "\(h)x\(w) padded \(padded)") }
            }
        }
    }
}

extension EngineTests {
    /// Each batch-1 conv first times itself unsplit, then split over the two cores, then unsplit
    /// (ThreadChoice explores), so repeated runs of one image cover both ways: a bug in the rows
    /// the second core computes shows only here (the other tests run each image once).
    @Test("batch 1 on two cores: repeated runs (convs unsplit, then split) all give the training graph's logits")
    func repeatedSingleImages() throws {
        let net = try ModelZoo.build(ModelConfig(architecture: "resnet14", inputChannels: 3, inputHeight: 16, inputWidth: 16, classes: 6,
                                                 shortcut: .a), seed: 30)
        randomize(net, seed: 31)
        var rng = SplitMix64(seed: 32)
        let x = (0..<(3 * 256)).map { _ in rng.nextNormal() }
        let ref = Array(try x.withUnsafeBufferPointer { try net.forward(images: $0, n: 1, mode: .eval) }.buffer)
        let engine = try InferenceEngine(network: net, threads: 2)
        #expect(engine.usesPaddedPath)
        for run in 0..<6 {
            var out = [Float](repeating: 0, count: 6)
            try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: 1, logits: $0) } }
            #expect(compare(out, ref) <= 1e-4, "run \(run)")
        }
    }
}

extension EngineTests {
    @Test("blocks before option-A stride-2 blocks write their phase planes (both stage transitions; 32 and 28 wide), dense and dynamic, 1 and 2 cores",
          arguments: [1, 2], [32, 28])
    func phasePlaneOutput(threads: Int, size: Int) throws {
        let (net, model) = try dynamicModel("resnet8", size: size, seed: 40)
        var rng = SplitMix64(seed: 41)
        let n = 2, pixels = 3 * size * size
        let x = (0..<(n * pixels)).map { _ in rng.nextNormal() }
        let denseRef = Array(try x.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .eval) }.buffer)
        let dynamicRef = Array(try x.withUnsafeBufferPointer { try model.forward(images: $0, n: n, mode: .eval) }.buffer)
        model.clearMasks()
        for (engine, ref) in [(try InferenceEngine(network: net, threads: threads), denseRef),
                              (try InferenceEngine(network: net, dynamic: model, threads: threads), dynamicRef)] {
            // Stage 1 and stage 2 each end in a phase-plane write.
            #expect(engine.phaseOutputAt.filter { $0 }.count == 2)
            // Image by image at batch 1 (the padded path), twice: the second run finds the planes as the first left them.
            for _ in 0..<2 {
                for i in 0..<n {
                    var out = [Float](repeating: 0, count: 6)
                    try x.withUnsafeBufferPointer { xp in try out.withUnsafeMutableBufferPointer {
                        try engine.run(images: UnsafeBufferPointer(rebasing: xp[(i * pixels)..<((i + 1) * pixels)]), n: 1, logits: $0) } }
                    #expect(compare(out, Array(ref[(i * 6)..<((i + 1) * 6)])) <= 1e-4, "image \(i), \(threads) threads, \(size) wide")
                }
            }
        }
    }
}
