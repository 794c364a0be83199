// The threshold predictor run the way the engine runs a backbone: BN folded into its convs, ReLU
// fused, the direct 3x3 kernel, buffers allocated once, one image at a time on the calling thread.
//
// Through the training graph (im2col + SGEMM layers, BN as its own pass) the predictor's ~0.13M
// MACs took ~55 us per CIFAR image at batch 1 (`bench infer --profile`): 6-7% of a 2.3x dynamic
// ResNet-20's latency for under 1% of its MACs. Here it takes a few microseconds. Its outputs equal
// the training graph's eval-mode outputs up to float rounding (BN folded); tested with the kept
// channel counts they imply.
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

final class PredictorExecutor: @unchecked Sendable {
    enum Step {
        case avgPool(kernel: Int, stride: Int)
        case conv(ConvOp)
        case globalAvgPool
        case linear(LinearOp)
    }
    let steps: [Step]
    let input: FeatureShape
    let outputs: Int
    private let ping = ScratchBuffer(), pong = ScratchBuffer(), padded = ScratchBuffer()

    /// nil when the predictor has a layer this executor does not run (the caller then uses the
    /// training graph).
    init?(_ predictor: ThresholdPredictor) {
        var steps: [Step] = [], pending: Conv2dLayer?
        for (_, layer) in predictor.body.children {
            switch layer {
            case let pool as AvgPoolLayer:
                guard pending == nil else { return nil }
                steps.append(.avgPool(kernel: pool.kernel, stride: pool.stride))
            case let conv as Conv2dLayer:
                guard pending == nil, conv.kernel == 3, conv.padding == 1, conv.stride == 1 || conv.stride == 2 else { return nil }
                pending = conv
            case let bn as BatchNormLayer:
                guard let conv = pending else { return nil }
                steps.append(.conv(ConvOp(conv: conv, bn: bn)))
                pending = nil
            case is GlobalAvgPoolLayer: steps.append(.globalAvgPool)
            case let fc as LinearLayer: steps.append(.linear(LinearOp(fc)))
            default: return nil
            }
        }
        guard pending == nil, case .linear(let last)? = steps.last, last.outF == predictor.outputs else { return nil }
        self.steps = steps
        input = predictor.inputShape
        outputs = predictor.outputs
    }

    /// out[0..<outputs] = the predictor's raw outputs o for one image [C, H, W].
    func run(image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) throws {
        var cur = image, c = input.c, h = input.h, w = input.w
        var usePing = true
        func next(_ count: Int) -> UnsafeMutablePointer<Float> {
            defer { usePing.toggle() }
            return (usePing ? ping : pong).reserve(count)
        }
        for step in steps {
            switch step {
            case let .avgPool(k, s):
                let g = PoolGeometry(batch: 1, channels: c, inHeight: h, inWidth: w, kernel: k, stride: s)
                let y = next(g.outputCount)
                try AvgPool2D.forward(g, input: UnsafeBufferPointer(start: cur, count: g.inputCount),
                                      output: UnsafeMutableBufferPointer(start: y, count: g.outputCount))
                cur = UnsafePointer(y); h = g.outHeight; w = g.outWidth
            case .conv(let o):
                let (ho, wo) = o.outSize(h, w), y = next(o.outC * ho * wo)
                let p = padded.reserve(DirectConv3x3.paddedCount(channels: c, height: h, width: w, stride: o.stride))
                DirectConv3x3.pad(channels: 0..<c, height: h, width: w, cur, channelStride: h * w, into: p, stride: o.stride)
                o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
                    DirectConv3x3.compute(inChannels: c, height: h, width: w, padded: p, weight: wp.baseAddress!, weightStride: o.rowLength,
                                          bias: bp.baseAddress!, residual: nil, residualStride: 0, relu: o.relu, output: y, outputStride: ho * wo,
                                          rows: 0..<o.outC, stride: o.stride)
                } }
                cur = UnsafePointer(y); c = o.outC; h = ho; w = wo
            case .globalAvgPool:
                let y = next(c)
                InferenceEngine.globalAvgPool(Activation(ptr: UnsafeMutablePointer(mutating: cur), h: h, w: w, padded: false), channels: c, into: y)
                cur = UnsafePointer(y); h = 1; w = 1
            case .linear(let fc):
                for o in 0..<fc.outF {
                    var acc = fc.bias[o]
                    for j in 0..<fc.inF { acc += fc.weight[o * fc.inF + j] * cur[j] }
                    out[o] = acc
                }
            }
        }
    }
}
