// The layer model: each layer owns its parameters (PyTorch state_dict names), its output and
// input-gradient buffers (allocated once per batch size, reused every step), and writes its
// forward and backward by hand on top of DynaSlimCore's kernels.
import DynaSlimCore

/// A learnable tensor and its gradient, PyTorch layout.
public final class Parameter: @unchecked Sendable {
    public private(set) var shape: [Int]
    public var value: [Float]
    public var grad: [Float]
    /// Whether SGD applies weight decay to it (PyTorch reference code decays every parameter).
    public var weightDecay: Bool

    public init(shape: [Int], value: [Float]? = nil, weightDecay: Bool = true) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.value = value ?? [Float](repeating: 0, count: n)
        self.grad = [Float](repeating: 0, count: n)
        self.weightDecay = weightDecay
        precondition(self.value.count == n, "parameter of shape \(shape) given \(self.value.count) values")
    }
    public var count: Int { value.count }

    /// Changes the shape in place, zero-filling value and grad. The arrays keep their capacity, so a
    /// parameter that shrinks and regrows to at most its largest size allocates nothing (the thin
    /// sandwich passes of slimmable training resize one network to a new width every pass).
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        shape = newShape
        value.removeAll(keepingCapacity: true); value.append(contentsOf: repeatElement(0, count: n))
        grad.removeAll(keepingCapacity: true); grad.append(contentsOf: repeatElement(0, count: n))
    }
}

/// A non-learnable tensor saved in checkpoints (BN running statistics, num_batches_tracked).
public final class StateBuffer: @unchecked Sendable {
    public private(set) var shape: [Int]
    public var value: [Float]
    public init(shape: [Int], fill: Float = 0) { self.shape = shape; value = [Float](repeating: fill, count: shape.reduce(1, *)) }
    /// Changes the shape in place, filled with `fill`, keeping the array's capacity (see Parameter.reshape).
    public func reshape(_ newShape: [Int], fill: Float) {
        shape = newShape
        value.removeAll(keepingCapacity: true); value.append(contentsOf: repeatElement(fill, count: newShape.reduce(1, *)))
    }
}

/// A view of an NCHW activation held in some layer's buffer (2-D activations use h = w = 1).
public struct Activation: @unchecked Sendable {
    public var n, c, h, w: Int
    public var pointer: UnsafeMutablePointer<Float>
    public init(n: Int, c: Int, h: Int, w: Int, pointer: UnsafeMutablePointer<Float>) {
        self.n = n; self.c = c; self.h = h; self.w = w; self.pointer = pointer
    }
    public var count: Int { n * c * h * w }
    public var plane: Int { h * w }
    public var shape: [Int] { [n, c, h, w] }
    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
    public var mutableBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

public enum Mode: Sendable { case train, eval }

/// A row of `dynaslim info`: one layer with parameters or compute.
public struct LayerSummary: Sendable, Codable {
    public var name: String, kind: String, output: String, params: Int, macs: Int
}

public protocol Layer: AnyObject {
    /// Parameters with their state_dict names relative to this layer ("weight", "0.conv1.weight", ...).
    var namedParameters: [(String, Parameter)] { get }
    var namedBuffers: [(String, StateBuffer)] { get }
    /// Output shape for one sample, or a ShapeError naming the mismatch.
    func outputShape(_ input: FeatureShape) throws -> FeatureShape
    /// Multiply-accumulates per sample.
    func macs(_ input: FeatureShape) -> Int
    func forward(_ x: Activation, mode: Mode) throws -> Activation
    /// dy has the shape of the last forward's output; returns dx (nil when !needInputGrad).
    /// Parameter gradients are *overwritten* (each parameter is used once per step).
    func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation?
    func summary(prefix: String, input: FeatureShape) -> [LayerSummary]
}

extension Layer {
    public var namedBuffers: [(String, StateBuffer)] { [] }
    public var namedParameters: [(String, Parameter)] { [] }
    public func summary(prefix: String, input: FeatureShape) -> [LayerSummary] {
        let out = (try? outputShape(input))?.description ?? "?"
        return [LayerSummary(name: prefix.isEmpty ? "\(Self.self)" : prefix, kind: "\(Self.self)", output: out,
                             params: namedParameters.reduce(0) { $0 + $1.1.count }, macs: macs(input))]
    }
}

func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

/// An activation buffer that grows to the largest batch seen and is then reused.
final class ActivationBuffer {
    private let storage = ScratchBuffer()
    func view(n: Int, _ s: FeatureShape) -> Activation {
        Activation(n: n, c: s.c, h: s.h, w: s.w, pointer: storage.reserve(n * s.count))
    }
}
