// Batch normalization over NCHW (Ioffe & Szegedy 2015), PyTorch semantics:
// training normalizes with the batch mean and *biased* variance and updates the running
// estimates with momentum 0.1 and the *unbiased* variance; eval uses the running estimates.
//   y = gamma * (x - mean) / sqrt(var + eps) + beta
// Backward (training mode), per channel with m = N*H*W elements and xhat the normalized input:
//   dgamma = sum(dy * xhat), dbeta = sum(dy), dx = gamma * invstd / m * (m*dy - dbeta - xhat*dgamma)
// Eval-mode backward treats mean/var as constants: dx = dy * gamma * invstd.

public struct BatchNormGeometry: Equatable, Sendable {
    public var batch, channels, plane: Int
    public init(batch: Int, channels: Int, height: Int, width: Int) {
        self.batch = batch; self.channels = channels; self.plane = height * width
    }
    public init(batch: Int, channels: Int, plane: Int) { self.batch = batch; self.channels = channels; self.plane = plane }
    public var count: Int { batch * channels * plane }
    public var shape: [Int] { [batch, channels, plane] }
}

public enum BatchNorm2D {
    public static let defaultEpsilon: Float = 1e-5
    public static let defaultMomentum: Float = 0.1

    static func validate(_ op: String, _ g: BatchNormGeometry, _ buffers: [(String, Int, Int)]) throws(ShapeError) {
        try ShapeError.require(g.batch > 0 && g.channels > 0 && g.plane > 0, op, "invalid geometry \(g.shape)")
        for (name, count, expected) in buffers {
            let shape = expected == g.channels ? [g.channels] : g.shape
            try ShapeError.check(op, name, count: count, expected: expected, shape: shape)
        }
    }

    /// Training-mode forward. Writes `output`, the per-channel batch `savedMean` and `savedInvStd`
    /// (for backward), and updates `runningMean` / `runningVar` in place.
    public static func forwardTraining(
        _ g: BatchNormGeometry, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
        output: UnsafeMutableBufferPointer<Float>, savedMean: UnsafeMutableBufferPointer<Float>, savedInvStd: UnsafeMutableBufferPointer<Float>,
        runningMean: UnsafeMutableBufferPointer<Float>, runningVar: UnsafeMutableBufferPointer<Float>,
        momentum: Float = defaultMomentum, epsilon: Float = defaultEpsilon, fuseReLU: Bool = false
    ) throws(ShapeError) {
        let C = g.channels
        try validate("batchnorm forward", g, [("input", input.count, g.count), ("gamma", gamma.count, C), ("beta", beta.count, C),
            ("output", output.count, g.count), ("saved mean", savedMean.count, C), ("saved invstd", savedInvStd.count, C),
            ("running mean", runningMean.count, C), ("running var", runningVar.count, C)])
        let x = SendableConstPointer(input.baseAddress!), y = SendablePointer(output.baseAddress!)
        let ga = SendableConstPointer(gamma.baseAddress!), be = SendableConstPointer(beta.baseAddress!)
        let sm = SendablePointer(savedMean.baseAddress!), si = SendablePointer(savedInvStd.baseAddress!)
        let rm = SendablePointer(runningMean.baseAddress!), rv = SendablePointer(runningVar.baseAddress!)
        let N = g.batch, P = g.plane, m = N * P
        Parallel.forChunks(C, threads: threadsFor(g.count)) { _, channels in
            for c in channels {
                // Mean and variance in one pass: per-row Float sums around a shift (the row's first
                // value, against cancellation), accumulated across rows in Double.
                let pivot = x[c * P]
                var sum = 0.0, sumSq = 0.0
                for n in 0..<N {
                    let (s, q) = VectorReductions.shiftedSums(x.advanced(by: (n * C + c) * P), P, pivot: pivot)
                    sum += Double(s); sumSq += Double(q)
                }
                let shiftedMean = sum / Double(m)
                let variance = max(0, sumSq / Double(m) - shiftedMean * shiftedMean)
                let meanF = Float(shiftedMean + Double(pivot))
                let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
                sm[c] = meanF; si[c] = invStd
                let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                rm[c] = (1 - momentum) * rm[c] + momentum * meanF
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(unbiased)
                let scale = ga[c] * invStd, shift = be[c] - meanF * scale
                for n in 0..<N {
                    VectorReductions.affine(x.advanced(by: (n * C + c) * P), y.advanced(by: (n * C + c) * P), P,
                                            scale: scale, shift: shift, relu: fuseReLU)
                }
            }
        }
    }

    /// Eval-mode forward with the running statistics.
    public static func forwardInference(
        _ g: BatchNormGeometry, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
        runningMean: UnsafeBufferPointer<Float>, runningVar: UnsafeBufferPointer<Float>,
        output: UnsafeMutableBufferPointer<Float>, epsilon: Float = defaultEpsilon, fuseReLU: Bool = false
    ) throws(ShapeError) {
        let C = g.channels
        try validate("batchnorm inference", g, [("input", input.count, g.count), ("gamma", gamma.count, C), ("beta", beta.count, C),
            ("running mean", runningMean.count, C), ("running var", runningVar.count, C), ("output", output.count, g.count)])
        let x = SendableConstPointer(input.baseAddress!), y = SendablePointer(output.baseAddress!)
        let ga = SendableConstPointer(gamma.baseAddress!), be = SendableConstPointer(beta.baseAddress!)
        let rm = SendableConstPointer(runningMean.baseAddress!), rv = SendableConstPointer(runningVar.baseAddress!)
        let N = g.batch, P = g.plane
        Parallel.forChunks(C, threads: threadsFor(g.count)) { _, channels in
            for c in channels {
                let invStd = 1 / (rv[c] + epsilon).squareRoot()
                let scale = ga[c] * invStd, shift = be[c] - rm[c] * scale
                for n in 0..<N {
                    VectorReductions.affine(x.advanced(by: (n * C + c) * P), y.advanced(by: (n * C + c) * P), P,
                                            scale: scale, shift: shift, relu: fuseReLU)
                }
            }
        }
    }

    /// Training-mode backward from the statistics saved by `forwardTraining`.
    /// inputGrad, gammaGrad and betaGrad are overwritten.
    public static func backwardTraining(
        _ g: BatchNormGeometry, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>,
        savedMean: UnsafeBufferPointer<Float>, savedInvStd: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
        inputGrad: UnsafeMutableBufferPointer<Float>, gammaGrad: UnsafeMutableBufferPointer<Float>, betaGrad: UnsafeMutableBufferPointer<Float>,
        reluOutput: UnsafeBufferPointer<Float>? = nil
    ) throws(ShapeError) {
        let C = g.channels
        if let reluOutput { try ShapeError.check("batchnorm backward", "relu output", count: reluOutput.count, expected: g.count, shape: g.shape) }
        let ro = reluOutput.map { SendableConstPointer($0.baseAddress!) }
        try validate("batchnorm backward", g, [("input", input.count, g.count), ("gamma", gamma.count, C),
            ("saved mean", savedMean.count, C), ("saved invstd", savedInvStd.count, C), ("output gradient", outputGrad.count, g.count),
            ("input gradient", inputGrad.count, g.count), ("gamma gradient", gammaGrad.count, C), ("beta gradient", betaGrad.count, C)])
        let x = SendableConstPointer(input.baseAddress!), dy = SendableConstPointer(outputGrad.baseAddress!)
        let dx = SendablePointer(inputGrad.baseAddress!), ga = SendableConstPointer(gamma.baseAddress!)
        let sm = SendableConstPointer(savedMean.baseAddress!), si = SendableConstPointer(savedInvStd.baseAddress!)
        let dg = SendablePointer(gammaGrad.baseAddress!), db = SendablePointer(betaGrad.baseAddress!)
        let N = g.batch, P = g.plane, m = Float(N * P)
        Parallel.forChunks(C, threads: threadsFor(g.count)) { _, channels in
            for c in channels {
                let mean = sm[c], invStd = si[c]
                var sumDy: Float = 0, sumDyXhat: Float = 0
                for n in 0..<N {
                    // Fused ReLU: the gradient reaching the BN output is dy * [y > 0].
                    let (a, b) = VectorReductions.gradientSums(dy.advanced(by: (n * C + c) * P), x.advanced(by: (n * C + c) * P), P,
                                                               mean: mean, mask: ro?.advanced(by: (n * C + c) * P))
                    sumDy += a; sumDyXhat += b
                }
                sumDyXhat *= invStd
                dg[c] = sumDyXhat; db[c] = sumDy
                let k = ga[c] * invStd / m
                let meanDy = sumDy, meanTerm = sumDyXhat * invStd
                for n in 0..<N {
                    let xr = x.advanced(by: (n * C + c) * P), dr = dy.advanced(by: (n * C + c) * P)
                    let out = dx.advanced(by: (n * C + c) * P)
                    VectorReductions.batchNormInputGrad(dr, xr, out, P, mask: ro?.advanced(by: (n * C + c) * P),
                                                        a: k * m, b: -k * meanDy + k * mean * meanTerm, c: -k * meanTerm)
                }
            }
        }
    }

    /// Eval-mode backward (running statistics are constants). Gradients overwritten.
    public static func backwardInference(
        _ g: BatchNormGeometry, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>,
        runningMean: UnsafeBufferPointer<Float>, runningVar: UnsafeBufferPointer<Float>, outputGrad: UnsafeBufferPointer<Float>,
        inputGrad: UnsafeMutableBufferPointer<Float>, gammaGrad: UnsafeMutableBufferPointer<Float>, betaGrad: UnsafeMutableBufferPointer<Float>,
        epsilon: Float = defaultEpsilon, reluOutput: UnsafeBufferPointer<Float>? = nil
    ) throws(ShapeError) {
        let C = g.channels
        try validate("batchnorm backward (eval)", g, [("input", input.count, g.count), ("gamma", gamma.count, C),
            ("running mean", runningMean.count, C), ("running var", runningVar.count, C), ("output gradient", outputGrad.count, g.count),
            ("input gradient", inputGrad.count, g.count), ("gamma gradient", gammaGrad.count, C), ("beta gradient", betaGrad.count, C)])
        let N = g.batch, P = g.plane
        for c in 0..<C {
            let invStd = 1 / (runningVar[c] + epsilon).squareRoot(), mean = runningMean[c]
            var sdy: Float = 0, sdyx: Float = 0
            for n in 0..<N {
                let base = (n * C + c) * P
                for i in 0..<P {
                    let d = reluOutput.map { $0[base + i] > 0 ? outputGrad[base + i] : 0 } ?? outputGrad[base + i]
                    sdy += d; sdyx += d * (input[base + i] - mean) * invStd
                    inputGrad[base + i] = d * gamma[c] * invStd
                }
            }
            gammaGrad[c] = sdyx; betaGrad[c] = sdy
        }
    }

    /// Elementwise work only pays for a second thread beyond a few MB (docs/design.md: Parallelism).
    @inline(__always) static func threadsFor(_ count: Int) -> Int { count >= 1 << 18 ? Parallel.defaultThreadCount : 1 }

    // MARK: naive twins

    /// Returns (output, batch mean, biased batch var, new running mean, new running var).
    public static func forwardTrainingNaive<T: BinaryFloatingPoint>(
        _ g: BatchNormGeometry, input: [T], gamma: [T], beta: [T], runningMean: [T], runningVar: [T],
        momentum: T = 0.1, epsilon: T = 1e-5
    ) -> (output: [T], mean: [T], variance: [T], runningMean: [T], runningVar: [T]) where T: ExpressibleByFloatLiteral {
        let C = g.channels, N = g.batch, P = g.plane, m = T(N * P)
        var y = [T](repeating: 0, count: g.count)
        var means = [T](repeating: 0, count: C), vars = means, rm = runningMean, rv = runningVar
        for c in 0..<C {
            var s: T = 0
            for n in 0..<N { for i in 0..<P { s += input[(n * C + c) * P + i] } }
            let mean = s / m
            var v: T = 0
            for n in 0..<N { for i in 0..<P { let d = input[(n * C + c) * P + i] - mean; v += d * d } }
            v /= m
            means[c] = mean; vars[c] = v
            rm[c] = (1 - momentum) * rm[c] + momentum * mean
            rv[c] = (1 - momentum) * rv[c] + momentum * v * m / (m - 1)
            let invStd = 1 / (v + epsilon).squareRoot()
            for n in 0..<N { for i in 0..<P {
                let k = (n * C + c) * P + i
                y[k] = gamma[c] * (input[k] - mean) * invStd + beta[c]
            } }
        }
        return (y, means, vars, rm, rv)
    }

    /// Training-mode backward by the chain rule written term by term (no simplification).
    public static func backwardTrainingNaive<T: BinaryFloatingPoint>(
        _ g: BatchNormGeometry, input: [T], gamma: [T], outputGrad: [T], epsilon: T = 1e-5
    ) -> (input: [T], gamma: [T], beta: [T]) where T: ExpressibleByFloatLiteral {
        let C = g.channels, N = g.batch, P = g.plane, m = T(N * P)
        var dx = [T](repeating: 0, count: g.count), dg = [T](repeating: 0, count: C), db = dg
        for c in 0..<C {
            var idx: [Int] = []
            for n in 0..<N { for i in 0..<P { idx.append((n * C + c) * P + i) } }
            let mean = idx.reduce(T(0)) { $0 + input[$1] } / m
            let v = idx.reduce(T(0)) { $0 + (input[$1] - mean) * (input[$1] - mean) } / m
            let invStd = 1 / (v + epsilon).squareRoot()
            // dL/dxhat, dL/dvar, dL/dmean, then dL/dx.
            var dvar: T = 0, dmean: T = 0
            for k in idx {
                let dxhat = outputGrad[k] * gamma[c]
                dvar += dxhat * (input[k] - mean) * (-0.5) * invStd * invStd * invStd
                dmean += -dxhat * invStd
                dg[c] += outputGrad[k] * (input[k] - mean) * invStd
                db[c] += outputGrad[k]
            }
            var sumDiff: T = 0
            for k in idx { sumDiff += -2 * (input[k] - mean) }
            dmean += dvar * sumDiff / m
            for k in idx {
                dx[k] = outputGrad[k] * gamma[c] * invStd + dvar * 2 * (input[k] - mean) / m + dmean / m
            }
        }
        return (dx, dg, db)
    }
}
