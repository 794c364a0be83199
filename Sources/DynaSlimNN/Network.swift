// A whole model: its configuration (saved in checkpoints), its layers under PyTorch state_dict
// names, and its gated layers (the BN channel sets that slimming may switch off).
import DynaSlimCore

/// Everything needed to rebuild a model's layers, stored in a checkpoint's `__metadata__`.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// resnet20 / 32 / 38 / 44 / 56 / 110 (any 6n+2), vgg16, vgg19, mcifarnet.
    public var architecture: String
    public var inputChannels: Int
    public var inputHeight: Int
    public var inputWidth: Int
    public var classes: Int
    public var shortcut: ShortcutKind
    public var gammaInit: Float
    public var dropout: Float
    /// Channels kept per gated layer (by BN name) in a statically thinned model; absent = full width.
    public var widths: [String: Int]?

    public init(architecture: String, inputChannels: Int = 3, inputHeight: Int = 32, inputWidth: Int = 32, classes: Int = 10,
                shortcut: ShortcutKind = .a, gammaInit: Float = 1, dropout: Float = 0.3, widths: [String: Int]? = nil) {
        self.architecture = architecture.lowercased(); self.inputChannels = inputChannels; self.inputHeight = inputHeight
        self.inputWidth = inputWidth; self.classes = classes; self.shortcut = shortcut; self.gammaInit = gammaInit
        self.dropout = dropout; self.widths = widths
    }
    public var inputShape: FeatureShape { FeatureShape(c: inputChannels, h: inputHeight, w: inputWidth) }

    /// Ranges every model needs (a checkpoint's metadata may say anything): positive sizes that an
    /// allocation can hold, a dropout probability, a finite gamma init, positive thinned widths.
    public func validate() throws(ModelError) {
        func check(_ ok: Bool, _ what: String) throws(ModelError) { if !ok { throw ModelError("model config: \(what)") } }
        try check((1...4096).contains(inputChannels), "inputChannels \(inputChannels) is outside 1...4096")
        try check((1...8192).contains(inputHeight) && (1...8192).contains(inputWidth), "input size \(inputHeight)x\(inputWidth) is outside 1...8192")
        try check((1...1_000_000).contains(classes), "classes \(classes) is outside 1...1000000")
        try check(gammaInit.isFinite, "gammaInit \(gammaInit) is not finite")
        try check(dropout >= 0 && dropout < 1, "dropout \(dropout) is outside [0, 1)")
        for (name, w) in widths ?? [:] { try check((1...65536).contains(w), "width \(w) of \(name) is outside 1...65536") }
    }
}

public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Who consumes a gated layer's channels: a conv (input channels) or the classifier (input features).
public enum ChannelConsumer {
    case conv(Conv2dLayer)
    case linear(LinearLayer)
}

/// A prunable channel set: producer conv -> BN (importance |gamma|) -> ReLU -> consumer.
public struct GatedLayer {
    public let name: String           // the BN's state_dict prefix, e.g. "layer1.0.bn1"
    public let producerName: String   // e.g. "layer1.0.conv1"
    public let consumerName: String   // e.g. "layer1.0.conv2" or "classifier"
    public let producer: Conv2dLayer
    public let bn: BatchNormLayer
    public let consumer: ChannelConsumer
}

public final class Network {
    public let config: ModelConfig
    public let body: Sequential
    public let gated: [GatedLayer]
    public let workspace: Workspace
    /// Dropout layers, re-seeded by the trainer each epoch for reproducibility.
    public let dropouts: [DropoutLayer]
    private let inputBuffer = ScratchBuffer()

    init(config: ModelConfig, body: Sequential, gated: [GatedLayer], dropouts: [DropoutLayer], workspace: Workspace) throws {
        self.config = config; self.body = body; self.gated = gated; self.dropouts = dropouts; self.workspace = workspace
        let out = try body.outputShape(config.inputShape)
        guard out == FeatureShape(c: config.classes, h: 1, w: 1) else {
            throw ModelError("\(config.architecture): output shape \(out) for input \(config.inputShape), expected \(config.classes)x1x1")
        }
    }

    public var namedParameters: [(String, Parameter)] { body.namedParameters }
    public var namedBuffers: [(String, StateBuffer)] { body.namedBuffers }
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.1.count } }
    public var macsPerImage: Int { body.macs(config.inputShape) }
    public func summary() -> [LayerSummary] { body.summary(prefix: "", input: config.inputShape) }

    /// Forward on `n` images laid out [n, C, H, W] in `images`; returns logits [n, classes].
    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        let s = config.inputShape
        try ShapeError.check("\(config.architecture) forward", "images", count: images.count, expected: n * s.count, shape: [n, s.c, s.h, s.w])
        let x = Activation(n: n, c: s.c, h: s.h, w: s.w, pointer: inputBuffer.reserve(n * s.count))
        x.pointer.update(from: images.baseAddress!, count: n * s.count)
        return try body.forward(x, mode: mode)
    }

    /// Backward from dL/dlogits; fills every parameter's grad.
    public func backward(logitsGrad: Activation) throws {
        _ = try body.backward(logitsGrad, needInputGrad: false)
    }

    public func gatedLayer(named name: String) -> GatedLayer? { gated.first { $0.name == name } }

    /// Every BN layer in forward order (blocks' bn1, bn2 and projection BNs included).
    public var batchNorms: [BatchNormLayer] { Self.batchNorms(body) }

    static func batchNorms(_ layer: Layer) -> [BatchNormLayer] {
        switch layer {
        case let s as Sequential: return s.children.flatMap { batchNorms($0.1) }
        case let b as BatchNormLayer: return [b]
        case let b as BasicBlock: return [b.bn1, b.bn2] + (b.projection.map { batchNorms($0) } ?? [])
        default: return []
        }
    }
}
