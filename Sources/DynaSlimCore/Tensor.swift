// A dense Float32 tensor, row-major (NCHW for images). Value semantics over a Swift array.

public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) throws(ShapeError) {
        try ShapeError.require(shape.allSatisfy { $0 >= 0 }, "Tensor", "negative dimension in \(shape)")
        try ShapeError.check("Tensor", "data", count: data.count, expected: shape.reduce(1, *), shape: shape)
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Normal(0, std) entries from `rng`.
    public init(randomNormal shape: [Int], std: Float = 1, rng: inout SplitMix64) {
        self.init(zeros: shape)
        for i in data.indices { data[i] = rng.nextNormal() * std }
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    public func reshaped(_ newShape: [Int]) throws(ShapeError) -> Tensor {
        try ShapeError.require(
            newShape.reduce(1, *) == count, "reshape", "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        return try Tensor(shape: newShape, data: data)
    }
}

/// Per-sample shape of an image or activation: channels x height x width.
public struct FeatureShape: Equatable, Sendable, Codable, CustomStringConvertible {
    public var c, h, w: Int
    public init(c: Int, h: Int, w: Int) { self.c = c; self.h = h; self.w = w }
    public var count: Int { c * h * w }
    public var description: String { "\(c)x\(h)x\(w)" }
}

