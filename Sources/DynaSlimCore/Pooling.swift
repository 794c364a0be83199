// Pooling over NCHW planes, no padding: max pool (argmax saved for backward), average pool
// (divides by the full window), and global average pool [N, C, H, W] -> [N, C].

public struct PoolGeometry: Equatable, Sendable {
    public var batch, channels, inHeight, inWidth, kernel, stride: Int
    public init(batch: Int, channels: Int, inHeight: Int, inWidth: Int, kernel: Int, stride: Int) {
        self.batch = batch; self.channels = channels; self.inHeight = inHeight; self.inWidth = inWidth
        self.kernel = kernel; self.stride = stride
    }
    public var outHeight: Int { (inHeight - kernel) / stride + 1 }
    public var outWidth: Int { (inWidth - kernel) / stride + 1 }
    public var planes: Int { batch * channels }
    public var inputCount: Int { planes * inHeight * inWidth }
    public var outputCount: Int { planes * outHeight * outWidth }
    public var inputShape: [Int] { [batch, channels, inHeight, inWidth] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

    func validate(_ op: String, input: Int, output: Int) throws(ShapeError) {
        try ShapeError.require(kernel > 0 && stride > 0 && kernel <= inHeight && kernel <= inWidth && planes > 0,
                               op, "kernel \(kernel) stride \(stride) does not fit input \(inputShape)")
        try ShapeError.check(op, "input", count: input, expected: inputCount, shape: inputShape)
        try ShapeError.check(op, "output", count: output, expected: outputCount, shape: outputShape)
    }
}

public enum MaxPool2D {
    /// `argmax[i]` receives the flat input index of output i's maximum (first one on ties).
    public static func forward(_ g: PoolGeometry, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                               argmax: UnsafeMutableBufferPointer<Int32>) throws(ShapeError) {
        try g.validate("maxpool forward", input: input.count, output: output.count)
        try ShapeError.check("maxpool forward", "argmax", count: argmax.count, expected: g.outputCount, shape: g.outputShape)
        let H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth
        for p in 0..<g.planes {
            for oy in 0..<Ho {
                for ox in 0..<Wo {
                    var best = -Float.infinity, bi = -1
                    for ky in 0..<g.kernel {
                        for kx in 0..<g.kernel {
                            let i = (p * H + oy * g.stride + ky) * W + ox * g.stride + kx
                            if input[i] > best || bi < 0 { best = input[i]; bi = i }
                        }
                    }
                    let o = (p * Ho + oy) * Wo + ox
                    output[o] = best; argmax[o] = Int32(bi)
                }
            }
        }
    }

    /// inputGrad is overwritten: zero except at each window's argmax.
    public static func backward(_ g: PoolGeometry, argmax: UnsafeBufferPointer<Int32>, outputGrad: UnsafeBufferPointer<Float>,
                                inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try g.validate("maxpool backward", input: inputGrad.count, output: outputGrad.count)
        try ShapeError.check("maxpool backward", "argmax", count: argmax.count, expected: g.outputCount, shape: g.outputShape)
        inputGrad.update(repeating: 0)
        for o in 0..<g.outputCount { inputGrad[Int(argmax[o])] += outputGrad[o] }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(_ g: PoolGeometry, input: [T]) -> [T] {
        var y = [T](repeating: 0, count: g.outputCount)
        for p in 0..<g.planes { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            var m = -T.infinity
            for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                m = max(m, input[(p * g.inHeight + oy * g.stride + ky) * g.inWidth + ox * g.stride + kx])
            } }
            y[(p * g.outHeight + oy) * g.outWidth + ox] = m
        } } }
        return y
    }

    public static func backwardNaive<T: BinaryFloatingPoint>(_ g: PoolGeometry, input: [T], outputGrad: [T]) -> [T] {
        var dx = [T](repeating: 0, count: g.inputCount)
        for p in 0..<g.planes { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            var m = -T.infinity, mi = 0
            for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                let i = (p * g.inHeight + oy * g.stride + ky) * g.inWidth + ox * g.stride + kx
                if input[i] > m { m = input[i]; mi = i }
            } }
            dx[mi] += outputGrad[(p * g.outHeight + oy) * g.outWidth + ox]
        } } }
        return dx
    }
}

public enum AvgPool2D {
    public static func forward(_ g: PoolGeometry, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try g.validate("avgpool forward", input: input.count, output: output.count)
        let H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth, inv = 1 / Float(g.kernel * g.kernel)
        if g.kernel == 2 && g.stride == 2 {
            // The threshold predictor's input pool (2x2, stride 2): the same sums in the same order
            // on row pointers; the general loop's index arithmetic took ~5 us per CIFAR image.
            let x = input.baseAddress!, y = output.baseAddress!
            for p in 0..<g.planes { for oy in 0..<Ho {
                let r0 = x + (p * H + 2 * oy) * W, r1 = r0 + W, d = y + (p * Ho + oy) * Wo
                for ox in 0..<Wo { d[ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * inv }
            } }
            return
        }
        for p in 0..<g.planes { for oy in 0..<Ho { for ox in 0..<Wo {
            var s: Float = 0
            for ky in 0..<g.kernel { for kx in 0..<g.kernel { s += input[(p * H + oy * g.stride + ky) * W + ox * g.stride + kx] } }
            output[(p * Ho + oy) * Wo + ox] = s * inv
        } } }
    }

    /// inputGrad is overwritten.
    public static func backward(_ g: PoolGeometry, outputGrad: UnsafeBufferPointer<Float>, inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try g.validate("avgpool backward", input: inputGrad.count, output: outputGrad.count)
        let H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth, inv = 1 / Float(g.kernel * g.kernel)
        inputGrad.update(repeating: 0)
        for p in 0..<g.planes { for oy in 0..<Ho { for ox in 0..<Wo {
            let d = outputGrad[(p * Ho + oy) * Wo + ox] * inv
            for ky in 0..<g.kernel { for kx in 0..<g.kernel { inputGrad[(p * H + oy * g.stride + ky) * W + ox * g.stride + kx] += d } }
        } } }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(_ g: PoolGeometry, input: [T]) -> [T] {
        var y = [T](repeating: 0, count: g.outputCount)
        for p in 0..<g.planes { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            var s: T = 0
            for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                s += input[(p * g.inHeight + oy * g.stride + ky) * g.inWidth + ox * g.stride + kx]
            } }
            y[(p * g.outHeight + oy) * g.outWidth + ox] = s / T(g.kernel * g.kernel)
        } } }
        return y
    }

    public static func backwardNaive<T: BinaryFloatingPoint>(_ g: PoolGeometry, outputGrad: [T]) -> [T] {
        var dx = [T](repeating: 0, count: g.inputCount)
        for p in 0..<g.planes { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                dx[(p * g.inHeight + oy * g.stride + ky) * g.inWidth + ox * g.stride + kx] +=
                    outputGrad[(p * g.outHeight + oy) * g.outWidth + ox] / T(g.kernel * g.kernel)
            } }
        } } }
        return dx
    }
}

/// [planes, P] -> [planes]: the mean of each plane (N*C planes of H*W values).
public enum GlobalAvgPool {
    public static func forward(planes: Int, plane: Int, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("global avgpool forward", "input", count: input.count, expected: planes * plane, shape: [planes, plane])
        try ShapeError.check("global avgpool forward", "output", count: output.count, expected: planes, shape: [planes])
        let inv = 1 / Float(plane)
        for p in 0..<planes {
            var s: Float = 0
            let row = input.baseAddress! + p * plane
            for i in 0..<plane { s += row[i] }
            output[p] = s * inv
        }
    }

    /// inputGrad (overwritten) = outputGrad / plane, broadcast over each plane.
    public static func backward(planes: Int, plane: Int, outputGrad: UnsafeBufferPointer<Float>, inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("global avgpool backward", "output gradient", count: outputGrad.count, expected: planes, shape: [planes])
        try ShapeError.check("global avgpool backward", "input gradient", count: inputGrad.count, expected: planes * plane, shape: [planes, plane])
        let inv = 1 / Float(plane)
        for p in 0..<planes { (inputGrad.baseAddress! + p * plane).update(repeating: outputGrad[p] * inv, count: plane) }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(planes: Int, plane: Int, input: [T]) -> [T] {
        (0..<planes).map { p in input[(p * plane)..<((p + 1) * plane)].reduce(0, +) / T(plane) }
    }
    public static func backwardNaive<T: BinaryFloatingPoint>(planes: Int, plane: Int, outputGrad: [T]) -> [T] {
        (0..<(planes * plane)).map { outputGrad[$0 / plane] / T(plane) }
    }
}
