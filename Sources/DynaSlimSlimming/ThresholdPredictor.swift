// The threshold predictor: a tiny CNN on the (normalized) input image with one output per gated
// layer (docs/design.md: Gate rule; 0.23% of ResNet-20's MACs on 28x28 in the prototype):
//   [avg-pool 2x when the input is at least 16x16] -> conv3x3 -> 8 -> BN+ReLU
//   -> conv3x3 stride 2 -> 16 -> BN+ReLU -> global average pool -> linear -> L outputs.
// Parameters are saved under "predictor." in the model's checkpoint. The last layer starts at
// weights ~ N(0, 0.01) and bias `biasInit` (-2.5: thresholds start near lo, keeping almost all).
import DynaSlimCore
import DynaSlimNN

public final class ThresholdPredictor {
    public let body: Sequential
    public let outputs: Int
    public let inputShape: FeatureShape
    private let input = ScratchBuffer()

    public init(input: FeatureShape, outputs: Int, width: Int = 8, biasInit: Float = -2.5, seed: UInt64 = 17, workspace: Workspace) throws {
        self.outputs = outputs; self.inputShape = input
        var rng = SplitMix64(seed: seed)
        var children: [(String, Layer)] = []
        if input.h >= 16 && input.w >= 16 { children.append(("pool", AvgPoolLayer(kernel: 2, stride: 2))) }
        let c1 = Conv2dLayer(input.c, width, kernel: 3, padding: 1, workspace: workspace)
        let c2 = Conv2dLayer(width, 2 * width, kernel: 3, stride: 2, padding: 1, workspace: workspace)
        for conv in [c1, c2] {
            let std = (2 / Float(conv.weight.shape.dropFirst().reduce(1, *))).squareRoot()
            for i in conv.weight.value.indices { conv.weight.value[i] = rng.nextNormal() * std }
        }
        let fc = LinearLayer(2 * width, outputs)
        for i in fc.weight.value.indices { fc.weight.value[i] = rng.nextNormal() * 0.01 }
        for i in fc.bias.value.indices { fc.bias.value[i] = biasInit }
        children += [("conv1", c1), ("bn1", BatchNormLayer(width, fusedReLU: true)), ("conv2", c2),
                     ("bn2", BatchNormLayer(2 * width, fusedReLU: true)), ("gap", GlobalAvgPoolLayer()), ("fc", fc)]
        body = Sequential(children)
        let out = try body.outputShape(input)
        precondition(out == FeatureShape(c: outputs, h: 1, w: 1))
    }

    public static let prefix = "predictor."
    public var namedParameters: [(String, Parameter)] { body.namedParameters.map { (Self.prefix + $0.0, $0.1) } }
    public var namedBuffers: [(String, StateBuffer)] { body.namedBuffers.map { (Self.prefix + $0.0, $0.1) } }
    public var macsPerImage: Int { body.macs(inputShape) }
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.1.count } }

    /// o [n, outputs] for n images [n, C, H, W].
    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        try ShapeError.check("predictor forward", "images", count: images.count, expected: n * inputShape.count,
                             shape: [n, inputShape.c, inputShape.h, inputShape.w])
        let x = Activation(n: n, c: inputShape.c, h: inputShape.h, w: inputShape.w, pointer: input.reserve(n * inputShape.count))
        x.pointer.update(from: images.baseAddress!, count: n * inputShape.count)
        return try body.forward(x, mode: mode)
    }

    public func backward(outputGrad: Activation) throws { _ = try body.backward(outputGrad, needInputGrad: false) }
}
