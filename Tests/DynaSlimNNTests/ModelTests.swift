import Testing
import DynaSlimCore
@testable import DynaSlimNN

@Suite("Models")
struct ModelTests {
    // ResNet-20: 0.27M parameters (He et al. 2016, table 6); MACs counted by hand: conv1 442,368,
    // each 16/32/64-channel 3x3 conv 2,359,296, each stride-2 entry conv 1,179,648, linear 640.
    @Test("parameter counts and MACs match the published CIFAR models", arguments: [
        ("resnet20", 269_722, 40_551_040), ("resnet56", 853_018, 125_485_696),
    ])
    func resnetCounts(name: String, params: Int, macs: Int) throws {
        let net = try ModelZoo.build(ModelConfig(architecture: name))
        #expect(net.parameterCount == params)
        #expect(net.macsPerImage == macs)
        #expect(net.gated.count == (name == "resnet20" ? 9 : 27))
    }

    @Test("state_dict names follow PyTorch's")
    func names() throws {
        let net = try ModelZoo.build(ModelConfig(architecture: "resnet20", shortcut: .b))
        let names = Set(net.namedParameters.map(\.0) + net.namedBuffers.map(\.0))
        for n in ["conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                  "layer1.2.bn2.running_var", "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.bias", "layer3.2.conv2.weight",
                  "linear.weight", "linear.bias"] {
            #expect(names.contains(n), "missing \(n)")
        }
        let vgg = try ModelZoo.build(ModelConfig(architecture: "vgg16"))
        let vnames = Set(vgg.namedParameters.map(\.0))
        #expect(vnames.contains("feature.0.weight") && vnames.contains("feature.1.weight") && vnames.contains("feature.4.weight"))
        #expect(vnames.contains("classifier.weight"))
        #expect(vgg.gated.count == 13)
        // 14,710,464 conv weights + 8,448 BN weights/biases + 5,130 classifier = 14,724,042.
        #expect(vgg.parameterCount == 14_724_042)
    }

    @Test("every architecture builds for 1x28x28 and 3x32x32 and produces logits", arguments: ModelZoo.architectures)
    func buildsAndRuns(name: String) throws {
        if name == "resnet110" || name == "vgg19" { return }  // same code paths as resnet56 / vgg16, just slower
        for (c, h) in [(1, 28), (3, 32)] {
            let net = try ModelZoo.build(ModelConfig(architecture: name, inputChannels: c, inputHeight: h, inputWidth: h, classes: 7))
            let x = [Float](repeating: 0.1, count: 2 * c * h * h)
            let y = try x.withUnsafeBufferPointer { try net.forward(images: $0, n: 2, mode: .eval) }
            #expect(y.shape == [2, 7, 1, 1])
            #expect((0..<y.count).allSatisfy { y.pointer[$0].isFinite })
        }
    }

    @Test("a bad depth or input is a clear error")
    func badConfig() {
        #expect(throws: ModelError.self) { try ModelZoo.build(ModelConfig(architecture: "resnet21")) }
        #expect(throws: ModelError.self) { try ModelZoo.build(ModelConfig(architecture: "alexnet")) }
        #expect(throws: (any Error).self) { try ModelZoo.build(ModelConfig(architecture: "vgg16", inputHeight: 8, inputWidth: 8)) }
    }
}

/// The whole network's backward (blocks, shortcuts, fused BN+ReLU, pooling, linear) against
/// central finite differences of the loss, in training mode, on a tiny ResNet-8.
@Suite("Network gradients", .serialized)
struct NetworkGradientTests {
    func loss(_ net: Network, _ x: [Float], _ labels: [Int32], grad: Bool) throws -> Float {
        let n = labels.count
        let logits = try x.withUnsafeBufferPointer { try net.forward(images: $0, n: n, mode: .train) }
        var g = [Float](repeating: 0, count: n * net.config.classes)
        let l = try labels.withUnsafeBufferPointer { lp in try g.withUnsafeMutableBufferPointer {
            try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: net.config.classes, logits: logits.buffer, labels: lp, logitsGrad: $0) } }
        if grad {
            try g.withUnsafeMutableBufferPointer { try net.backward(logitsGrad: Activation(n: n, c: net.config.classes, h: 1, w: 1, pointer: $0.baseAddress!)) }
        }
        return l
    }

    @Test("ResNet-8 (options A and B) parameter gradients match finite differences", arguments: [ShortcutKind.a, .b])
    func resnetGradients(shortcut: ShortcutKind) throws {
        let cfg = ModelConfig(architecture: "resnet8", inputChannels: 2, inputHeight: 8, inputWidth: 8, classes: 3, shortcut: shortcut)
        let net = try ModelZoo.build(cfg, seed: 5, workspace: Workspace(threads: 2))
        var rng = SplitMix64(seed: 9)
        let x = (0..<(4 * 2 * 64)).map { _ in rng.nextNormal() }
        let labels: [Int32] = [0, 1, 2, 1]
        _ = try loss(net, x, labels, grad: true)
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters)
        var checked = 0
        for name in ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.bn1.bias", "layer2.0.conv2.weight",
                     "layer3.0.bn2.weight", "linear.weight", "linear.bias"] + (shortcut == .b ? ["layer2.0.shortcut.0.weight"] : []) {
            let p = params[name]!
            let analytic = p.grad
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 5)) {
                // Float32 central differences: h small enough to rarely cross a ReLU kink, large
                // enough to stay above the loss's rounding (checked: values converge as h shrinks).
                let v = p.value[i], h: Float = 2.5e-4
                p.value[i] = v + h; let lp = try loss(net, x, labels, grad: false)
                p.value[i] = v - h; let lm = try loss(net, x, labels, grad: false)
                p.value[i] = v
                let numeric = (lp - lm) / (2 * h)
                #expect(abs(numeric - analytic[i]) <= 3e-3 + 0.05 * abs(numeric), "\(name)[\(i)]: numeric \(numeric) analytic \(analytic[i])")
                checked += 1
            }
        }
        #expect(checked > 30)
    }
}
