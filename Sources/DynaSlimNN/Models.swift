// Model builders with PyTorch-compatible state_dict names:
// - CIFAR ResNet (He et al. 2016, sec. 4.2; names as in the widely used akamaster/pytorch_resnet_cifar10):
//   conv1, bn1, layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2[,shortcut.0,shortcut.1]}, linear. Depth 6n+2.
// - VGG-16/19 with BN, CIFAR variant of Network Slimming (Liu et al. 2017): feature.{i} (conv, bn,
//   relu, maxpool 'M'), global average pool, classifier (Linear).
// - M-CifarNet (Gao et al. 2019, FBS): 8 conv-BN-ReLU (64 k3 no padding, 64, 128 s2, 128, 128,
//   192 s2, 192, 192), dropout after the 3rd and 6th, global average pool, 1x1 conv classifier;
//   names features.{i}, classifier.
import DynaSlimCore

public enum ModelZoo {
    public static let architectures = ["resnet20", "resnet32", "resnet38", "resnet44", "resnet56", "resnet110", "vgg16", "vgg19", "mcifarnet"]

    public static func build(_ config: ModelConfig, seed: UInt64 = 0, workspace: Workspace = Workspace(threads: Parallel.defaultThreadCount)) throws -> Network {
        try config.validate()
        var rng = SplitMix64(seed: seed)
        let a = config.architecture
        if a.hasPrefix("resnet"), let depth = Int(a.dropFirst(6)) {
            guard depth >= 8, depth <= 1202, (depth - 2) % 6 == 0 else { throw ModelError("resnet depth must be 6n+2 (20, 32, 44, 56, 110...), got \(depth)") }
            return try resnet(config, blocksPerStage: (depth - 2) / 6, rng: &rng, workspace: workspace)
        }
        switch a {
        case "vgg16": return try vgg(config, cfg: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512], rng: &rng, workspace: workspace)
        case "vgg19": return try vgg(config, cfg: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512], rng: &rng, workspace: workspace)
        case "mcifarnet": return try mcifarnet(config, rng: &rng, workspace: workspace)
        default: throw ModelError("unknown model '\(a)'; known: \(architectures.joined(separator: ", "))")
        }
    }

    /// kaiming_normal_(mode='fan_in', nonlinearity='relu'): N(0, 2 / fan_in).
    static func kaimingFanIn(_ p: Parameter, rng: inout SplitMix64) {
        let fanIn = p.shape.dropFirst().reduce(1, *)
        let std = (2 / Float(fanIn)).squareRoot()
        for i in p.value.indices { p.value[i] = rng.nextNormal() * std }
    }
    /// Network Slimming's VGG init: N(0, 2 / (k*k*out)) (fan_out).
    static func kaimingFanOut(_ p: Parameter, rng: inout SplitMix64) {
        let fanOut = p.shape[0] * p.shape.dropFirst(2).reduce(1, *)
        let std = (2 / Float(fanOut)).squareRoot()
        for i in p.value.indices { p.value[i] = rng.nextNormal() * std }
    }
    /// nn.Linear's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    static func uniformFanIn(_ p: Parameter, fanIn: Int, rng: inout SplitMix64) {
        let bound = 1 / Float(fanIn).squareRoot()
        for i in p.value.indices { p.value[i] = (rng.nextFloat() * 2 - 1) * bound }
    }

    static func width(_ config: ModelConfig, _ name: String, _ full: Int) throws -> Int {
        guard let w = config.widths?[name] else { return full }
        guard w >= 1 && w <= full else { throw ModelError("width of \(name) is \(w), must be in 1...\(full)") }
        return w
    }

    static func resnet(_ config: ModelConfig, blocksPerStage n: Int, rng: inout SplitMix64, workspace: Workspace) throws -> Network {
        let conv1 = Conv2dLayer(config.inputChannels, 16, kernel: 3, padding: 1, workspace: workspace)
        kaimingFanIn(conv1.weight, rng: &rng)
        var children: [(String, Layer)] = [("conv1", conv1), ("bn1", BatchNormLayer(16, gammaInit: config.gammaInit, fusedReLU: true))]
        var gated: [GatedLayer] = []
        var inPlanes = 16
        for (stage, planes) in [16, 32, 64].enumerated() {
            var blocks: [Layer] = []
            for i in 0..<n {
                let stride = (stage > 0 && i == 0) ? 2 : 1
                let prefix = "layer\(stage + 1).\(i)"
                let block = BasicBlock(inPlanes: inPlanes, planes: planes, midChannels: try width(config, "\(prefix).bn1", planes),
                                       stride: stride, shortcut: config.shortcut, gammaInit: config.gammaInit, workspace: workspace)
                kaimingFanIn(block.conv1.weight, rng: &rng)
                kaimingFanIn(block.conv2.weight, rng: &rng)
                if let proj = block.projection, let c = proj.children[0].1 as? Conv2dLayer { kaimingFanIn(c.weight, rng: &rng) }
                gated.append(GatedLayer(name: "\(prefix).bn1", producerName: "\(prefix).conv1", consumerName: "\(prefix).conv2",
                                        producer: block.conv1, bn: block.bn1, consumer: .conv(block.conv2)))
                blocks.append(block)
                inPlanes = planes
            }
            children.append(("layer\(stage + 1)", Sequential(indexed: blocks)))
        }
        let linear = LinearLayer(64, config.classes)
        kaimingFanIn(linear.weight, rng: &rng)
        uniformFanIn(linear.bias, fanIn: 64, rng: &rng)
        children += [("avgpool", GlobalAvgPoolLayer()), ("linear", linear)]
        return try Network(config: config, body: Sequential(children), gated: gated, dropouts: [], workspace: workspace)
    }

    /// `cfg`: channel counts, 0 = 2x2 max pool.
    static func vgg(_ config: ModelConfig, cfg: [Int], rng: inout SplitMix64, workspace: Workspace) throws -> Network {
        var layers: [Layer] = [], convs: [(index: Int, conv: Conv2dLayer, bn: BatchNormLayer)] = []
        var inC = config.inputChannels
        for v in cfg {
            if v == 0 { layers.append(MaxPoolLayer(kernel: 2, stride: 2)); continue }
            let idx = layers.count
            let out = try width(config, "feature.\(idx + 1)", v)
            let conv = Conv2dLayer(inC, out, kernel: 3, padding: 1, workspace: workspace)
            kaimingFanOut(conv.weight, rng: &rng)
            // BN with fused ReLU; a parameter-free ReLU slot keeps PyTorch's feature.{i} numbering.
            let bn = BatchNormLayer(out, gammaInit: config.gammaInit, fusedReLU: true)
            layers += [conv, bn, IdentityLayer()]
            convs.append((idx, conv, bn))
            inC = out
        }
        let classifier = LinearLayer(inC, config.classes)
        for i in classifier.weight.value.indices { classifier.weight.value[i] = rng.nextNormal() * 0.01 }
        var gated: [GatedLayer] = []
        for (k, c) in convs.enumerated() {
            let consumer: ChannelConsumer = k + 1 < convs.count ? .conv(convs[k + 1].conv) : .linear(classifier)
            let consumerName = k + 1 < convs.count ? "feature.\(convs[k + 1].index)" : "classifier"
            gated.append(GatedLayer(name: "feature.\(c.index + 1)", producerName: "feature.\(c.index)", consumerName: consumerName,
                                    producer: c.conv, bn: c.bn, consumer: consumer))
        }
        let body = Sequential([("feature", Sequential(indexed: layers)), ("avgpool", GlobalAvgPoolLayer()), ("classifier", classifier)])
        return try Network(config: config, body: body, gated: gated, dropouts: [], workspace: workspace)
    }

    static func mcifarnet(_ config: ModelConfig, rng: inout SplitMix64, workspace: Workspace) throws -> Network {
        // (channels, stride, padding); dropout after the 3rd and 6th conv block.
        let spec: [(Int, Int, Int)] = [(64, 1, 0), (64, 1, 1), (128, 2, 1), (128, 1, 1), (128, 1, 1), (192, 2, 1), (192, 1, 1), (192, 1, 1)]
        var layers: [Layer] = [], convs: [(index: Int, conv: Conv2dLayer, bn: BatchNormLayer)] = [], dropouts: [DropoutLayer] = []
        var inC = config.inputChannels
        for (k, (c, s, p)) in spec.enumerated() {
            let idx = layers.count
            let out = try width(config, "features.\(idx + 1)", c)
            let conv = Conv2dLayer(inC, out, kernel: 3, stride: s, padding: p, workspace: workspace)
            kaimingFanIn(conv.weight, rng: &rng)
            let bn = BatchNormLayer(out, gammaInit: config.gammaInit, fusedReLU: true)
            layers += [conv, bn, IdentityLayer()]
            convs.append((idx, conv, bn))
            if k == 2 || k == 5 { let d = DropoutLayer(probability: config.dropout); dropouts.append(d); layers.append(d) }
            inC = out
        }
        let classifier = Conv2dLayer(inC, config.classes, kernel: 1, bias: true, workspace: workspace)
        kaimingFanIn(classifier.weight, rng: &rng)
        var gated: [GatedLayer] = []
        for (k, c) in convs.enumerated() {
            let isLast = k + 1 == convs.count
            gated.append(GatedLayer(name: "features.\(c.index + 1)", producerName: "features.\(c.index)",
                                    consumerName: isLast ? "classifier" : "features.\(convs[k + 1].index)",
                                    producer: c.conv, bn: c.bn, consumer: .conv(isLast ? classifier : convs[k + 1].conv)))
        }
        let body = Sequential([("features", Sequential(indexed: layers)), ("avgpool", GlobalAvgPoolLayer()), ("classifier", classifier)])
        return try Network(config: config, body: body, gated: gated, dropouts: dropouts, workspace: workspace)
    }
}
