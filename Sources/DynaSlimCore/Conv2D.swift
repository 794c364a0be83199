import Foundation
// 2-D convolution, NCHW, weight [outC, inC, kH, kW] (PyTorch layout), symmetric zero padding.
// Fast path: im2col + SGEMM (y = W[outC x K] * col[K x P], K = inC*kH*kW, P = outH*outW);
// several samples share one GEMM when a sample's P is small, so GEMMs stay near N ~ 1-2k.
// Backward: dCol = W^T dY then col2im (input gradient); dW = dY col^T (weight gradient),
// accumulated per thread and reduced. Naive twins below compute the same sums by direct loops.

public struct Conv2DGeometry: Equatable, Sendable, Codable, CustomStringConvertible {
    public var batch, inChannels, inHeight, inWidth, outChannels, kernelHeight, kernelWidth, stride, padding: Int

    public init(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.batch = batch; self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels; self.kernelHeight = kernel; self.kernelWidth = kernel
        self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (inHeight + 2 * padding - kernelHeight) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * padding - kernelWidth) / stride + 1 }
    public var outPlane: Int { outHeight * outWidth }
    public var inPlane: Int { inHeight * inWidth }
    /// Rows of the im2col matrix: one per (input channel, ky, kx).
    public var colRows: Int { inChannels * kernelHeight * kernelWidth }
    public var inputShape: [Int] { [batch, inChannels, inHeight, inWidth] }
    public var weightShape: [Int] { [outChannels, inChannels, kernelHeight, kernelWidth] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
    public var inputCount: Int { batch * inChannels * inPlane }
    public var weightCount: Int { outChannels * colRows }
    public var outputCount: Int { batch * outChannels * outPlane }
    /// Multiply-accumulates of the forward pass for the whole batch.
    public var macs: Int { batch * outChannels * outPlane * colRows }
    /// A 1x1, stride-1, unpadded conv needs no im2col: the input plane is the col matrix.
    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }

    public var description: String {
        "conv \(inChannels)->\(outChannels) k\(kernelHeight)x\(kernelWidth) s\(stride) p\(padding) on \(batch)x\(inChannels)x\(inHeight)x\(inWidth)"
    }

    func validate(_ op: String) throws(ShapeError) {
        try ShapeError.require(
            batch > 0 && inChannels > 0 && outChannels > 0 && kernelHeight > 0 && kernelWidth > 0 && stride > 0
                && padding >= 0 && outHeight > 0 && outWidth > 0,
            op, "invalid geometry \(self)")
    }
}

public enum Conv2D {
    /// Samples are grouped into one GEMM until the group's im2col matrix holds about
    /// `targetColFloats` floats (128 KiB: stays in this CPU's 512 KiB L2 next to the GEMM's packed
    /// panels), with at least `minGemmColumns` columns. Tuned with `dynaslim bench kernels`
    /// (32k/128 beat 64k/256, 128k/256 and 256k/512 on the ResNet-20 layers; BENCHMARKS.md).
    public static let targetColFloats = 1 << 15
    public static let minGemmColumns = 128
    /// Route 3x3 padding-1 convs (stride 1 or 2) through the direct kernel (DirectConv3x3); false forces
    /// im2col + SGEMM everywhere (the kernel benchmark compares the two).
    /// Set once at start-up to switch it off for a whole process (A/B benchmarks: the CLI's $DYNASLIM_DIRECT_CONV=0).
    nonisolated(unsafe) public static var useDirect3x3 = true

    static func samplesPerGemm(_ g: Conv2DGeometry, chunk: Int) -> Int {
        let cols = max(minGemmColumns, targetColFloats / max(1, g.colRows))
        return max(1, min(chunk, cols / max(1, g.outPlane)))
    }

    // MARK: im2col / col2im

    /// Writes sample `x` ([inC, H, W]) as the im2col matrix [colRows, outPlane] into `col`, whose
    /// rows are `ld` floats apart (ld >= outPlane lets several samples share one matrix).
    @inline(__always)
    public static func im2col(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        let kh = g.kernelHeight, kw = g.kernelWidth, s = g.stride, p = g.padding
        let H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth
        for c in 0..<g.inChannels {
            let plane = x + c * H * W
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = col + ((c * kh + ky) * kw + kx) * ld
                    // Output columns ox whose input column ix = ox*s - p + kx lies in [0, W).
                    let oxLo = max(0, (p - kx + s - 1) / s)
                    let oxHi = min(Wo, (W - 1 + p - kx) / s + 1)  // exclusive
                    for oy in 0..<Ho {
                        let iy = oy * s - p + ky
                        let dst = row + oy * Wo
                        if iy < 0 || iy >= H || oxLo >= oxHi {
                            dst.update(repeating: 0, count: Wo)
                            continue
                        }
                        for ox in 0..<oxLo { dst[ox] = 0 }
                        let src = plane + iy * W
                        if s == 1 {
                            let shifted = src + (kx - p)
                            for ox in oxLo..<oxHi { dst[ox] = shifted[ox] }
                        } else {
                            var ix = oxLo * s - p + kx
                            for ox in oxLo..<oxHi { dst[ox] = src[ix]; ix += s }
                        }
                        for ox in oxHi..<Wo { dst[ox] = 0 }
                    }
                }
            }
        }
    }

    /// Adds the im2col-shaped gradient `col` (rows `ld` apart) back into sample gradient `dx`
    /// ([inC, H, W]); `dx` must be zeroed (or hold a gradient to add to) by the caller.
    @inline(__always)
    public static func col2imAdd(_ g: Conv2DGeometry, _ col: UnsafePointer<Float>, ld: Int, _ dx: UnsafeMutablePointer<Float>) {
        let kh = g.kernelHeight, kw = g.kernelWidth, s = g.stride, p = g.padding
        let H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth
        for c in 0..<g.inChannels {
            let plane = dx + c * H * W
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = col + ((c * kh + ky) * kw + kx) * ld
                    let oxLo = max(0, (p - kx + s - 1) / s)
                    let oxHi = min(Wo, (W - 1 + p - kx) / s + 1)
                    if oxLo >= oxHi { continue }
                    for oy in 0..<Ho {
                        let iy = oy * s - p + ky
                        if iy < 0 || iy >= H { continue }
                        let src = row + oy * Wo
                        let dst = plane + iy * W
                        var ix = oxLo * s - p + kx
                        for ox in oxLo..<oxHi { dst[ix] += src[ox]; ix += s }
                    }
                }
            }
        }
    }

    /// im2col of one sample, by the shifted-copy path where it applies (ShiftIm2col.swift).
    @inline(__always)
    static func sampleIm2col(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int,
                             workspace: Workspace, chunk: Int) {
        if ShiftIm2col.applies(g) {
            ShiftIm2col.im2col(g, x, col, ld: ld, phaseBuffer: workspace.buffer(chunk, 3, count: max(1, ShiftIm2col.phaseScratch(g))))
        } else {
            im2col(g, x, col, ld: ld)
        }
    }

    /// im2col of one sample for callers that manage their own scratch (the inference engine).
    /// `phaseBuffer` must hold `im2colPhaseScratch(g)` floats.
    @inline(__always)
    public static func im2colSample(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int,
                                    phaseBuffer: UnsafeMutablePointer<Float>) {
        if ShiftIm2col.applies(g) { ShiftIm2col.im2col(g, x, col, ld: ld, phaseBuffer: phaseBuffer) } else { im2col(g, x, col, ld: ld) }
    }
    public static func im2colPhaseScratch(_ g: Conv2DGeometry) -> Int { max(1, ShiftIm2col.phaseScratch(g)) }

    /// dx (overwritten) = col2im(dcol) for one sample; may modify dcol.
    @inline(__always)
    static func sampleCol2im(_ g: Conv2DGeometry, _ dcol: UnsafeMutablePointer<Float>, ld: Int, _ dx: UnsafeMutablePointer<Float>,
                             workspace: Workspace, chunk: Int) {
        if ShiftIm2col.applies(g) {
            ShiftIm2col.col2im(g, dcol, ld: ld, dx, phaseBuffer: workspace.buffer(chunk, 3, count: max(1, ShiftIm2col.phaseScratch(g))))
        } else {
            dx.update(repeating: 0, count: g.inChannels * g.inPlane)
            col2imAdd(g, dcol, ld: ld, dx)
        }
    }

    // MARK: fast forward / backward

    /// output[N, outC, Ho, Wo] = conv(input, weight) (+ bias[outC] when given).
    public static func forward(
        _ g: Conv2DGeometry,
        input: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>? = nil,
        output: UnsafeMutableBufferPointer<Float>, workspace: Workspace
    ) throws(ShapeError) {
        let op = "conv2d forward"
        try g.validate(op)
        try ShapeError.check(op, "input", count: input.count, expected: g.inputCount, shape: g.inputShape)
        try ShapeError.check(op, "weight", count: weight.count, expected: g.weightCount, shape: g.weightShape)
        try ShapeError.check(op, "output", count: output.count, expected: g.outputCount, shape: g.outputShape)
        if let bias { try ShapeError.check(op, "bias", count: bias.count, expected: g.outChannels, shape: [g.outChannels]) }
        let x = SendableConstPointer(input.baseAddress!), w = SendableConstPointer(weight.baseAddress!)
        let y = SendablePointer(output.baseAddress!), b = bias.map { SendableConstPointer($0.baseAddress!) }
        let inSize = g.inChannels * g.inPlane, outSize = g.outChannels * g.outPlane
        let M = g.outChannels, K = g.colRows, P = g.outPlane
        if DirectConv3x3.applies(g) && useDirect3x3 {
            // 3x3 convs with padding 1, stride 1 or 2: the direct kernel (no im2col, no GEMM packing), sample by sample.
            let padCount = DirectConv3x3.paddedCount(channels: g.inChannels, height: g.inHeight, width: g.inWidth, stride: g.stride)
            Parallel.forChunks(g.batch, threads: workspace.threads) { chunk, range in
                let padded = workspace.buffer(chunk, 0, count: padCount)
                for n in range {
                    DirectConv3x3.forwardSample(g, x.advanced(by: n * inSize), weight: w.base, bias: b?.base,
                                                y.advanced(by: n * outSize), padded: padded)
                }
            }
            return
        }
        Parallel.forChunks(g.batch, threads: workspace.threads) { chunk, range in
            let group = samplesPerGemm(g, chunk: range.count)
            var n = range.lowerBound
            while n < range.upperBound {
                let gs = min(group, range.upperBound - n)
                if gs == 1 {
                    let colPtr: UnsafePointer<Float>
                    if g.isPointwise { colPtr = x.advanced(by: n * inSize) } else {
                        let col = workspace.buffer(chunk, 0, count: K * P)
                        sampleIm2col(g, x.advanced(by: n * inSize), col, ld: P, workspace: workspace, chunk: chunk)
                        colPtr = UnsafePointer(col)
                    }
                    BLAS.sgemm(m: M, n: P, k: K, a: w.base, lda: K, b: colPtr, ldb: P, c: y.advanced(by: n * outSize), ldc: P)
                } else {
                    let ld = gs * P
                    let col = workspace.buffer(chunk, 0, count: K * ld)
                    let tmp = workspace.buffer(chunk, 1, count: M * ld)
                    for j in 0..<gs { sampleIm2col(g, x.advanced(by: (n + j) * inSize), col + j * P, ld: ld, workspace: workspace, chunk: chunk) }
                    BLAS.sgemm(m: M, n: ld, k: K, a: w.base, lda: K, b: col, ldb: ld, c: tmp, ldc: ld)
                    for j in 0..<gs {
                        for m in 0..<M { y.advanced(by: (n + j) * outSize + m * P).update(from: tmp + m * ld + j * P, count: P) }
                    }
                }
                if let b {
                    for j in 0..<gs {
                        for m in 0..<M {
                            let row = y.advanced(by: (n + j) * outSize + m * P), bm = b[m]
                            for i in 0..<P { row[i] += bm }
                        }
                    }
                }
                n += gs
            }
        }
    }

    /// Gradients of `forward`: inputGrad (overwritten; pass nil to skip, e.g. the first layer),
    /// weightGrad and biasGrad (overwritten), from outputGrad [N, outC, Ho, Wo].
    public static func backward(
        _ g: Conv2DGeometry,
        input: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
        inputGrad: UnsafeMutableBufferPointer<Float>?, weightGrad: UnsafeMutableBufferPointer<Float>,
        biasGrad: UnsafeMutableBufferPointer<Float>? = nil, workspace: Workspace
    ) throws(ShapeError) {
        let op = "conv2d backward"
        try g.validate(op)
        try ShapeError.check(op, "input", count: input.count, expected: g.inputCount, shape: g.inputShape)
        try ShapeError.check(op, "weight", count: weight.count, expected: g.weightCount, shape: g.weightShape)
        try ShapeError.check(op, "output gradient", count: outputGrad.count, expected: g.outputCount, shape: g.outputShape)
        try ShapeError.check(op, "weight gradient", count: weightGrad.count, expected: g.weightCount, shape: g.weightShape)
        if let inputGrad { try ShapeError.check(op, "input gradient", count: inputGrad.count, expected: g.inputCount, shape: g.inputShape) }
        if let biasGrad { try ShapeError.check(op, "bias gradient", count: biasGrad.count, expected: g.outChannels, shape: [g.outChannels]) }
        let x = SendableConstPointer(input.baseAddress!), w = SendableConstPointer(weight.baseAddress!)
        let dy = SendableConstPointer(outputGrad.baseAddress!)
        // For stride-1 "same" convs the input gradient is itself a convolution: dY correlated with
        // the flipped, transposed kernel W'[ci, co, ky, kx] = W[co, ci, k-1-ky, k-1-kx], padding
        // k-1-p. Running it through `forward` avoids the large dCol matrix and the col2im pass.
        // The direct weight gradient beats im2col + SGEMM on large planes only (bench kernels:
        // stem and 16->16 @32 faster; 32->32 @16 and 64->64 @8 slower), so it is used from 512 pixels.
        // With AVX-512 the 16-lane kernel (whole 16-pixel rows) also takes the 16x16 planes (A/B in BENCHMARKS.md).
        let wide = DirectConv3x3.wideWeightGradient(height: g.outHeight, width: g.outWidth)
        let directWeightGrad = useDirect3x3 && DirectConv3x3.applies(g) && g.stride == 1 && g.outPlane >= (wide ? 256 : 512)
        let inputGradByConv = inputGrad != nil
            && (directWeightGrad || (g.stride == 1 && !g.isPointwise && ShiftIm2col.applies(g) && g.kernelHeight == g.kernelWidth))
        let dx = inputGradByConv ? nil : inputGrad.map { SendablePointer($0.baseAddress!) }
        let inSize = g.inChannels * g.inPlane, outSize = g.outChannels * g.outPlane
        let M = g.outChannels, K = g.colRows, P = g.outPlane
        let chunks = max(1, min(workspace.threads, g.batch))
        if directWeightGrad {
            // dW by the direct kernel: no im2col matrix, no GEMM packing. Samples are padded in
            // groups of >= 32 output vectors, so small planes amortize the kernel's lane reduction.
            let padCount = DirectConv3x3.paddedCount(channels: g.inChannels, height: g.inHeight, width: g.inWidth)
            let vectorsPerSample = g.outHeight * (wide ? (g.outWidth + 15) / 16 : (g.outWidth + 7) / 8)
            let group = max(1, (32 + vectorsPerSample - 1) / vectorsPerSample)
            Parallel.forChunks(g.batch, threads: chunks) { chunk, range in
                let dw = workspace.buffer(chunk, 2, count: M * K)
                dw.update(repeating: 0, count: M * K)
                let padded = workspace.buffer(chunk, 0, count: padCount * min(group, range.count))
                var n = range.lowerBound
                while n < range.upperBound {
                    let gs = min(group, range.upperBound - n)
                    for j in 0..<gs {
                        DirectConv3x3.pad(channels: 0..<g.inChannels, height: g.inHeight, width: g.inWidth, x.advanced(by: (n + j) * inSize),
                                          channelStride: g.inPlane, into: padded + j * padCount)
                    }
                    DirectConv3x3.weightGradient(inChannels: g.inChannels, height: g.inHeight, width: g.inWidth, samples: gs,
                                                 padded: padded, paddedStride: padCount, outputGrad: dy.advanced(by: n * outSize),
                                                 outputGradStride: outSize, weightGrad: dw, weightStride: K, rows: 0..<M)
                    n += gs
                }
            }
        } else {
        Parallel.forChunks(g.batch, threads: chunks) { chunk, range in
            let dw = workspace.buffer(chunk, 2, count: M * K)  // this thread's partial dW
            var first = true
            let group = samplesPerGemm(g, chunk: range.count)
            var n = range.lowerBound
            while n < range.upperBound {
                let gs = min(group, range.upperBound - n)
                let ld = gs * P
                // dY for the group as one [M, gs*P] matrix (a view when gs == 1).
                let dyMat: UnsafePointer<Float>
                if gs == 1 { dyMat = dy.advanced(by: n * outSize) } else {
                    let t = workspace.buffer(chunk, 1, count: M * ld)
                    for j in 0..<gs {
                        for m in 0..<M { (t + m * ld + j * P).update(from: dy.advanced(by: (n + j) * outSize + m * P), count: P) }
                    }
                    dyMat = UnsafePointer(t)
                }
                // col for the group (a view for pointwise single samples).
                let colMat: UnsafePointer<Float>
                if gs == 1 && g.isPointwise { colMat = x.advanced(by: n * inSize) } else {
                    let col = workspace.buffer(chunk, 0, count: K * ld)
                    for j in 0..<gs { sampleIm2col(g, x.advanced(by: (n + j) * inSize), col + j * P, ld: ld, workspace: workspace, chunk: chunk) }
                    colMat = UnsafePointer(col)
                }
                // dW (+)= dY [M x ld] * col^T [ld x K]
                BLAS.sgemm(transB: true, m: M, n: K, k: ld, a: dyMat, lda: ld, b: colMat, ldb: ld,
                           beta: first ? 0 : 1, c: dw, ldc: K)
                first = false
                if let dx {
                    if gs == 1 && g.isPointwise {
                        BLAS.sgemm(transA: true, m: K, n: P, k: M, a: w.base, lda: K, b: dyMat, ldb: P,
                                   c: dx.advanced(by: n * inSize), ldc: P)
                    } else {
                        // dCol = W^T [K x M] * dY [M x ld], reusing the col buffer.
                        let dcol = workspace.buffer(chunk, 0, count: K * ld)
                        BLAS.sgemm(transA: true, m: K, n: ld, k: M, a: w.base, lda: K, b: dyMat, ldb: ld, c: dcol, ldc: ld)
                        for j in 0..<gs {
                            let dxs = dx.advanced(by: (n + j) * inSize)
                            if g.isPointwise {
                                for r in 0..<K { (dxs + r * P).update(from: dcol + r * ld + j * P, count: P) }
                            } else {
                                sampleCol2im(g, dcol + j * P, ld: ld, dxs, workspace: workspace, chunk: chunk)
                            }
                        }
                    }
                }
                n += gs
            }
        }
        }
        // Reduce the per-thread partial weight gradients.
        let dW = weightGrad.baseAddress!
        dW.update(from: workspace.buffer(0, 2, count: M * K), count: M * K)
        for c in 1..<chunks {
            let part = workspace.buffer(c, 2, count: M * K)
            for i in 0..<(M * K) { dW[i] += part[i] }
        }
        if inputGradByConv, let inputGrad {
            let k = g.kernelHeight, kk = k * k, Cin = g.inChannels
            let wt = workspace.buffer(0, 4, count: M * K)
            for co in 0..<M { for ci in 0..<Cin { for t in 0..<kk {
                wt[(ci * M + co) * kk + (kk - 1 - t)] = weight[(co * Cin + ci) * kk + t]
            } } }
            var gt = g
            gt.inChannels = M; gt.outChannels = Cin; gt.padding = k - 1 - g.padding
            try forward(gt, input: outputGrad, weight: UnsafeBufferPointer(start: wt, count: M * K), output: inputGrad, workspace: workspace)
        }
        if let biasGrad {
            let db = biasGrad.baseAddress!
            for m in 0..<M {
                var s: Float = 0
                for n in 0..<g.batch {
                    let row = outputGrad.baseAddress! + n * outSize + m * P
                    for i in 0..<P { s += row[i] }
                }
                db[m] = s
            }
        }
    }

    // MARK: naive twins (direct loops, any precision)

    public static func forwardNaive<T: BinaryFloatingPoint>(_ g: Conv2DGeometry, input: [T], weight: [T], bias: [T]? = nil) -> [T] {
        var y = [T](repeating: 0, count: g.outputCount)
        for n in 0..<g.batch {
            for co in 0..<g.outChannels {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var s: T = bias?[co] ?? 0
                        for ci in 0..<g.inChannels {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let iy = oy * g.stride - g.padding + ky, ix = ox * g.stride - g.padding + kx
                                    if iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth { continue }
                                    s += input[((n * g.inChannels + ci) * g.inHeight + iy) * g.inWidth + ix]
                                        * weight[((co * g.inChannels + ci) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                }
                            }
                        }
                        y[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox] = s
                    }
                }
            }
        }
        return y
    }

    public static func backwardNaive<T: BinaryFloatingPoint>(
        _ g: Conv2DGeometry, input: [T], weight: [T], outputGrad: [T]
    ) -> (input: [T], weight: [T], bias: [T]) {
        var dx = [T](repeating: 0, count: g.inputCount)
        var dw = [T](repeating: 0, count: g.weightCount)
        var db = [T](repeating: 0, count: g.outChannels)
        for n in 0..<g.batch {
            for co in 0..<g.outChannels {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        let d = outputGrad[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox]
                        db[co] += d
                        for ci in 0..<g.inChannels {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let iy = oy * g.stride - g.padding + ky, ix = ox * g.stride - g.padding + kx
                                    if iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth { continue }
                                    let xi = ((n * g.inChannels + ci) * g.inHeight + iy) * g.inWidth + ix
                                    let wi = ((co * g.inChannels + ci) * g.kernelHeight + ky) * g.kernelWidth + kx
                                    dx[xi] += d * weight[wi]
                                    dw[wi] += d * input[xi]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dw, db)
    }
}
