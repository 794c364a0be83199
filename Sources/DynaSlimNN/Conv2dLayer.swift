// nn.Conv2d (bias optional, PyTorch weight layout [out, in, kh, kw]).
import DynaSlimCore

public final class Conv2dLayer: Layer {
    public private(set) var inChannels, outChannels: Int
    public let kernel, stride, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    let workspace: Workspace
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer()
    private var input: Activation?
    /// The input of the last forward (FBS reads it to predict channel saliencies).
    public var lastInput: Activation? { input }

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = false,
                workspace: Workspace) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.stride = stride; self.padding = padding; self.workspace = workspace
        weight = Parameter(shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    public var namedParameters: [(String, Parameter)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    /// Changes the channel counts in place (weights zeroed; see Parameter.reshape): one network runs
    /// every width of a slimmable sandwich step as a physically thin one.
    public func resize(inChannels newIn: Int, outChannels newOut: Int) {
        guard newIn != inChannels || newOut != outChannels else { return }
        inChannels = newIn; outChannels = newOut
        weight.reshape([newOut, newIn, kernel, kernel])
        bias?.reshape([newOut])
    }

    func geometry(n: Int, _ s: FeatureShape) -> Conv2DGeometry {
        Conv2DGeometry(batch: n, inChannels: s.c, inHeight: s.h, inWidth: s.w, outChannels: outChannels,
                       kernel: kernel, stride: stride, padding: padding)
    }

    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        try ShapeError.require(s.c == inChannels, "Conv2d(\(inChannels)->\(outChannels))", "input has \(s.c) channels (\(s)), expected \(inChannels)")
        let g = geometry(n: 1, s)
        try ShapeError.require(g.outHeight > 0 && g.outWidth > 0, "Conv2d", "kernel \(kernel) stride \(stride) padding \(padding) too large for input \(s)")
        return FeatureShape(c: outChannels, h: g.outHeight, w: g.outWidth)
    }

    public func macs(_ s: FeatureShape) -> Int { geometry(n: 1, s).macs }

    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let s = FeatureShape(c: x.c, h: x.h, w: x.w)
        let os = try outputShape(s)
        let y = out.view(n: x.n, os)
        input = x
        try weight.value.withUnsafeBufferPointer { w in
            if let bias {
                try bias.value.withUnsafeBufferPointer { b in
                    try Conv2D.forward(geometry(n: x.n, s), input: x.buffer, weight: w, bias: b, output: y.mutableBuffer, workspace: workspace)
                }
            } else {
                try Conv2D.forward(geometry(n: x.n, s), input: x.buffer, weight: w, output: y.mutableBuffer, workspace: workspace)
            }
        }
        return y
    }

    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let x = input else { throw ShapeError("Conv2d backward", "called before forward") }
        let s = FeatureShape(c: x.c, h: x.h, w: x.w)
        let dx = needInputGrad ? dxBuf.view(n: x.n, s) : nil
        try weight.value.withUnsafeBufferPointer { w in try weight.grad.withUnsafeMutableBufferPointer { dw in
            if let bias {
                try bias.grad.withUnsafeMutableBufferPointer { db in
                    try Conv2D.backward(geometry(n: x.n, s), input: x.buffer, weight: w, outputGrad: dy.buffer,
                                        inputGrad: dx?.mutableBuffer, weightGrad: dw, biasGrad: db, workspace: workspace)
                }
            } else {
                try Conv2D.backward(geometry(n: x.n, s), input: x.buffer, weight: w, outputGrad: dy.buffer,
                                    inputGrad: dx?.mutableBuffer, weightGrad: dw, workspace: workspace)
            }
        } }
        return dx
    }
}
