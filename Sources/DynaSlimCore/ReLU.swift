// ReLU: y = max(x, 0); backward dx = dy * [y > 0] (uses the output, so it may run in place).

public enum ReLU {
    public static func forward(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("relu forward", "output", count: output.count, expected: input.count, shape: [input.count])
        let x = SendableConstPointer(input.baseAddress!), y = SendablePointer(output.baseAddress!)
        Parallel.forRanges(input.count) { r in
            VectorReductions.affine(x.advanced(by: r.lowerBound), y.advanced(by: r.lowerBound), r.count, scale: 1, shift: 0, relu: true)
        }
    }

    /// dx = dy * [y > 0]; `inputGrad` may alias `outputGrad`.
    public static func backward(output: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
                                inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("relu backward", "output gradient", count: outputGrad.count, expected: output.count, shape: [output.count])
        try ShapeError.check("relu backward", "input gradient", count: inputGrad.count, expected: output.count, shape: [output.count])
        let y = SendableConstPointer(output.baseAddress!), dy = SendableConstPointer(outputGrad.baseAddress!)
        let dx = SendablePointer(inputGrad.baseAddress!)
        Parallel.forRanges(output.count) { r in
            VectorReductions.maskPositive(dy.advanced(by: r.lowerBound), mask: y.advanced(by: r.lowerBound), dx.advanced(by: r.lowerBound), r.count)
        }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(_ x: [T]) -> [T] { x.map { $0 > 0 ? $0 : 0 } }
    public static func backwardNaive<T: BinaryFloatingPoint>(input: [T], outputGrad: [T]) -> [T] {
        zip(input, outputGrad).map { $0 > 0 ? $1 : 0 }
    }
}
