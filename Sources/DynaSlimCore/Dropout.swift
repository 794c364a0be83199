// Inverted dropout (Srivastava et al. 2014): in training each element is kept with
// probability 1-p and scaled by 1/(1-p); the mask (0 or 1/(1-p)) is saved for backward.
// Eval is the identity.

public enum Dropout {
    /// Draws a fresh mask from `rng`, writes output = input * mask.
    public static func forward(probability p: Float, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                               mask: UnsafeMutableBufferPointer<Float>, rng: inout SplitMix64) throws(ShapeError) {
        try ShapeError.require(p >= 0 && p < 1, "dropout forward", "probability \(p) outside [0, 1)")
        try ShapeError.check("dropout forward", "output", count: output.count, expected: input.count, shape: [input.count])
        try ShapeError.check("dropout forward", "mask", count: mask.count, expected: input.count, shape: [input.count])
        let scale = 1 / (1 - p)
        for i in 0..<input.count {
            let m: Float = rng.nextFloat() >= p ? scale : 0
            mask[i] = m
            output[i] = input[i] * m
        }
    }

    /// dx = dy * mask (may run in place).
    public static func backward(mask: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
                                inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("dropout backward", "output gradient", count: outputGrad.count, expected: mask.count, shape: [mask.count])
        try ShapeError.check("dropout backward", "input gradient", count: inputGrad.count, expected: mask.count, shape: [mask.count])
        for i in 0..<mask.count { inputGrad[i] = outputGrad[i] * mask[i] }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(input: [T], mask: [T]) -> [T] { zip(input, mask).map { $0 * $1 } }
    public static func backwardNaive<T: BinaryFloatingPoint>(mask: [T], outputGrad: [T]) -> [T] { zip(mask, outputGrad).map { $0 * $1 } }
}
