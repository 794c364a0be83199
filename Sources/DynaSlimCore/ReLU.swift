// ReLU: y = max(x, 0); backward dx = dy * [y > 0] (uses the output, so it may run in place).

public enum ReLU {
    public static func forward(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("relu forward", "output", count: output.count, expected: input.count, shape: [input.count])
        let x = input.baseAddress!, y = output.baseAddress!
        for i in 0..<input.count { y[i] = max(x[i], 0) }
    }

    /// dx = dy * [y > 0]; `inputGrad` may alias `outputGrad`.
    public static func backward(output: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
                                inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("relu backward", "output gradient", count: outputGrad.count, expected: output.count, shape: [output.count])
        try ShapeError.check("relu backward", "input gradient", count: inputGrad.count, expected: output.count, shape: [output.count])
        let y = output.baseAddress!, dy = outputGrad.baseAddress!, dx = inputGrad.baseAddress!
        for i in 0..<output.count { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(_ x: [T]) -> [T] { x.map { $0 > 0 ? $0 : 0 } }
    public static func backwardNaive<T: BinaryFloatingPoint>(input: [T], outputGrad: [T]) -> [T] {
        zip(input, outputGrad).map { $0 > 0 ? $1 : 0 }
    }
}
