// Composite layers: Sequential (children named by index or by name, as nn.Sequential /
// nn.Module attributes are) and the CIFAR ResNet BasicBlock with option A / B shortcuts.
import DynaSlimCore

public final class Sequential: Layer {
    public private(set) var children: [(String, Layer)]
    public init(_ children: [(String, Layer)]) { self.children = children }
    /// Children named "0", "1", ... like nn.Sequential.
    public convenience init(indexed layers: [Layer]) { self.init(layers.enumerated().map { ("\($0.offset)", $0.element) }) }

    public var namedParameters: [(String, Parameter)] {
        children.flatMap { name, l in l.namedParameters.map { (join(name, $0.0), $0.1) } }
    }
    public var namedBuffers: [(String, StateBuffer)] {
        children.flatMap { name, l in l.namedBuffers.map { (join(name, $0.0), $0.1) } }
    }
    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        var s = s
        for (_, l) in children { s = try l.outputShape(s) }
        return s
    }
    public func macs(_ s: FeatureShape) -> Int {
        var s = s, total = 0
        for (_, l) in children { total += l.macs(s); s = (try? l.outputShape(s)) ?? s }
        return total
    }
    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        var x = x
        for (_, l) in children { x = try l.forward(x, mode: mode) }
        return x
    }
    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        var g: Activation? = dy
        for (i, (_, l)) in children.enumerated().reversed() {
            g = try l.backward(g!, needInputGrad: needInputGrad || i > 0)
        }
        return g
    }
    public func summary(prefix: String, input: FeatureShape) -> [LayerSummary] {
        var s = input, rows: [LayerSummary] = []
        for (name, l) in children {
            rows += l.summary(prefix: join(prefix, name), input: s)
            s = (try? l.outputShape(s)) ?? s
        }
        return rows
    }
}

public enum ShortcutKind: String, Codable, Sendable { case a = "A", b = "B" }

/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); conv1 -> bn1 is the block's gated
/// (prunable) channel set, so `midChannels` may be below `planes` in a thinned model.
public final class BasicBlock: Layer {
    public let inPlanes, planes, midChannels, stride: Int
    public let conv1: Conv2dLayer, bn1: BatchNormLayer, conv2: Conv2dLayer, bn2: BatchNormLayer
    public let shortcutKind: ShortcutKind
    /// Option B projection (1x1 conv + BN), named "shortcut.0" / "shortcut.1".
    public let projection: Sequential?
    private let out = ActivationBuffer(), sumBuf = ActivationBuffer(), shortBuf = ActivationBuffer(), dxBuf = ActivationBuffer()
    private let dsumBuf = ActivationBuffer()
    private var input: Activation?, output: Activation?

    public init(inPlanes: Int, planes: Int, midChannels: Int? = nil, stride: Int, shortcut: ShortcutKind, gammaInit: Float, workspace: Workspace) {
        self.inPlanes = inPlanes; self.planes = planes; self.stride = stride; self.shortcutKind = shortcut
        let mid = midChannels ?? planes
        self.midChannels = mid
        conv1 = Conv2dLayer(inPlanes, mid, kernel: 3, stride: stride, padding: 1, workspace: workspace)
        bn1 = BatchNormLayer(mid, gammaInit: gammaInit, fusedReLU: true)
        conv2 = Conv2dLayer(mid, planes, kernel: 3, stride: 1, padding: 1, workspace: workspace)
        bn2 = BatchNormLayer(planes, gammaInit: gammaInit)
        if (stride != 1 || inPlanes != planes) && shortcut == .b {
            projection = Sequential(indexed: [Conv2dLayer(inPlanes, planes, kernel: 1, stride: stride, workspace: workspace),
                                              BatchNormLayer(planes, gammaInit: gammaInit)])
        } else { projection = nil }
    }

    var needsShortcutTransform: Bool { stride != 1 || inPlanes != planes }

    /// conv1 -> bn1 (+ReLU, fused) -> conv2 -> bn2.
    var branch: [(String, Layer)] { [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] }

    public var namedParameters: [(String, Parameter)] {
        [("conv1.weight", conv1.weight), ("bn1.weight", bn1.weight), ("bn1.bias", bn1.bias),
         ("conv2.weight", conv2.weight), ("bn2.weight", bn2.weight), ("bn2.bias", bn2.bias)]
            + (projection?.namedParameters.map { (join("shortcut", $0.0), $0.1) } ?? [])
    }
    public var namedBuffers: [(String, StateBuffer)] {
        bn1.namedBuffers.map { ("bn1.\($0.0)", $0.1) } + bn2.namedBuffers.map { ("bn2.\($0.0)", $0.1) }
            + (projection?.namedBuffers.map { (join("shortcut", $0.0), $0.1) } ?? [])
    }

    func zeroPadGeometry(_ n: Int, _ s: FeatureShape) -> ZeroPadShortcutGeometry {
        let extra = planes - inPlanes
        return ZeroPadShortcutGeometry(batch: n, inChannels: inPlanes, inHeight: s.h, inWidth: s.w, stride: stride,
                                       padBefore: extra / 2, padAfter: extra - extra / 2)
    }

    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        try ShapeError.require(s.c == inPlanes, "BasicBlock(\(inPlanes)->\(planes))", "input has \(s.c) channels (\(s)), expected \(inPlanes)")
        try ShapeError.require(shortcutKind == .b || planes >= inPlanes, "BasicBlock", "option A shortcut cannot shrink \(inPlanes) to \(planes) channels")
        var b = s
        for (_, l) in branch { b = try l.outputShape(b) }
        return b
    }
    public func macs(_ s: FeatureShape) -> Int {
        var b = s, total = 0
        for (_, l) in branch { total += l.macs(b); b = (try? l.outputShape(b)) ?? b }
        if let projection { total += projection.macs(s) }
        return total
    }
    public func summary(prefix: String, input s: FeatureShape) -> [LayerSummary] {
        var b = s, rows: [LayerSummary] = []
        for (name, l) in branch {
            rows += l.summary(prefix: join(prefix, name), input: b)
            b = (try? l.outputShape(b)) ?? b
        }
        if let projection { rows += projection.summary(prefix: join(prefix, "shortcut"), input: s) }
        return rows
    }

    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let os = try outputShape(FeatureShape(c: x.c, h: x.h, w: x.w))
        input = x
        var b = x
        for (_, l) in branch { b = try l.forward(b, mode: mode) }
        let short: Activation
        if !needsShortcutTransform { short = x }
        else if let projection { short = try projection.forward(x, mode: mode) }
        else {
            short = shortBuf.view(n: x.n, os)
            try ZeroPadShortcut.forward(zeroPadGeometry(x.n, FeatureShape(c: x.c, h: x.h, w: x.w)), input: x.buffer, output: short.mutableBuffer)
        }
        let y = sumBuf.view(n: x.n, os)
        try ResidualAdd.forward(b.buffer, short.buffer, output: y.mutableBuffer, relu: true)
        output = y
        return y
    }

    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let x = input else { throw ShapeError("BasicBlock backward", "called before forward") }
        guard let y = output else { throw ShapeError("BasicBlock backward", "called before forward") }
        let dsum = dsumBuf.view(n: y.n, FeatureShape(c: y.c, h: y.h, w: y.w))
        try ReLU.backward(output: y.buffer, outputGrad: dy.buffer, inputGrad: dsum.mutableBuffer)
        var g: Activation = dsum
        for (_, l) in branch.reversed() { g = try l.backward(g, needInputGrad: true)! }
        // g: gradient w.r.t. x through the branch. Add the shortcut's gradient.
        let s = FeatureShape(c: x.c, h: x.h, w: x.w)
        let dx = dxBuf.view(n: x.n, s)
        if !needsShortcutTransform {
            try ResidualAdd.forward(g.buffer, dsum.buffer, output: dx.mutableBuffer)
        } else if let projection {
            let ds = try projection.backward(dsum, needInputGrad: true)!
            try ResidualAdd.forward(g.buffer, ds.buffer, output: dx.mutableBuffer)
        } else {
            try ZeroPadShortcut.backward(zeroPadGeometry(x.n, s), outputGrad: dsum.buffer, inputGrad: dx.mutableBuffer)
            try ResidualAdd.forward(UnsafeBufferPointer(dx.mutableBuffer), g.buffer, output: dx.mutableBuffer)
        }
        return dx
    }
}
