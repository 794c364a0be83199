// Residual connections (He et al. 2016): the elementwise add y = a + b, and the parameter-free
// "option A" shortcut that subsamples spatially by `stride` and zero-pads channels,
// x [N, Cin, H, W] -> [N, padBefore + Cin + padAfter, ceil(H/s), ceil(W/s)]
// (PyTorch reference: F.pad(x[:, :, ::2, ::2], (0,0,0,0, planes//4, planes//4))).

public enum ResidualAdd {
    /// output = a + b, or relu(a + b) with `relu` (the end of a residual block); output may alias
    /// a or b. Backward passes dy (times [output > 0] with relu) to both branches unchanged.
    public static func forward(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                               relu: Bool = false) throws(ShapeError) {
        try ShapeError.check("residual add", "second operand", count: b.count, expected: a.count, shape: [a.count])
        try ShapeError.check("residual add", "output", count: output.count, expected: a.count, shape: [a.count])
        let pa = SendableConstPointer(a.baseAddress!), pb = SendableConstPointer(b.baseAddress!), po = SendablePointer(output.baseAddress!)
        Parallel.forRanges(a.count) { r in
            VectorReductions.add(pa.advanced(by: r.lowerBound), pb.advanced(by: r.lowerBound), po.advanced(by: r.lowerBound), r.count, relu: relu)
        }
    }
    public static func forwardNaive<T: BinaryFloatingPoint>(_ a: [T], _ b: [T]) -> [T] { zip(a, b).map(+) }
}

public struct ZeroPadShortcutGeometry: Equatable, Sendable {
    public var batch, inChannels, inHeight, inWidth, stride, padBefore, padAfter: Int
    public init(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, stride: Int, padBefore: Int, padAfter: Int) {
        self.batch = batch; self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.stride = stride; self.padBefore = padBefore; self.padAfter = padAfter
    }
    public var outChannels: Int { padBefore + inChannels + padAfter }
    public var outHeight: Int { (inHeight + stride - 1) / stride }
    public var outWidth: Int { (inWidth + stride - 1) / stride }
    public var inputCount: Int { batch * inChannels * inHeight * inWidth }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var inputShape: [Int] { [batch, inChannels, inHeight, inWidth] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
}

public enum ZeroPadShortcut {
    public static func forward(_ g: ZeroPadShortcutGeometry, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("zero-pad shortcut forward", "input", count: input.count, expected: g.inputCount, shape: g.inputShape)
        try ShapeError.check("zero-pad shortcut forward", "output", count: output.count, expected: g.outputCount, shape: g.outputShape)
        output.update(repeating: 0)
        let Ho = g.outHeight, Wo = g.outWidth, H = g.inHeight, W = g.inWidth
        for n in 0..<g.batch { for c in 0..<g.inChannels {
            let src = input.baseAddress! + (n * g.inChannels + c) * H * W
            let dst = output.baseAddress! + (n * g.outChannels + g.padBefore + c) * Ho * Wo
            for oy in 0..<Ho { for ox in 0..<Wo { dst[oy * Wo + ox] = src[oy * g.stride * W + ox * g.stride] } }
        } }
    }

    /// inputGrad (overwritten) gathers dy at the kept positions; padded channels get no gradient.
    public static func backward(_ g: ZeroPadShortcutGeometry, outputGrad: UnsafeBufferPointer<Float>, inputGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) {
        try ShapeError.check("zero-pad shortcut backward", "output gradient", count: outputGrad.count, expected: g.outputCount, shape: g.outputShape)
        try ShapeError.check("zero-pad shortcut backward", "input gradient", count: inputGrad.count, expected: g.inputCount, shape: g.inputShape)
        inputGrad.update(repeating: 0)
        let Ho = g.outHeight, Wo = g.outWidth, H = g.inHeight, W = g.inWidth
        for n in 0..<g.batch { for c in 0..<g.inChannels {
            let dst = inputGrad.baseAddress! + (n * g.inChannels + c) * H * W
            let src = outputGrad.baseAddress! + (n * g.outChannels + g.padBefore + c) * Ho * Wo
            for oy in 0..<Ho { for ox in 0..<Wo { dst[oy * g.stride * W + ox * g.stride] = src[oy * Wo + ox] } }
        } }
    }

    public static func forwardNaive<T: BinaryFloatingPoint>(_ g: ZeroPadShortcutGeometry, input: [T]) -> [T] {
        var y = [T](repeating: 0, count: g.outputCount)
        for n in 0..<g.batch { for co in 0..<g.outChannels { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            let ci = co - g.padBefore
            if ci < 0 || ci >= g.inChannels { continue }
            y[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox] =
                input[((n * g.inChannels + ci) * g.inHeight + oy * g.stride) * g.inWidth + ox * g.stride]
        } } } }
        return y
    }
    public static func backwardNaive<T: BinaryFloatingPoint>(_ g: ZeroPadShortcutGeometry, outputGrad: [T]) -> [T] {
        var dx = [T](repeating: 0, count: g.inputCount)
        for n in 0..<g.batch { for co in 0..<g.outChannels { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            let ci = co - g.padBefore
            if ci < 0 || ci >= g.inChannels { continue }
            dx[((n * g.inChannels + ci) * g.inHeight + oy * g.stride) * g.inWidth + ox * g.stride] +=
                outputGrad[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox]
        } } } }
        return dx
    }
}
