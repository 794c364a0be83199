// Fully connected layer, PyTorch layout: y[N, out] = x[N, in] * W^T + b, W [out, in].
// Backward: dx = dy W; dW = dy^T x; db = sum_n dy.

public enum Linear {
    static func check(_ op: String, batch: Int, inFeatures: Int, outFeatures: Int, _ bufs: [(String, Int, [Int])]) throws(ShapeError) {
        try ShapeError.require(batch > 0 && inFeatures > 0 && outFeatures > 0, op, "invalid shape batch \(batch) in \(inFeatures) out \(outFeatures)")
        for (name, count, shape) in bufs { try ShapeError.check(op, name, count: count, expected: shape.reduce(1, *), shape: shape) }
    }

    public static func forward(batch: Int, inFeatures: Int, outFeatures: Int, input: UnsafeBufferPointer<Float>,
                               weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
                               output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try check("linear forward", batch: batch, inFeatures: inFeatures, outFeatures: outFeatures, [
            ("input", input.count, [batch, inFeatures]), ("weight", weight.count, [outFeatures, inFeatures]),
            ("output", output.count, [batch, outFeatures])] + (bias.map { [("bias", $0.count, [outFeatures])] } ?? []))
        BLAS.sgemm(transB: true, m: batch, n: outFeatures, k: inFeatures, a: input.baseAddress!, lda: inFeatures,
                   b: weight.baseAddress!, ldb: inFeatures, c: output.baseAddress!, ldc: outFeatures)
        if let bias { for n in 0..<batch { for o in 0..<outFeatures { output[n * outFeatures + o] += bias[o] } } }
    }

    /// Gradients overwritten; inputGrad and biasGrad optional.
    public static func backward(batch: Int, inFeatures: Int, outFeatures: Int, input: UnsafeBufferPointer<Float>,
                                weight: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
                                inputGrad: UnsafeMutableBufferPointer<Float>?, weightGrad: UnsafeMutableBufferPointer<Float>,
                                biasGrad: UnsafeMutableBufferPointer<Float>?) throws(ShapeError) {
        var bufs: [(String, Int, [Int])] = [("input", input.count, [batch, inFeatures]), ("weight", weight.count, [outFeatures, inFeatures]),
            ("output gradient", outputGrad.count, [batch, outFeatures]), ("weight gradient", weightGrad.count, [outFeatures, inFeatures])]
        if let inputGrad { bufs.append(("input gradient", inputGrad.count, [batch, inFeatures])) }
        if let biasGrad { bufs.append(("bias gradient", biasGrad.count, [outFeatures])) }
        try check("linear backward", batch: batch, inFeatures: inFeatures, outFeatures: outFeatures, bufs)
        if let inputGrad {
            BLAS.sgemm(m: batch, n: inFeatures, k: outFeatures, a: outputGrad.baseAddress!, lda: outFeatures,
                       b: weight.baseAddress!, ldb: inFeatures, c: inputGrad.baseAddress!, ldc: inFeatures)
        }
        BLAS.sgemm(transA: true, m: outFeatures, n: inFeatures, k: batch, a: outputGrad.baseAddress!, lda: outFeatures,
                   b: input.baseAddress!, ldb: inFeatures, c: weightGrad.baseAddress!, ldc: inFeatures)
        if let biasGrad {
            for o in 0..<outFeatures {
                var s: Float = 0
                for n in 0..<batch { s += outputGrad[n * outFeatures + o] }
                biasGrad[o] = s
            }
        }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(batch: Int, inFeatures: Int, outFeatures: Int, input: [T], weight: [T], bias: [T]?) -> [T] {
        var y = [T](repeating: 0, count: batch * outFeatures)
        for n in 0..<batch { for o in 0..<outFeatures {
            var s: T = bias?[o] ?? 0
            for i in 0..<inFeatures { s += input[n * inFeatures + i] * weight[o * inFeatures + i] }
            y[n * outFeatures + o] = s
        } }
        return y
    }

    public static func backwardNaive<T: BinaryFloatingPoint>(batch: Int, inFeatures: Int, outFeatures: Int, input: [T], weight: [T],
                                                         outputGrad: [T]) -> (input: [T], weight: [T], bias: [T]) {
        var dx = [T](repeating: 0, count: batch * inFeatures), dw = [T](repeating: 0, count: outFeatures * inFeatures)
        var db = [T](repeating: 0, count: outFeatures)
        for n in 0..<batch { for o in 0..<outFeatures {
            let d = outputGrad[n * outFeatures + o]
            db[o] += d
            for i in 0..<inFeatures {
                dx[n * inFeatures + i] += d * weight[o * inFeatures + i]
                dw[o * inFeatures + i] += d * input[n * inFeatures + i]
            }
        } }
        return (dx, dw, db)
    }
}
