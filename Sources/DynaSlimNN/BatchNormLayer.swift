// nn.BatchNorm2d: weight (gamma), bias (beta), running_mean, running_var, num_batches_tracked.
// Optionally multiplies its output by a per-sample channel mask [N, C] (masked channels output
// zero): the hook static and dynamic slimming use to switch channels off.
import DynaSlimCore

public final class BatchNormLayer: Layer {
    public private(set) var channels: Int
    public let weight: Parameter, bias: Parameter
    public let runningMean: StateBuffer, runningVar: StateBuffer, numBatchesTracked: StateBuffer
    public var momentum: Float = BatchNorm2D.defaultMomentum
    public var epsilon: Float = BatchNorm2D.defaultEpsilon
    /// Applies ReLU in the same pass (conv-BN-ReLU stacks): relu(bn(x)), and its backward.
    public let fusedReLU: Bool
    /// Per-sample channel multipliers [N * C] applied after normalization (nil = all ones).
    /// Backward treats the mask as a constant; `maskGrad` (if set) receives dL/dmask.
    public var channelMask: [Float]?
    public var maskGrad: [Float]?
    /// Called at the start of each forward with the batch size to produce `channelMask`
    /// (FBS computes its saliency masks from the producing conv's input this way).
    public var maskProvider: ((Int) throws -> [Float])?
    private let out = ActivationBuffer(), dxBuf = ActivationBuffer(), normalized = ActivationBuffer(), maskedDy = ActivationBuffer()
    private var input: Activation?, lastMode: Mode = .train
    private var savedMean: [Float], savedInvStd: [Float]

    public init(_ channels: Int, gammaInit: Float = 1, fusedReLU: Bool = false) {
        self.channels = channels
        self.fusedReLU = fusedReLU
        weight = Parameter(shape: [channels], value: [Float](repeating: gammaInit, count: channels))
        bias = Parameter(shape: [channels])
        runningMean = StateBuffer(shape: [channels])
        runningVar = StateBuffer(shape: [channels], fill: 1)
        numBatchesTracked = StateBuffer(shape: [])
        savedMean = [Float](repeating: 0, count: channels); savedInvStd = savedMean
    }

    public var namedParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(String, StateBuffer)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    /// Changes the channel count in place (parameters zeroed, running statistics reset; see
    /// Parameter.reshape), for the thin sandwich passes of slimmable training.
    public func resize(channels newChannels: Int) {
        guard newChannels != channels else { return }
        channels = newChannels
        weight.reshape([newChannels]); bias.reshape([newChannels])
        runningMean.reshape([newChannels], fill: 0); runningVar.reshape([newChannels], fill: 1)
        savedMean.removeAll(keepingCapacity: true); savedMean.append(contentsOf: repeatElement(0, count: newChannels))
        savedInvStd.removeAll(keepingCapacity: true); savedInvStd.append(contentsOf: repeatElement(0, count: newChannels))
    }

    public func outputShape(_ s: FeatureShape) throws -> FeatureShape {
        try ShapeError.require(s.c == channels, "BatchNorm2d(\(channels))", "input has \(s.c) channels (\(s)), expected \(channels)")
        return s
    }
    public func macs(_ s: FeatureShape) -> Int { 0 }  // folded into the conv at inference

    public func forward(_ x: Activation, mode: Mode) throws -> Activation {
        let s = try outputShape(FeatureShape(c: x.c, h: x.h, w: x.w))
        let g = BatchNormGeometry(batch: x.n, channels: channels, plane: x.plane)
        if let maskProvider { channelMask = try maskProvider(x.n) }
        // With a mask, keep the unmasked normalized output for the backward pass.
        let y = channelMask == nil ? out.view(n: x.n, s) : normalized.view(n: x.n, s)
        input = x; lastMode = mode
        try weight.value.withUnsafeBufferPointer { ga in try bias.value.withUnsafeBufferPointer { be in
            switch mode {
            case .train:
                try savedMean.withUnsafeMutableBufferPointer { sm in try savedInvStd.withUnsafeMutableBufferPointer { si in
                    try runningMean.value.withUnsafeMutableBufferPointer { rm in try runningVar.value.withUnsafeMutableBufferPointer { rv in
                        try BatchNorm2D.forwardTraining(g, input: x.buffer, gamma: ga, beta: be, output: y.mutableBuffer, savedMean: sm,
                                                        savedInvStd: si, runningMean: rm, runningVar: rv, momentum: momentum, epsilon: epsilon,
                                                        fuseReLU: fusedReLU)
                    } }
                } }
                numBatchesTracked.value[0] += 1
            case .eval:
                try runningMean.value.withUnsafeBufferPointer { rm in try runningVar.value.withUnsafeBufferPointer { rv in
                    try BatchNorm2D.forwardInference(g, input: x.buffer, gamma: ga, beta: be, runningMean: rm, runningVar: rv,
                                                     output: y.mutableBuffer, epsilon: epsilon, fuseReLU: fusedReLU)
                } }
            }
        } }
        guard let mask = channelMask else { return y }
        try ShapeError.require(mask.count == x.n * channels, "BatchNorm2d mask", "mask has \(mask.count) values, expected \(x.n)x\(channels)")
        let masked = out.view(n: x.n, s)
        let P = x.plane
        for n in 0..<x.n { for c in 0..<channels {
            let m = mask[n * channels + c], src = y.pointer + (n * channels + c) * P, dst = masked.pointer + (n * channels + c) * P
            if m == 0 { dst.update(repeating: 0, count: P) } else { for i in 0..<P { dst[i] = src[i] * m } }
        } }
        return masked
    }

    public func backward(_ dy: Activation, needInputGrad: Bool) throws -> Activation? {
        guard let x = input else { throw ShapeError("BatchNorm2d backward", "called before forward") }
        let s = FeatureShape(c: x.c, h: x.h, w: x.w)
        let g = BatchNormGeometry(batch: x.n, channels: channels, plane: x.plane)
        let dx = dxBuf.view(n: x.n, s)
        var grad = dy
        // The BN(+ReLU) output before masking, for the fused ReLU's gradient.
        let preMask = channelMask == nil ? out.view(n: x.n, s) : normalized.view(n: x.n, s)
        let reluOutput = fusedReLU ? preMask.buffer : nil
        if let mask = channelMask {
            // y = mask * bn(x): dL/dmask = sum_plane dy * bn(x); dL/dbn(x) = dy * mask.
            let bnOut = normalized.view(n: x.n, s), P = x.plane, gm = maskedDy.view(n: x.n, s)
            if maskGrad?.count != mask.count { maskGrad = [Float](repeating: 0, count: mask.count) }
            for n in 0..<x.n { for c in 0..<channels {
                let k = n * channels + c, m = mask[k]
                let d = dy.pointer + k * P, b = bnOut.pointer + k * P, o = gm.pointer + k * P
                var acc: Float = 0
                for i in 0..<P { acc += d[i] * b[i]; o[i] = d[i] * m }
                maskGrad![k] = acc
            } }
            grad = gm
        }
        try weight.value.withUnsafeBufferPointer { ga in try weight.grad.withUnsafeMutableBufferPointer { dg in
            try bias.grad.withUnsafeMutableBufferPointer { db in
                switch lastMode {
                case .train:
                    try savedMean.withUnsafeBufferPointer { sm in try savedInvStd.withUnsafeBufferPointer { si in
                        try BatchNorm2D.backwardTraining(g, input: x.buffer, gamma: ga, savedMean: sm, savedInvStd: si,
                                                         outputGrad: grad.buffer, inputGrad: dx.mutableBuffer, gammaGrad: dg, betaGrad: db,
                                                         reluOutput: reluOutput)
                    } }
                case .eval:
                    try runningMean.value.withUnsafeBufferPointer { rm in try runningVar.value.withUnsafeBufferPointer { rv in
                        try BatchNorm2D.backwardInference(g, input: x.buffer, gamma: ga, runningMean: rm, runningVar: rv,
                                                          outputGrad: grad.buffer, inputGrad: dx.mutableBuffer, gammaGrad: dg, betaGrad: db,
                                                          epsilon: epsilon, reluOutput: reluOutput)
                    } }
                }
            }
        } }
        return dx
    }
}
