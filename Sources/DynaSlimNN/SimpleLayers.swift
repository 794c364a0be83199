// Parameter-free layers and the linear classifier: ReLU, MaxPool2d, GlobalAvgPool (to [N, C, 1, 1]),
// Dropout, Linear (reads its input as [N, C*H*W], i.e. flattens).
import DynaSlimCore

public final class ReLULayer: Layer {
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    private var output: Activation?
    public init() {}
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape { s }
    public func macs(_ s: FeatureShape) -> Int { 0 }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let y = out.view(n: x.n, FeatureShape(c: x.c, h: x.h, w: x.w))
        try ReLU.forward(input: x.buffer, output: y.mutableBuffer)
        output = y
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let y = output else { throw ShapeError("ReLU backward", "called before forward") }
        let dx = dxBuf.view(n: y.n, FeatureShape(c: y.c, h: y.h, w: y.w))
        try ReLU.backward(output: y.buffer, outputGrad: dy.buffer, inputGrad: dx.mutableBuffer)
        return dx
    }
}

/// Passes its input through: stands where PyTorch has an nn.ReLU whose work a preceding
/// BatchNormLayer(fusedReLU: true) already did, so Sequential indices match state_dict names.
public final class IdentityLayer: Layer {
    public init() {}
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape { s }
    public func macs(_ s: FeatureShape) -> Int { 0 }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation { x }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? { dy }
    public func summary(prefix: String, input: FeatureShape) -> [LayerSummary] { [] }
}

/// What max and average pooling layers share: window, geometry, output shape, buffers.
public class PoolLayerBase {
    public let kernel, stride: Int
    let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    var inputShape: FeatureShape?, batch = 0
    init(kernel: Int, stride: Int) { self.kernel = kernel; self.stride = stride }
    func geometry(_ n: Int, _ s: FeatureShape) -> PoolGeometry {
        PoolGeometry(batch: n, channels: s.c, inHeight: s.h, inWidth: s.w, kernel: kernel, stride: stride)
    }
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        try ShapeError.require(s.h >= kernel && s.w >= kernel, "Pool2d(\(kernel))", "input \(s) smaller than the window")
        let g = geometry(1, s)
        return FeatureShape(c: s.c, h: g.outHeight, w: g.outWidth)
    }
    public func macs(_ s: FeatureShape) -> Int { 0 }
    /// Output view for x, remembering x's shape for backward.
    func begin(_ x: Activation) throws -> (Activation, PoolGeometry) {
        let s = FeatureShape(c: x.c, h: x.h, w: x.w)
        inputShape = s; batch = x.n
        return (out.view(n: x.n, try outputShape(s)), geometry(x.n, s))
    }
    /// Input-gradient view and geometry of the last forward.
    func beginBackward(_ op: String) throws -> (Activation, PoolGeometry) {
        guard let s = inputShape else { throw ShapeError(op, "called before forward") }
        return (dxBuf.view(n: batch, s), geometry(batch, s))
    }
}

public final class MaxPoolLayer: PoolLayerBase, Layer {
    private var argmax: [Int32] = []
    public override init(kernel: Int, stride: Int) { super.init(kernel: kernel, stride: stride) }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let (y, g) = try begin(x)
        if argmax.count != g.outputCount { argmax = [Int32](repeating: 0, count: g.outputCount) }
        try argmax.withUnsafeMutableBufferPointer { try MaxPool2D.forward(g, input: x.buffer, output: y.mutableBuffer, argmax: $0) }
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        let (dx, g) = try beginBackward("MaxPool2d backward")
        try argmax.withUnsafeBufferPointer { try MaxPool2D.backward(g, argmax: $0, outputGrad: dy.buffer, inputGrad: dx.mutableBuffer) }
        return dx
    }
}

public final class GlobalAvgPoolLayer: Layer {
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    private var inputShape: FeatureShape?, batch = 0
    public init() {}
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape { FeatureShape(c: s.c, h: 1, w: 1) }
    public func macs(_ s: FeatureShape) -> Int { 0 }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let y = out.view(n: x.n, FeatureShape(c: x.c, h: 1, w: 1))
        try GlobalAvgPool.forward(planes: x.n * x.c, plane: x.plane, input: x.buffer, output: y.mutableBuffer)
        inputShape = FeatureShape(c: x.c, h: x.h, w: x.w); batch = x.n
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let s = inputShape else { throw ShapeError("GlobalAvgPool backward", "called before forward") }
        let dx = dxBuf.view(n: batch, s)
        try GlobalAvgPool.backward(planes: batch * s.c, plane: s.h * s.w, outputGrad: dy.buffer, inputGrad: dx.mutableBuffer)
        return dx
    }
}

public final class DropoutLayer: Layer {
    public let probability: Float
    /// Seeded per epoch by the trainer so runs (and resumed runs) are reproducible.
    public var rng = SplitMix64(seed: 0)
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    private var mask: [Float] = [], lastMode: Mode = .eval, inputShape = FeatureShape(c: 0, h: 0, w: 0), batch = 0
    public init(probability: Float) { self.probability = probability }
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape { s }
    public func macs(_ s: FeatureShape) -> Int { 0 }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        lastMode = mode; inputShape = FeatureShape(c: x.c, h: x.h, w: x.w); batch = x.n
        if mode == .eval || probability == 0 { return x }
        let y = out.view(n: x.n, inputShape)
        if mask.count != x.count { mask = [Float](repeating: 0, count: x.count) }
        try mask.withUnsafeMutableBufferPointer { try Dropout.forward(probability: probability, input: x.buffer, output: y.mutableBuffer, mask: $0, rng: &rng) }
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        if lastMode == .eval || probability == 0 { return dy }
        let dx = dxBuf.view(n: batch, inputShape)
        try mask.withUnsafeBufferPointer { try Dropout.backward(mask: $0, outputGrad: dy.buffer, inputGrad: dx.mutableBuffer) }
        return dx
    }
}

public final class LinearLayer: Layer {
    public private(set) var inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter, bias: Parameter
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    private var input: Activation?
    public init(_ inFeatures: Int, _ outFeatures: Int) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures]); bias = Parameter(shape: [outFeatures])
    }
    public var namedParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }
    /// Changes the input width in place (weight zeroed; see Parameter.reshape), for thin sandwich passes.
    public func resize(inFeatures newIn: Int) {
        guard newIn != inFeatures else { return }
        inFeatures = newIn
        weight.reshape([outFeatures, newIn])
    }
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        try ShapeError.require(s.count == inFeatures, "Linear(\(inFeatures)->\(outFeatures))", "input \(s) has \(s.count) features, expected \(inFeatures)")
        return FeatureShape(c: outFeatures, h: 1, w: 1)
    }
    public func macs(_ s: FeatureShape) -> Int { inFeatures * outFeatures }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let os = try outputShape(FeatureShape(c: x.c, h: x.h, w: x.w))
        let y = out.view(n: x.n, os)
        input = x
        try weight.value.withUnsafeBufferPointer { w in try bias.value.withUnsafeBufferPointer { b in
            try Linear.forward(batch: x.n, inFeatures: inFeatures, outFeatures: outFeatures, input: x.buffer, weight: w, bias: b, output: y.mutableBuffer)
        } }
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let x = input else { throw ShapeError("Linear backward", "called before forward") }
        let dx = needInputGrad ? dxBuf.view(n: x.n, FeatureShape(c: x.c, h: x.h, w: x.w)) : nil
        try weight.value.withUnsafeBufferPointer { w in try weight.grad.withUnsafeMutableBufferPointer { dw in
            try bias.grad.withUnsafeMutableBufferPointer { db in
                try Linear.backward(batch: x.n, inFeatures: inFeatures, outFeatures: outFeatures, input: x.buffer, weight: w,
                                    outputGrad: dy.buffer, inputGrad: dx?.mutableBuffer, weightGrad: dw, biasGrad: db)
            }
        } }
        return dx
    }
}

public final class AvgPoolLayer: PoolLayerBase, Layer {
    public override init(kernel: Int, stride: Int) { super.init(kernel: kernel, stride: stride) }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let (y, g) = try begin(x)
        try AvgPool2D.forward(g, input: x.buffer, output: y.mutableBuffer)
        return y
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        let (dx, g) = try beginBackward("AvgPool2d backward")
        try AvgPool2D.backward(g, outputGrad: dy.buffer, inputGrad: dx.mutableBuffer)
        return dx
    }
}
